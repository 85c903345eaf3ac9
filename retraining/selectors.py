from __future__ import annotations

from django.db.models import QuerySet

from retraining.models import Promotion, RetrainPolicy, RetrainRun
from taskml.domain import NotFound
from taskml.ownership import visible_to
from videos.models import LabelSpan, Video


def retrain_policy_list(*, user) -> QuerySet[RetrainPolicy]:
    return visible_to(RetrainPolicy.objects.select_related("champion", "periodic_task"), user).prefetch_related(
        "holdout_videos", "training_videos"
    )


def retrain_policy_get(*, user, pk: int | None = None, name: str | None = None, field: str = "policy") -> RetrainPolicy:
    policies = retrain_policy_list(user=user)
    found = policies.filter(pk=pk).first() if pk is not None else policies.filter(name=name).first()
    if found is None:
        raise NotFound(field, f"no policy {pk if pk is not None else repr(name)} of yours")
    return found


def policy_training_videos(policy: RetrainPolicy) -> list[Video]:
    holdout = set(policy.holdout_videos.values_list("pk", flat=True))
    if policy.training_scope == RetrainPolicy.Scope.ALL:
        videos = Video.objects.filter(owner=policy.owner, label_spans__isnull=False).distinct()
    else:
        videos = policy.training_videos.all()
    return [v for v in videos.order_by("pk") if v.pk not in holdout]


def policy_new_labels(policy: RetrainPolicy) -> int:
    """Label spans added or changed on the policy's training videos since its last run started."""
    videos = [v.pk for v in policy_training_videos(policy)]
    return LabelSpan.objects.filter(video_id__in=videos, updated_at__gt=policy.labels_since).count()


def retrain_run_list(*, user) -> QuerySet[RetrainRun]:
    return visible_to(
        RetrainRun.objects.select_related("policy", "job", "dataset", "challenger", "champion_before"), user
    )


def promotion_list(*, user) -> QuerySet[Promotion]:
    return visible_to(Promotion.objects.select_related("policy", "model", "previous", "user", "run"), user)


def retrain_policy_champion_id(policy_id: int) -> int | None:
    """The policy's champion now (a live session following the policy switches to it)."""
    return RetrainPolicy.objects.filter(pk=policy_id).values_list("champion_id", flat=True).first()
