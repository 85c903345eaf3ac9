from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models


class JobStatus(models.TextChoices):
    """Where a job is. What a job produces (a feature file, dataset, model, round, run) has a
    ``status`` too, which follows its job's (``TARGET_STATUS_CHOICES``)."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


# The ``status`` column of the rows jobs produce: the job statuses, each labelled with its value
# (as those columns were declared; other labels would only churn migrations and the API schema).
TARGET_STATUS_CHOICES = [(status.value, status.value) for status in JobStatus]
ACTIVE_STATUSES = (JobStatus.PENDING, JobStatus.RUNNING)


class Job(models.Model):
    """One long piece of work (extraction, dataset build, training) and everything known about it.

    The API, admin and dashboards read this row, never Celery's result backend. ``inputs``
    holds what is needed to run the job again; ``outputs`` what it produced.
    """

    class Kind(models.TextChoices):
        EXTRACTION = "extraction"
        DATASET = "dataset"
        TRAINING = "training"
        SUGGESTIONS = "suggestions"  # active learning: predict videos, rank uncertain spans
        ABLATION = "ablation"
        LABELLING_ROUND = "labelling_round"  # retrain after a round of accepted suggestions
        RETRAINING = "retraining"  # rebuild, train a challenger, compare with the champion

    Status = JobStatus
    TERMINAL = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="jobs")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True)
    stage = models.CharField(max_length=64, blank=True, default="queued")
    progress = models.FloatField(default=0.0, help_text="0..1")
    error = models.TextField(blank=True, default="")
    error_kind = models.CharField(
        max_length=20,
        blank=True,
        default="",
        help_text="input (the caller can fix it), too_large (past a size or memory limit), timeout, cancelled, "
        "disk_full or internal",
    )
    inputs = models.JSONField(default=dict)
    outputs = models.JSONField(default=dict, blank=True)
    celery_task_id = models.CharField(max_length=64, blank=True, default="")
    worker = models.CharField(max_length=255, blank=True, default="")
    attempts = models.PositiveIntegerField(default=0, help_text="times a worker started it")
    cancel_requested = models.BooleanField(default=False)
    # The object the job produces (a FeatureFile, Dataset or TrainedModel); its ``status``
    # follows the job's.
    target_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.SET_NULL)
    target_id = models.PositiveBigIntegerField(null=True, blank=True)
    target = GenericForeignKey("target_type", "target_id")
    retry_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "heartbeat_at"])]

    def __str__(self) -> str:
        return f"job {self.pk} {self.kind} {self.status}"

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL

    @property
    def seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None

    @property
    def queue_seconds(self) -> float | None:
        if self.started_at:
            return (self.started_at - self.created_at).total_seconds()
        return None
