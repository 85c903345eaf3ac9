from celery import shared_task
from django.conf import settings

from jobs.services import job_run
from learning.services import ablation_run, labelling_round_retrain, labelling_round_suggest

LIMIT = settings.TASKML_JOB_TIME_LIMITS["training"]


@shared_task(
    name="learning.compute_suggestions", bind=True, acks_late=True, soft_time_limit=LIMIT, time_limit=LIMIT + 60
)
def compute_suggestions(self, job_id: int) -> None:
    job_run(job_id=job_id, handler=labelling_round_suggest, worker=self.request.hostname or "")


@shared_task(name="learning.run_ablation", bind=True, acks_late=True, soft_time_limit=LIMIT, time_limit=LIMIT + 60)
def run_ablation(self, job_id: int) -> None:
    job_run(job_id=job_id, handler=ablation_run, worker=self.request.hostname or "")


@shared_task(name="learning.retrain_round", bind=True, acks_late=True, soft_time_limit=LIMIT, time_limit=LIMIT + 60)
def retrain_round(self, job_id: int) -> None:
    job_run(job_id=job_id, handler=labelling_round_retrain, worker=self.request.hostname or "")
