from __future__ import annotations

import time

from django.conf import settings
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


def live_session_hello(session: LiveSession) -> dict:
    """The first message a viewer gets: the session, its model and its latest prediction."""
    return {
        "stage": "hello",
        "session": session.pk,
        "status": session.status,
        "source": session.source_kind,
        "model_version": session.trained_model.version_label,
        "labels": session.trained_model.dataset.labels,
        "window_sec": session.trained_model.dataset.window_sec,
        "step_sec": session.trained_model.dataset.step_sec,
        "server_time": time.time(),  # for clients correcting latency for clock skew
        "last_prediction": session.last_prediction,
        "pictures": {"fps": settings.TASKML_LIVE_FRAME_FPS, "width": settings.TASKML_LIVE_FRAME_WIDTH},
    }


def live_session_end_message(session_id: int) -> dict | None:
    """``finished``, from the session's row, once it has ended (None while it runs).

    For a viewer that heard nothing for a while: the published ``finished`` may have been lost.
    """
    row = LiveSession.objects.filter(pk=session_id).values("status", "error", "frames_processed").first()
    if row is None or row["status"] in LiveSession.ACTIVE:
        return None
    return {
        "stage": "finished",
        "session": session_id,
        "status": row["status"],
        "frames": row["frames_processed"],
        "error": row["error"],
        "from": "session_row",  # the published message was lost on the way
    }
