from __future__ import annotations

from django.db.models import QuerySet

from jobs.models import Job
from taskml.domain import NotFound
from taskml.ownership import visible_to


def job_list(*, user) -> QuerySet[Job]:
    return visible_to(Job.objects.all(), user)


def job_get(*, user, job_id: int) -> Job:
    job = job_list(user=user).filter(pk=job_id).first()
    if job is None:
        raise NotFound("job", f"no job {job_id}")
    return job
