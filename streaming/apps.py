from django.apps import AppConfig


class StreamingConfig(AppConfig):
    name = "streaming"

    def ready(self) -> None:
        from django.conf import settings

        from jobs.quotas import usage_register
        from streaming.services import live_sessions_active

        usage_register(
            "live_sessions",
            lambda owner: {"active": live_sessions_active(owner), "limit": settings.TASKML_MAX_LIVE_SESSIONS_PER_USER},
        )
