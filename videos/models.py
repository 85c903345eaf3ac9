from django.conf import settings
from django.db import models

from jobs.models import TARGET_STATUS_CHOICES, JobStatus


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
    # The frame clock (taskml/pipeline/clock.py): the container's timestamp of every frame, probed on upload.
    nominal_fps = models.FloatField(null=True, blank=True, help_text="the frame rate the container declares")
    mean_fps = models.FloatField(null=True, blank=True, help_text="frames per second measured from the timestamps")
    variable_frame_rate = models.BooleanField(default=False, help_text="frame intervals spread by more than 10 %")
    first_timestamp = models.FloatField(
        default=0.0, help_text="the container's time of frame 0, seconds (media time starts at frame 0)"
    )
    duplicated_timestamps = models.PositiveIntegerField(default=0, help_text="frames sharing the previous timestamp")
    missing_timestamps = models.PositiveIntegerField(default=0, help_text="frames without a timestamp (interpolated)")
    clock_gaps = models.PositiveIntegerField(default=0, help_text="frames that seem missing from a constant rate")
    clock_timestamps = models.BinaryField(
        null=True, blank=True, editable=False, help_text="every frame's time (zlib of float64 differences)"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["owner", "stored_name"], name="video_stored_name_per_owner")]

    @property
    def clock_irregular(self) -> bool:
        """The labeller warns when this is true (see VideoClock.irregular)."""
        rate_off = bool(self.nominal_fps and self.mean_fps and abs(self.mean_fps / self.nominal_fps - 1) > 0.001)
        return (
            bool(self.variable_frame_rate or self.duplicated_timestamps or self.missing_timestamps or self.clock_gaps)
            or rate_off
        )

    def __str__(self) -> str:
        return self.stored_name


class LabelSpan(models.Model):
    """Frames ``start_frame..end_frame`` (inclusive) of a video carry ``label``."""

    class Source(models.TextChoices):
        CSV = "csv"
        BROWSER = "browser"
        SUGGESTION = "suggestion", "accepted suggestion"
        IMPORT_CSV = "import:csv", "imported csv"
        IMPORT_LABEL_STUDIO = "import:label_studio", "imported from Label Studio"
        IMPORT_CVAT = "import:cvat_images", "imported from CVAT"
        IMPORT_BORIS = "import:boris", "imported from BORIS"
        IMPORT_ACTIVITYNET = "import:activitynet", "imported ActivityNet JSON"
        IMPORT_MSTCN = "import:mstcn", "imported MS-TCN labels"

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
    status = models.CharField(max_length=20, choices=TARGET_STATUS_CHOICES, default=JobStatus.PENDING, db_index=True)
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


class ExtractionChunk(models.Model):
    """One time chunk of a long video's extraction (taskml/pipeline/chunks.py), run by any worker
    on the extraction queue; the extraction job stitches the chunks' files into its feature file.

    Its own status, progress and attempts: a failed chunk is run again alone, a chunk whose
    worker died goes back to pending (only its work is lost), and a cancelled job's chunks are
    cancelled.
    """

    feature_file = models.ForeignKey(FeatureFile, on_delete=models.CASCADE, related_name="chunks")
    job = models.ForeignKey("jobs.Job", on_delete=models.CASCADE, related_name="+")
    index = models.PositiveIntegerField()
    start_frame = models.PositiveIntegerField(help_text="first frame kept")
    stop_frame = models.PositiveIntegerField(help_text="one past the last frame kept")
    settle_frame = models.PositiveIntegerField(help_text="first frame detected (the tracking settles before start)")
    path = models.CharField(max_length=500, help_text="the chunk's features file, relative to the data directory")
    status = models.CharField(max_length=20, choices=TARGET_STATUS_CHOICES, default=JobStatus.PENDING, db_index=True)
    progress = models.FloatField(default=0.0, help_text="0..1")
    attempts = models.PositiveIntegerField(default=0, help_text="times a worker started it")
    worker = models.CharField(max_length=255, blank=True, default="")
    error = models.TextField(blank=True, default="")
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["feature_file_id", "index"]
        constraints = [models.UniqueConstraint(fields=["feature_file", "index"], name="extraction_chunk_index")]

    def __str__(self) -> str:
        return f"{self.feature_file} chunk {self.index} {self.status}"
