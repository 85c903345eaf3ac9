from celery import shared_task
from django.conf import settings

from datasets.services import dataset_build
from jobs.services import job_run

LIMIT = settings.TASKML_JOB_TIME_LIMITS["datasets"]


@shared_task(name="datasets.build_dataset", bind=True, acks_late=True, soft_time_limit=LIMIT, time_limit=LIMIT + 60)
def build_dataset(self, job_id: int) -> None:
    job_run(job_id=job_id, handler=dataset_build, worker=self.request.hostname or "")
