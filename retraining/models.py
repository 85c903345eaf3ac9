from django.conf import settings
from django.db import models

from jobs.models import ACTIVE_STATUSES, TARGET_STATUS_CHOICES, JobStatus


class RetrainPolicy(models.Model):
    """When and how to retrain a model from an owner's labelled videos, and which model is serving.

    The held-out videos are chosen at creation and frozen: they never enter a training dataset,
    so champion and challenger are always compared on the same, unseen windows.
    """

    class Scope(models.TextChoices):
        EXPLICIT = "explicit", "the chosen training videos"
        ALL = "all", "all my labelled videos except the held-out ones"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="retrain_policies")
    name = models.CharField(max_length=100)
    training_scope = models.CharField(max_length=10, choices=Scope.choices, default=Scope.EXPLICIT)
    training_videos = models.ManyToManyField("videos.Video", blank=True, related_name="+")
    holdout_videos = models.ManyToManyField("videos.Video", related_name="+", help_text="frozen at creation")
    detector = models.CharField(
        max_length=20, blank=True, default="", help_text="feature files of this detector; blank: each video's latest"
    )
    dataset_params = models.JSONField(default=dict, help_text="window, step, balance, ratios, seed, groups, purity")
    model_type = models.CharField(max_length=20, blank=True, default="", help_text="blank: the pipeline's default")
    aggregation = models.CharField(max_length=20, blank=True, default="", help_text="blank: the pipeline's default")
    model_params = models.JSONField(default=dict, blank=True)
    seed = models.PositiveBigIntegerField(default=42)
    min_new_labels = models.PositiveIntegerField(
        default=0, help_text="start a run once this many label spans were added or changed (0: never)"
    )
    schedule_interval_seconds = models.PositiveIntegerField(null=True, blank=True)
    schedule_crontab = models.CharField(
        max_length=100, blank=True, default="", help_text="'minute hour day-of-month month day-of-week'"
    )
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    margin = models.FloatField(default=0.0, help_text="F1 macro on the holdout the challenger must gain")
    incremental = models.BooleanField(default=False, help_text="continue boosting from the champion (LightGBM)")
    enabled = models.BooleanField(default=True)
    champion = models.ForeignKey(
        "models_app.TrainedModel", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    labels_since = models.DateTimeField(help_text="label spans changed after this count as new")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "retrain policies"
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="retrain_policy_name_per_owner")]

    def __str__(self) -> str:
        return self.name


class RetrainRun(models.Model):
    """One retraining: rebuild, train a challenger, compare it with the champion on the holdout."""

    class Trigger(models.TextChoices):
        MANUAL = "manual"
        THRESHOLD = "threshold"
        SCHEDULE = "schedule"

    class Decision(models.TextChoices):
        PROMOTED = "promoted"
        KEPT = "kept"

    ACTIVE = ACTIVE_STATUSES

    policy = models.ForeignKey(RetrainPolicy, on_delete=models.CASCADE, related_name="runs")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    status = models.CharField(max_length=20, choices=TARGET_STATUS_CHOICES, default=JobStatus.PENDING, db_index=True)
    job = models.ForeignKey("jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    new_labels = models.PositiveIntegerField(default=0, help_text="new or changed label spans when it started")
    dataset = models.ForeignKey("datasets.Dataset", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    challenger = models.ForeignKey(
        "models_app.TrainedModel", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    champion_before = models.ForeignKey(
        "models_app.TrainedModel", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    incremental_model = models.ForeignKey(
        "models_app.TrainedModel", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    champion_metrics = models.JSONField(default=dict, blank=True, help_text="the champion on the holdout")
    challenger_metrics = models.JSONField(default=dict, blank=True, help_text="the challenger on the holdout")
    incremental = models.JSONField(default=dict, blank=True, help_text="incremental vs full retrain")
    report = models.JSONField(default=dict, blank=True)
    decision = models.CharField(max_length=10, choices=Decision.choices, blank=True, default="")
    reason = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # One run at a time per policy, whoever starts it (a person, the threshold beat, the schedule).
            models.UniqueConstraint(
                fields=["policy"],
                condition=models.Q(status__in=ACTIVE_STATUSES),
                name="one_active_run_per_policy",
            )
        ]

    def __str__(self) -> str:
        return f"run {self.pk} of {self.policy} ({self.status})"


class Promotion(models.Model):
    """A change of a policy's champion: promoted by a run, rolled back, or chosen by a person."""

    class Action(models.TextChoices):
        PROMOTE = "promote"
        ROLLBACK = "rollback"
        MANUAL = "manual"

    policy = models.ForeignKey(RetrainPolicy, on_delete=models.CASCADE, related_name="promotions")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    model = models.ForeignKey("models_app.TrainedModel", null=True, on_delete=models.SET_NULL, related_name="+")
    previous = models.ForeignKey(
        "models_app.TrainedModel", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=10, choices=Action.choices)
    reason = models.TextField(blank=True, default="")
    run = models.ForeignKey(RetrainRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="promotions")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} {self.model} on {self.policy}"
