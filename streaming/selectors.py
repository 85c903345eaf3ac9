from __future__ import annotations

from django.db.models import QuerySet

from streaming.models import LiveSession
from taskml.domain import NotFound
from taskml.ownership import visible_to


def live_session_list(*, user) -> QuerySet[LiveSession]:
    return visible_to(LiveSession.objects.select_related("trained_model", "trained_model__dataset", "video"), user)


def live_session_get(*, user, pk: int) -> LiveSession:
    found = live_session_list(user=user).filter(pk=pk).first()
    if found is None:
        raise NotFound("session", f"no live session {pk} of yours")
    return found


def live_sessions_using_models_of(*, user) -> QuerySet[LiveSession]:
    """Anyone's live sessions that run one of ``user``'s models."""
    return LiveSession.objects.filter(trained_model__owner=user).order_by("pk")
