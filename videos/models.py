from django.conf import settings
from django.db import models

STATUS_CHOICES = [(s, s) for s in ("pending", "running", "succeeded", "failed", "cancelled")]


class Video(models.Model):
    """An uploaded video: the stored file and what probing it found."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="videos")
    video_id = models.CharField(max_length=200, help_text="the caller's identifier, stored in feature files")
    stored_name = models.CharField(max_length=255, help_text="the stored file's name, by which calls refer to it")
    original_name = models.CharField(max_length=255, blank=True, default="")
    file = models.CharField(max_length=500, help_text="path relative to the data directory")
    sha256 = models.CharField(max_length=64)
    size_bytes = models.BigIntegerField()
    fps = models.FloatField()
    frame_count = models.PositiveIntegerField()
    duration = models.FloatField(help_text="seconds")
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["owner", "stored_name"], name="video_stored_name_per_owner")]

    def __str__(self) -> str:
        return self.stored_name


class LabelSpan(models.Model):
    """Frames ``start_frame..end_frame`` (inclusive) of a video carry ``label``."""

    class Source(models.TextChoices):
        CSV = "csv"
        BROWSER = "browser"
        SUGGESTION = "suggestion", "accepted suggestion"

    video = models.ForeignKey(Video, on_delete=models.CASCADE, related_name="label_spans")
    start_frame = models.PositiveIntegerField()
    end_frame = models.PositiveIntegerField()
    label = models.CharField(max_length=200)
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.BROWSER)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["video_id", "start_frame", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end_frame__gte=models.F("start_frame")), name="span_end_after_start"
            )
        ]

    def __str__(self) -> str:
        return f"{self.video} {self.start_frame}-{self.end_frame} {self.label}"

    @property
    def owner(self):
        return self.video.owner


class FeatureFile(models.Model):
    """Per-frame features extracted from one video (a Parquet file)."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="feature_files")
    video = models.ForeignKey(Video, on_delete=models.PROTECT, related_name="feature_files")
    filename = models.CharField(max_length=255)
    path = models.CharField(max_length=500, help_text="relative to the data directory")
    detector = models.CharField(max_length=20)
    sample_rate = models.PositiveIntegerField(default=1)
    yolo_model = models.CharField(max_length=255, blank=True, default="")
    status = models.CharField(max_length=20, choices=STATUS_CHOICES, default="pending", db_index=True)
    job = models.ForeignKey("jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    num_frames = models.PositiveIntegerField(default=0)
    num_labeled = models.PositiveIntegerField(default=0)
    columns = models.JSONField(default=list, blank=True)
    label_distribution = models.JSONField(default=dict, blank=True)
    labels_digest = models.CharField(
        max_length=64, blank=True, default="", help_text="digest of the video's label spans the label column holds"
    )
    detected = models.JSONField(default=dict, blank=True)
    sha256 = models.CharField(max_length=64, blank=True, default="")
    size_bytes = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["owner", "filename"], name="feature_filename_per_owner")]

    def __str__(self) -> str:
        return self.filename
