from celery import shared_task
from django.conf import settings

from jobs.services import job_run
from retraining.services import retrain_run_execute, retrain_scheduled, retrain_thresholds_check

LIMIT = settings.TASKML_JOB_TIME_LIMITS["training"]


@shared_task(name="retraining.run_retraining", bind=True, acks_late=True, soft_time_limit=LIMIT, time_limit=LIMIT + 60)
def run_retraining(self, job_id: int) -> None:
    job_run(job_id=job_id, handler=retrain_run_execute, worker=self.request.hostname or "")


@shared_task(name="retraining.check_thresholds", ignore_result=True)
def check_thresholds() -> list[int]:
    """Beat: start runs for the policies whose new labels reached their threshold."""
    return retrain_thresholds_check()


@shared_task(name="retraining.run_scheduled", ignore_result=True)
def run_scheduled(policy_id: int) -> int | None:
    """Beat: one tick of a policy's schedule."""
    return retrain_scheduled(policy_id=policy_id)
