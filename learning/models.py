from django.conf import settings
from django.db import models

from jobs.models import TARGET_STATUS_CHOICES, JobStatus


class LabellingRound(models.Model):
    """One round of active learning: a model's uncertain spans on some videos, decided by a person.

    ``status`` and ``job`` follow the round's latest job (the suggestions job, then the
    retraining job when the round is closed with retraining); ``state`` is where the round is.
    """

    class State(models.TextChoices):
        SUGGESTING = "suggesting"
        OPEN = "open"
        RETRAINING = "retraining"
        CLOSED = "closed"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="labelling_rounds")
    model = models.ForeignKey("models_app.TrainedModel", on_delete=models.CASCADE, related_name="labelling_rounds")
    videos = models.ManyToManyField("videos.Video", related_name="labelling_rounds")
    feature_files = models.ManyToManyField("videos.FeatureFile", related_name="labelling_rounds", blank=True)
    params = models.JSONField(default=dict, blank=True, help_text="the thresholds and scoring used")
    state = models.CharField(max_length=20, choices=State.choices, default=State.SUGGESTING, db_index=True)
    status = models.CharField(max_length=20, choices=TARGET_STATUS_CHOICES, default=JobStatus.PENDING, db_index=True)
    job = models.ForeignKey("jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    retrain = models.BooleanField(default=False, help_text="closed with retraining")
    spans_shown = models.PositiveIntegerField(default=0)
    labels_added = models.PositiveIntegerField(default=0, help_text="spans accepted or corrected")
    accuracy_before = models.FloatField(null=True, blank=True)
    f1_before = models.FloatField(null=True, blank=True)
    accuracy_after = models.FloatField(null=True, blank=True)
    f1_after = models.FloatField(null=True, blank=True)
    dataset = models.ForeignKey(
        "datasets.Dataset", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="the dataset rebuilt with the round's labels",
    )  # fmt: skip
    retrained_model = models.ForeignKey(
        "models_app.TrainedModel", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"round {self.pk} of {self.model}"


class SuggestedSpan(models.Model):
    """A stretch of a video the model was unsure about, and what a person decided."""

    class Status(models.TextChoices):
        OPEN = "open"
        ACCEPTED = "accepted"
        CORRECTED = "corrected"
        REJECTED = "rejected"

    round = models.ForeignKey(LabellingRound, on_delete=models.CASCADE, related_name="spans")
    video = models.ForeignKey("videos.Video", on_delete=models.CASCADE, related_name="suggested_spans")
    start_frame = models.PositiveIntegerField()
    end_frame = models.PositiveIntegerField(help_text="inclusive")
    start_time = models.FloatField(help_text="seconds")
    end_time = models.FloatField(help_text="seconds")
    predicted_label = models.CharField(max_length=200)
    confidence = models.FloatField(help_text="mean probability of the predicted label over the span's windows")
    uncertainty = models.FloatField(help_text="mean window score (the round's `score`); higher is less sure")
    entropy = models.FloatField(default=0.0, help_text="mean normalised entropy (0..1)")
    windows = models.PositiveIntegerField(default=1)
    reasons = models.JSONField(default=list, blank=True)
    rank = models.PositiveIntegerField(help_text="1 = most uncertain in the round")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN, db_index=True)
    final_label = models.CharField(max_length=200, blank=True, default="")
    label_span = models.ForeignKey(
        "videos.LabelSpan", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["round_id", "rank"]
        constraints = [
            models.UniqueConstraint(fields=["round", "rank"], name="suggested_span_rank_per_round"),
            models.CheckConstraint(
                condition=models.Q(end_frame__gte=models.F("start_frame")), name="suggested_span_end_after_start"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.rank} {self.video} {self.start_frame}-{self.end_frame} {self.predicted_label}"

    @property
    def owner(self):
        return self.round.owner


class Ablation(models.Model):
    """One model configuration trained on each feature group of a dataset, compared on identical splits."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ablations")
    dataset = models.ForeignKey("datasets.Dataset", on_delete=models.CASCADE, related_name="ablations")
    model_type = models.CharField(max_length=20)
    aggregation = models.CharField(max_length=20)
    params = models.JSONField(default=dict, blank=True)
    groups = models.JSONField(default=list, blank=True, help_text="groups asked for (fused is always run)")
    status = models.CharField(max_length=20, choices=TARGET_STATUS_CHOICES, default=JobStatus.PENDING, db_index=True)
    job = models.ForeignKey("jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    results = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"ablation {self.pk} of {self.dataset}"
