from django.conf import settings
from django.db import models

from jobs.models import TARGET_STATUS_CHOICES, JobStatus


class TrainedModel(models.Model):
    """A model trained on a dataset: the artifact, its checksum, metrics and version."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="trained_models")
    dataset = models.ForeignKey("datasets.Dataset", on_delete=models.PROTECT, related_name="trained_models")
    status = models.CharField(max_length=20, choices=TARGET_STATUS_CHOICES, default=JobStatus.PENDING, db_index=True)
    job = models.ForeignKey("jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    version = models.PositiveIntegerField(help_text="increasing per owner")
    model_type = models.CharField(max_length=20)
    aggregation = models.CharField(max_length=20)
    params = models.JSONField(default=dict, blank=True)
    filename = models.CharField(max_length=255, blank=True, default="")
    path = models.CharField(max_length=500, blank=True, default="", help_text="relative to the data directory")
    sha256 = models.CharField(max_length=64, blank=True, default="")
    size_bytes = models.BigIntegerField(default=0)
    metrics = models.JSONField(default=dict, blank=True)
    accuracy = models.FloatField(null=True, blank=True)
    f1_macro = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["owner", "version"], name="model_version_per_owner")]

    def __str__(self) -> str:
        return self.filename or f"model {self.pk}"

    @property
    def version_label(self) -> str:
        return f"v{self.version}-{self.sha256[:8]}" if self.sha256 else f"v{self.version}"
