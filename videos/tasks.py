from celery import shared_task
from django.conf import settings

from jobs.services import job_run
from videos.services import feature_file_extract

LIMIT = settings.TASKML_JOB_TIME_LIMITS["extraction"]


@shared_task(name="videos.extract_features", bind=True, acks_late=True, soft_time_limit=LIMIT, time_limit=LIMIT + 60)
def extract_features(self, job_id: int) -> None:
    job_run(job_id=job_id, handler=feature_file_extract, worker=self.request.hostname or "")
