from celery import shared_task
from django.conf import settings

from jobs.services import job_run
from videos.chunking import extraction_chunk_work
from videos.services import feature_file_extract

LIMIT = settings.TASKML_JOB_TIME_LIMITS["extraction"]


@shared_task(name="videos.extract_features", bind=True, acks_late=True, soft_time_limit=LIMIT, time_limit=LIMIT + 60)
def extract_features(self, job_id: int) -> None:
    job_run(job_id=job_id, handler=feature_file_extract, worker=self.request.hostname or "")


@shared_task(name="videos.extract_chunk", bind=True, acks_late=True, soft_time_limit=LIMIT, time_limit=LIMIT + 60)
def extract_chunk(self, chunk_id: int) -> None:
    """One chunk of a long video's extraction (videos.chunking); a second delivery finds it claimed."""
    extraction_chunk_work(chunk_id=chunk_id, worker=self.request.hostname or "")
