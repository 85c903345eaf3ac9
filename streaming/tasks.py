from celery import shared_task
from django.conf import settings

from streaming.services import RUN_TASK, live_session_run

LIMIT = settings.TASKML_LIVE_TIME_LIMIT


# Not acks_late: a live session is not re-run after a crash (its moment has passed); a
# session whose worker died is reported failed by the stale-session check instead.
@shared_task(name=RUN_TASK, bind=True, soft_time_limit=LIMIT, time_limit=LIMIT + 60)
def run_session(self, session_id: int) -> None:
    live_session_run(session_id=session_id, worker=self.request.hostname or "")
