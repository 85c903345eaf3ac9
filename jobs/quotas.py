"""What one user may have going and stored: active jobs, bytes on disk.

``TASKML_MAX_ACTIVE_JOBS_PER_USER`` pending or running jobs per user (one user cannot fill a
queue for everyone: beyond it, 429 with Retry-After) and ``TASKML_MAX_STORAGE_MB_PER_USER`` bytes
of videos, feature files, datasets and models (beyond it, 413 before anything is stored).

Stored bytes live in the apps above this one; each registers how to count its own in its
AppConfig.ready() (``storage_register``), so this lowest app reads them without importing them.
Other apps add sections to the usage report the same way (``usage_register``).
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import get_user_model

from jobs.models import Job
from taskml.domain import TooLarge, TooManyRequests
from taskml.pipeline.estimates import format_bytes

MB = 1024 * 1024
RETRY_AFTER_SECONDS = 30  # Retry-After of a 429: long enough for a short job to end

_storage: dict[str, Callable[[object], int]] = {}
_usage: dict[str, Callable[[object], dict]] = {}


def storage_register(kind: str, used: Callable[[object], int]) -> None:
    """``used(owner) -> bytes`` of one kind of stored object (videos, feature_files, …)."""
    _storage[kind] = used


def usage_register(section: str, report: Callable[[object], dict]) -> None:
    """``report(owner) -> dict``: one more section of ``usage(owner)`` (live sessions, …)."""
    _usage[section] = report


def storage_limit() -> int:
    """Bytes one user may store; 0: no limit."""
    return int(settings.TASKML_MAX_STORAGE_MB_PER_USER) * MB


def storage_used(owner) -> dict[str, int]:
    """{kind: bytes} of what ``owner`` stores, and ``total``."""
    used = {kind: int(count(owner) or 0) for kind, count in sorted(_storage.items())}
    return {**used, "total": sum(used.values())}


def storage_check(*, owner, adding: int, field: str) -> None:
    """TooLarge (413) naming ``field`` when storing ``adding`` more bytes would pass the owner's quota."""
    limit = storage_limit()
    if not limit or adding <= 0:
        return
    used = storage_used(owner)["total"]
    if used + adding > limit:
        raise TooLarge(
            field,
            f"this would store about {format_bytes(adding)} more, and you already store {format_bytes(used)}, over "
            f"the limit of {format_bytes(limit)} per user (TASKML_MAX_STORAGE_MB_PER_USER); delete something first",
        )


def active_jobs(owner) -> int:
    return Job.objects.filter(owner=owner, status__in=(Job.Status.PENDING, Job.Status.RUNNING)).count()


def active_jobs_check(owner) -> None:
    """TooManyRequests (429) once ``owner`` has the most pending or running jobs one user may have.

    Call it in the transaction that creates the job: it locks the owner's row first, so two
    requests at once cannot both take the last place.
    """
    limit = int(settings.TASKML_MAX_ACTIVE_JOBS_PER_USER)
    if not limit:
        return
    get_user_model().objects.select_for_update().filter(pk=owner.pk).first()
    count = active_jobs(owner)
    if count >= limit:
        raise TooManyRequests(
            "jobs",
            f"you have {count} jobs pending or running, the most one user may have "
            f"(TASKML_MAX_ACTIVE_JOBS_PER_USER={limit}); wait for one to finish or cancel one",
            retry_after=RETRY_AFTER_SECONDS,
        )


def usage(owner) -> dict:
    """What ``owner`` has going and stored, with the limits (0: none)."""
    return {
        "storage": {**storage_used(owner), "limit": storage_limit()},
        "jobs": {"active": active_jobs(owner), "limit": int(settings.TASKML_MAX_ACTIVE_JOBS_PER_USER)},
        **{section: report(owner) for section, report in sorted(_usage.items())},
    }
