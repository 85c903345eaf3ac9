"""Reads for the learning loop: rounds, their spans and ablations, each seen only by its owner (and staff)."""

from __future__ import annotations

from django.db.models import QuerySet

from learning.models import Ablation, LabellingRound, SuggestedSpan
from taskml.domain import NotFound
from taskml.ownership import visible_to


def labelling_round_list(*, user) -> QuerySet[LabellingRound]:
    return visible_to(LabellingRound.objects.select_related("model", "job", "retrained_model"), user)


def labelling_round_get(*, user, pk: int) -> LabellingRound:
    found = labelling_round_list(user=user).filter(pk=pk).first()
    if found is None:
        raise NotFound("round", f"no labelling round {pk} of yours")
    return found


def labelling_round_latest_for_video(*, user, video) -> LabellingRound | None:
    """The newest round that looked at ``video`` (the labeller's suggestions lane shows it)."""
    return labelling_round_list(user=user).filter(videos=video).order_by("-created_at", "-id").first()


def suggested_span_list(*, user) -> QuerySet[SuggestedSpan]:
    spans = SuggestedSpan.objects.select_related("round", "video", "label_span")
    if user is None or not user.is_authenticated:
        return spans.none()
    return spans if user.is_staff else spans.filter(round__owner=user)


def suggested_span_get(*, user, pk: int) -> SuggestedSpan:
    found = suggested_span_list(user=user).filter(pk=pk).first()
    if found is None:
        raise NotFound("span", f"no suggested span {pk} of yours")
    return found


def ablation_list(*, user) -> QuerySet[Ablation]:
    return visible_to(Ablation.objects.select_related("dataset", "job"), user)


def ablation_get(*, user, pk: int) -> Ablation:
    found = ablation_list(user=user).filter(pk=pk).first()
    if found is None:
        raise NotFound("ablation", f"no ablation {pk} of yours")
    return found
