from celery import shared_task
from django.conf import settings

from jobs.services import job_run
from models_app.services import trained_model_train

LIMIT = settings.TASKML_JOB_TIME_LIMITS["training"]


@shared_task(name="models_app.train_model", bind=True, acks_late=True, soft_time_limit=LIMIT, time_limit=LIMIT + 60)
def train_model(self, job_id: int) -> None:
    job_run(job_id=job_id, handler=trained_model_train, worker=self.request.hostname or "")
