from django.conf import settings
from django.db import models

from jobs.models import TARGET_STATUS_CHOICES, JobStatus


class Dataset(models.Model):
    """A windowed dataset (X/y npy per split + metadata.json) built from feature files."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="datasets")
    sources = models.ManyToManyField("videos.FeatureFile", through="DatasetSource", related_name="datasets")
    status = models.CharField(max_length=20, choices=TARGET_STATUS_CHOICES, default=JobStatus.PENDING, db_index=True)
    job = models.ForeignKey("jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    path = models.CharField(max_length=500, blank=True, default="", help_text="relative to the data directory")
    window_sec = models.FloatField()
    step_sec = models.FloatField()
    balance_method = models.CharField(max_length=20, default="none")
    train_ratio = models.FloatField()
    val_ratio = models.FloatField()
    test_ratio = models.FloatField()
    params = models.JSONField(default=dict, blank=True, help_text="the full build specification")
    labels = models.JSONField(default=list, blank=True)
    class_counts = models.JSONField(default=dict, blank=True, help_text="{split: {label: windows}}")
    train_size = models.PositiveIntegerField(default=0)
    val_size = models.PositiveIntegerField(default=0)
    test_size = models.PositiveIntegerField(default=0)
    num_features = models.PositiveIntegerField(default=0)
    split_strategy = models.CharField(max_length=40, blank=True, default="")
    split_info = models.JSONField(
        default=dict,
        blank=True,
        help_text="how the windows were split (method, seed, time blocks), the classes each split lacks, "
        "and the feature groups used",
    )
    size_bytes = models.BigIntegerField(default=0)
    leakage = models.JSONField(
        default=dict, blank=True, help_text="the leakage audit (metadata.json's, without per-window distances)"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return f"dataset_{self.pk}"


class DatasetSource(models.Model):
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE)
    feature_file = models.ForeignKey("videos.FeatureFile", on_delete=models.PROTECT)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["dataset", "feature_file"], name="dataset_source_once")]
