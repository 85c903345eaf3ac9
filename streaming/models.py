from django.conf import settings
from django.db import models


class LiveSession(models.Model):
    """A trained model watching one source; predictions fan out to every viewer of the session."""

    class Source(models.TextChoices):
        VIDEO = "video", "uploaded video"
        URL = "url", "network stream (RTSP/HTTP)"
        PUSH = "push", "frames pushed over the websocket"
        CAMERA = "camera", "the server's camera"

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        FINISHED = "finished"
        STOPPED = "stopped"
        FAILED = "failed"

    ACTIVE = (Status.PENDING, Status.RUNNING)

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="live_sessions")
    trained_model = models.ForeignKey("models_app.TrainedModel", on_delete=models.PROTECT, related_name="+")
    policy = models.ForeignKey(
        "retraining.RetrainPolicy",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="live_sessions",
        help_text="follow this policy's champion: the session switches model when another is promoted",
    )
    source_kind = models.CharField(max_length=10, choices=Source.choices)
    video = models.ForeignKey("videos.Video", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    url = models.CharField(max_length=1000, blank=True, default="")
    camera_index = models.PositiveSmallIntegerField(default=0)
    realtime = models.BooleanField(default=True, help_text="play an uploaded video at its own speed")
    smoothing = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    error = models.TextField(blank=True, default="")
    stop_requested = models.BooleanField(default=False)
    push_channel = models.CharField(max_length=200, blank=True, default="", help_text="where pushed frames go")
    celery_task_id = models.CharField(max_length=64, blank=True, default="")
    worker = models.CharField(max_length=255, blank=True, default="")
    frames_processed = models.PositiveIntegerField(default=0)
    windows_predicted = models.PositiveIntegerField(default=0)
    frames_dropped = models.PositiveIntegerField(default=0, help_text="pushed frames skipped to keep up")
    last_prediction = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"live session {self.pk} ({self.source_kind}, {self.status})"

    @property
    def group(self) -> str:
        return f"live_{self.pk}"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE
