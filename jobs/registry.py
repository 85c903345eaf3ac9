"""What the apps above jobs tell it: their kinds of job, and what the reaper checks of theirs.

jobs is the lowest app; it runs every other app's work without importing any of them. Each app
registers its job types (and the streaming app its reaper checks) in its ``AppConfig.ready()``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from taskml.registry import Registry

# handler(job, reporter) -> outputs: reads ``job.inputs``, reports progress and stages to ``reporter``.
Handler = Callable[[Any, Any], dict]


@dataclass(frozen=True)
class JobType:
    """One kind of job (a ``Job.Kind``): the Celery task that runs it and the handler it calls."""

    kind: str
    task: str  # the Celery task's name (in the app's tasks.py)
    queue: str  # the queue it is sent to; also its key in TASKML_JOB_TIME_LIMITS
    handler: Handler
    # The inputs key naming the row the job produces (``dataset_id``...): what run_as_step sets
    # to run this handler inside another job, for a row that job made.
    target_input: str = ""


job_types: Registry[JobType] = Registry("job types")


def job_type_register(job_type: JobType) -> JobType:
    return job_types.register(str(job_type.kind), job_type)


def job_type_of(handler: Handler) -> JobType:
    for job_type in job_types.values():
        if job_type.handler is handler:
            return job_type
    raise LookupError(f"{getattr(handler, '__name__', handler)!r} is no registered job type's handler")


@dataclass(frozen=True)
class ReaperCheck:
    """Work for the reaper thread of every worker (jobs.worker), besides re-queueing stale jobs."""

    every_round: Callable[[], object] | None = None  # each round (every TASKML_JOB_STALE_SECONDS / 3)
    after_broker_restart: Callable[[], object] | None = None  # when Redis came back without its queues


reaper_checks: Registry[ReaperCheck] = Registry("reaper checks")
