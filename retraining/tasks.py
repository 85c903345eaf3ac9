from celery import shared_task
from django.conf import settings
from django.contrib.contenttypes.models import ContentType

from jobs.services import job_run
from retraining.services import retrain_run_execute, retrain_scheduled, retrain_thresholds_check

LIMIT = settings.TASKML_JOB_TIME_LIMITS["training"]


@shared_task(name="retraining.run_retraining", bind=True, acks_late=True, soft_time_limit=LIMIT, time_limit=LIMIT + 60)
def run_retraining(self, job_id: int) -> None:
    job_run(job_id=job_id, handler=retrain_run_execute, worker=self.request.hostname or "")


@shared_task(name="retraining.check_thresholds", ignore_result=True)
def check_thresholds() -> list[int]:
    """Beat: start runs for the policies whose new labels reached their threshold."""
    # Runs are jobs that point at their RetrainRun through a content type. A worker lives for
    # weeks; its cached content type ids go stale if the table is rebuilt meanwhile (a restore,
    # a flush between test cases). Once a minute, reading them afresh costs nothing.
    ContentType.objects.clear_cache()
    return retrain_thresholds_check()


@shared_task(name="retraining.run_scheduled", ignore_result=True)
def run_scheduled(policy_id: int) -> int | None:
    """Beat: one tick of a policy's schedule."""
    ContentType.objects.clear_cache()  # as above
    return retrain_scheduled(policy_id=policy_id)
