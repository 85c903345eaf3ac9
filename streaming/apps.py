from django.apps import AppConfig


class StreamingConfig(AppConfig):
    name = "streaming"

    def ready(self) -> None:
        from django.conf import settings

        from jobs.quotas import usage_register
        from jobs.registry import ReaperCheck, reaper_checks
        from models_app.models import TrainedModel
        from streaming.models import LiveSession
        from streaming.services import (
            live_session_delete,
            live_session_fail_stale,
            live_session_requeue_pending,
            live_sessions_active,
        )
        from taskml import deletion

        # A live moment cannot be re-run: a session whose worker died is failed, not re-queued.
        reaper_checks.register(
            "live sessions",
            ReaperCheck(every_round=live_session_fail_stale, after_broker_restart=live_session_requeue_pending),
        )
        deletion.deletable(LiveSession, field="session", delete=lambda s: live_session_delete(session=s))
        deletion.depends(
            TrainedModel,
            "live sessions running it",
            deletion.Dependence.BLOCKS,
            find=lambda model: LiveSession.objects.filter(trained_model=model, status__in=LiveSession.ACTIVE),
            refusal=lambda model, sessions: (
                f"{model} is used by live session(s) {', '.join(str(s.pk) for s in sessions)}; stop them first"
            ),
        )
        deletion.depends(
            TrainedModel,
            "ended live sessions of it",
            deletion.Dependence.GOES_WITH_IT,
            find=lambda model: LiveSession.objects.filter(trained_model=model).exclude(status__in=LiveSession.ACTIVE),
            refusal=lambda model, sessions: (
                f"{model} is the model of live session(s) {', '.join(str(s.pk) for s in sessions)}; delete them first"
            ),
        )
        usage_register(
            "live_sessions",
            lambda owner: {"active": live_sessions_active(owner), "limit": settings.TASKML_MAX_LIVE_SESSIONS_PER_USER},
        )
