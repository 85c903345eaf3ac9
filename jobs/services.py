"""Jobs: create, enqueue on commit, claim, report progress, finish, cancel, retry, recover.

A job's row is the single source of truth. Workers claim a job with one conditional UPDATE,
so a message delivered twice (late acknowledgement, a re-queue by the reaper) never runs a
job twice at once: a second delivery finds it running with a fresh heartbeat, or finished,
and does nothing. A worker killed mid-job stops its heartbeat; after
``TASKML_JOB_STALE_SECONDS`` any worker's reaper puts the job back on its queue and
another worker runs it again from the start (every output is written atomically, so a
half-run leaves nothing visible; the temporaries it leaves are removed before the next
attempt). Each attempt writes progress and its outcome only while the row is still its own
(same ``attempts``, still running): a worker wrongly thought dead cannot overwrite the
attempt that replaced it. A job whose worker dies under it ``TASKML_JOB_MAX_ATTEMPTS``
times (default 3) fails instead of being re-queued again.
"""

from __future__ import annotations

import errno
import logging
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from jobs.memory import LIMIT_NAME, PRELOAD, MemoryWatch, is_allocation_failure
from jobs.models import Job, JobStatus
from jobs.quotas import active_jobs_check
from jobs.registry import job_type_of, job_types
from taskml import storage
from taskml.domain import Conflict, ServiceError, TooLarge, ValidationFailed
from taskml.middleware import forget_broken_connections, is_database_unavailable
from taskml.pipeline.artifacts import sidecar_paths
from taskml.pipeline.errors import Cancelled, PipelineError
from taskml.pipeline.errors import TooLarge as WorkTooLarge

log = logging.getLogger(__name__)

# The kinds of job, their Celery tasks and queues are registered by the apps (jobs.registry).
# What a job loads before its memory allowance is measured (jobs.memory): dataset builds need
# none of the numerical libraries.
PRELOADS = {Job.Kind.DATASET: (), Job.Kind.EXTRACTION: (*PRELOAD, "mediapipe")}

Handler = Callable[[Job, "JobReporter"], dict]
_ANY = Q()


def _set_target_status(job: Job, status: str) -> None:
    if job.target_type_id and job.target_id:
        model = job.target_type.model_class()
        model.objects.filter(pk=job.target_id).update(status=status, job=job)


@transaction.atomic
def job_create(*, owner, kind: str, inputs: dict, target=None, retry_of: Job | None = None) -> Job:
    """A pending job, sent to its queue once the surrounding transaction commits.

    TooManyRequests (429) when the owner already has TASKML_MAX_ACTIVE_JOBS_PER_USER jobs going.
    """
    active_jobs_check(owner)
    job = Job.objects.create(
        owner=owner,
        kind=kind,
        inputs=inputs,
        celery_task_id=str(uuid.uuid4()),
        target_type=ContentType.objects.get_for_model(target) if target is not None else None,
        target_id=target.pk if target is not None else None,
        retry_of=retry_of,
    )
    _set_target_status(job, Job.Status.PENDING)
    job_enqueue(job)
    return job


SEND_ATTEMPTS = 3  # a broker hiccup (the embedded broker's first use of a queue by two processes) is retried


def broker_send(name: str, *, args: list, queue: str, task_id: str | None = None):
    """Send one task, retrying briefly: the embedded (SQLite) broker creates a queue's row on first
    use and two processes doing so at once collide; a broker that stays down still raises."""
    from taskml.celery import app

    for attempt in range(1, SEND_ATTEMPTS + 1):
        try:
            return app.send_task(name, args=args, task_id=task_id, queue=queue)
        except Exception:
            if attempt == SEND_ATTEMPTS:
                raise
            log.warning("sending %s to %s failed (attempt %s); retrying", name, queue, attempt, exc_info=True)
            time.sleep(0.2 * attempt)


def job_enqueue(job: Job) -> None:
    job_type = job_types.get(job.kind)
    name, queue = job_type.task, job_type.queue

    def send() -> None:
        try:
            broker_send(name, args=[job.pk], task_id=job.celery_task_id, queue=queue)
        except Exception as exc:  # the broker is down: say so on the job, which can be retried
            log.exception("could not enqueue job %s", job.pk)
            job.refresh_from_db()
            _finish(job, Job.Status.FAILED, error=f"could not reach the job queue: {exc}", error_kind="internal")

    transaction.on_commit(send)


def job_claim(*, job_id: int, worker: str) -> Job | None:
    """Mark a job running for this worker, or None when it is not ours to run.

    One conditional UPDATE, so that of two workers given the same job at once exactly one
    wins on every database (SQLite ignores SELECT ... FOR UPDATE).
    """
    now = timezone.now()
    stale = now - timedelta(seconds=settings.TASKML_JOB_STALE_SECONDS)
    runnable = Q(status=Job.Status.PENDING) | Q(status=Job.Status.RUNNING, heartbeat_at__lt=stale)
    with transaction.atomic():
        claimed = Job.objects.filter(runnable, pk=job_id, cancel_requested=False).update(
            status=Job.Status.RUNNING,
            worker=worker[:255],
            attempts=F("attempts") + 1,
            started_at=now,
            heartbeat_at=now,
            finished_at=None,
            stage="starting",
            progress=0.0,
            error="",
            error_kind="",
        )
        if not claimed:
            return None
        job = Job.objects.get(pk=job_id)
        _set_target_status(job, Job.Status.RUNNING)
    return job


class JobReporter:
    """The pipeline's ``progress(done, total)`` callback for a job row.

    Writes progress at most every ``interval`` seconds, raises Cancelled once a cancel was
    requested, raises SoftTimeLimitExceeded once the job has run ``time_limit`` seconds and
    TooLarge once it is past its memory allowance (the pipeline calls it between small units of
    work, so all three stop a job within about a second, in the middle of fitting too), and
    keeps a heartbeat going from a thread while the job runs. Progress never goes backwards:
    a step run inside the job reports to ``child(lo, hi)``, its part of the bar.
    """

    def __init__(
        self, job: Job, *, interval: float = 0.5, time_limit: float | None = None, memory: MemoryWatch | None = None
    ):
        self.job = job
        self.interval = interval
        self._last = 0.0
        self._stage = job.stage
        self._progress = 0.0
        self._stop = threading.Event()
        self.deadline = time.monotonic() + time_limit if time_limit else None
        self.memory = memory

    def _check_time(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise SoftTimeLimitExceeded()
        if self.memory is not None:
            self.memory.check()  # TooLarge once the job is past its memory allowance

    def stage(self, name: str, progress: float | None = None) -> None:
        self._check_time()
        self._stage = name
        fields = {"stage": name, "heartbeat_at": timezone.now()}
        if progress is not None:
            fields["progress"] = self._forward(progress)
        self._write(fields)

    def __call__(self, done: int, total: int) -> None:
        self.report(_fraction(done, total), final=done >= total)

    def report(self, fraction: float, *, final: bool = False) -> None:
        """The job is ``fraction`` done; written unless the last write was under ``interval`` ago."""
        self._check_time()
        now = time.monotonic()
        if now - self._last < self.interval and not final:
            return
        self._last = now
        self._write({"progress": self._forward(fraction), "heartbeat_at": timezone.now()})

    def child(self, lo: float, hi: float) -> StepReporter:
        """The reporter for a step that fills ``lo..hi`` of this job's progress."""
        return StepReporter(self, lo, hi)

    def _forward(self, fraction: float) -> float:
        self._progress = max(self._progress, min(max(fraction, 0.0), 1.0))
        return self._progress

    def _write(self, fields: dict) -> None:
        # Only while this attempt still owns the job: once a cancel was requested, or the job
        # was re-queued and claimed by another worker (this one was thought dead), stop.
        try:
            written = self._ours().filter(cancel_requested=False).update(**fields)
        except DatabaseError as exc:
            if not is_database_unavailable(exc):
                raise
            # PostgreSQL restarting: the work goes on; this report is skipped and the next one
            # (or the heartbeat) reconnects. Were the gap longer than the stale time, the
            # reaper re-queues the job and this attempt stops at its first write after it.
            log.warning("job %s: progress not saved, the database is unavailable: %s", self.job.pk, exc)
            forget_broken_connections()
            return
        if not written:
            raise Cancelled("cancelled on request")
        job_announce(job_id=self.job.pk)

    def _ours(self):
        return Job.objects.filter(pk=self.job.pk, status=Job.Status.RUNNING, attempts=self.job.attempts)

    def _beat(self) -> None:
        try:
            while not self._stop.wait(settings.TASKML_JOB_HEARTBEAT_SECONDS):
                try:
                    self._ours().update(heartbeat_at=timezone.now())
                except DatabaseError as exc:  # the database restarting: beat again once it is back
                    log.warning("heartbeat for job %s not saved: %s", self.job.pk, exc)
                    forget_broken_connections()
        except Exception:  # a lost heartbeat only makes recovery earlier; never kill the job for it
            log.exception("heartbeat for job %s failed", self.job.pk)
        finally:
            connection.close()

    def __enter__(self) -> JobReporter:
        self._thread = threading.Thread(target=self._beat, name=f"job-{self.job.pk}-heartbeat", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _fraction(done: int, total: int) -> float:
    return min(max(done / total, 0.0), 1.0) if total else 0.0


class StepReporter:
    """A step's reporter: its progress 0..1 is ``lo..hi`` of the reporter above it.

    Stages are the job's stages, as the step names them; cancellation and the heartbeat are
    the job's (the step's writes go through the job's reporter).
    """

    def __init__(self, parent: JobReporter | StepReporter, lo: float, hi: float):
        if not 0.0 <= lo <= hi <= 1.0:
            raise ValueError(f"a step's part of the progress must lie in 0..1, got {lo}..{hi}")
        self.parent = parent
        self.lo = lo
        self.hi = hi

    def _scaled(self, fraction: float) -> float:
        return self.lo + (self.hi - self.lo) * min(max(fraction, 0.0), 1.0)

    def stage(self, name: str, progress: float | None = None) -> None:
        self.parent.stage(name, None if progress is None else self._scaled(progress))

    def __call__(self, done: int, total: int) -> None:
        self.report(_fraction(done, total), final=done >= total)

    def report(self, fraction: float, *, final: bool = False) -> None:
        self.parent.report(self._scaled(fraction), final=final)

    def child(self, lo: float, hi: float) -> StepReporter:
        return StepReporter(self, lo, hi)


@dataclass(frozen=True)
class StepJob:
    """What a handler run as a step reads off its "job": its kind and inputs."""

    kind: str
    inputs: dict


@contextmanager
def step_status(target) -> Iterator[None]:
    """A row a running job made follows the step that fills it: succeeded when the block ends,
    failed when it raises (cancelled, timed out or failed)."""
    rows = type(target).objects.filter(pk=target.pk)
    try:
        yield
    except BaseException:
        rows.update(status=JobStatus.FAILED)
        raise
    rows.update(status=JobStatus.SUCCEEDED)


def run_as_step(handler: Handler, target, reporter: JobReporter | StepReporter) -> dict:
    """Run another kind of job's ``handler`` inside the running job, for a ``target`` row it made.

    The handler reads the inputs its own job would carry (the registered job type names the
    key that points at the target) and reports to ``reporter``, usually ``reporter.child(lo,
    hi)``, so the step fills its part of the job's progress. The target's status follows the
    step (:func:`step_status`).
    """
    job_type = job_type_of(handler)
    if not job_type.target_input:
        raise LookupError(f"job type {job_type.kind!r} names no target input; it cannot run as a step")
    with step_status(target):
        return handler(StepJob(kind=job_type.kind, inputs={job_type.target_input: target.pk}), reporter)


def _finish(
    job: Job, status: str, *, outputs: dict | None = None, error: str = "", error_kind: str = "", only_if: Q = _ANY
) -> bool:
    """End ``job`` as ``status`` unless it already ended or another attempt has taken it over."""
    fields = {
        "status": status,
        "outputs": outputs or {},
        "error": error,
        "error_kind": error_kind,
        "finished_at": timezone.now(),
        "stage": "done" if status == Job.Status.SUCCEEDED else status,
    }
    if status == Job.Status.SUCCEEDED:
        fields["progress"] = 1.0  # a failed or cancelled job keeps the progress it had reached

    def end() -> int:
        with transaction.atomic():
            ended = (
                Job.objects.filter(only_if, pk=job.pk, attempts=job.attempts)
                .exclude(status__in=Job.TERMINAL)
                .update(**fields)
            )
            if ended:
                _set_target_status(job, status)
        return ended

    ended = _retrying_while_database_unavailable(end, what=f"ending job {job.pk}")
    if not ended:
        log.warning("job %s attempt %s ended as %s, but the job had moved on; ignored", job.pk, job.attempts, status)
    else:
        job_announce(job_id=job.pk)
    return bool(ended)


def _retrying_while_database_unavailable(write, *, what: str, patience: float = 120.0):
    """``write()``, tried again while PostgreSQL restarts (for up to ``patience`` seconds).

    A job's outcome is worth waiting for: given up, the job would be re-run from the start once
    its heartbeat went stale.
    """
    deadline = time.monotonic() + patience
    while True:
        try:
            return write()
        except DatabaseError as exc:
            if not is_database_unavailable(exc) or time.monotonic() > deadline:
                raise
            log.warning("%s: the database is unavailable (%s); trying again", what, exc)
            forget_broken_connections()
            time.sleep(1.0)


def job_group(owner_id: int) -> str:
    return f"jobs_{owner_id}"


def job_announce(*, job_id: int) -> None:
    """Push a job's current state to its owner's pages (``ws/jobs/``); never fails the job."""
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    try:
        job = (
            Job.objects.filter(pk=job_id)
            .values("id", "owner_id", "kind", "status", "stage", "progress", "error", "target_id", "retry_of_id")
            .first()
        )
    except DatabaseError as exc:  # the database restarting: the page's next poll shows the state
        log.warning("could not read job %s to announce it: %s", job_id, exc)
        forget_broken_connections()
        return
    if job is None:
        return
    try:
        async_to_sync(get_channel_layer().group_send)(job_group(job["owner_id"]), {"type": "job.update", "job": job})
    except Exception:  # the page shows the row's state on its next poll instead
        log.warning("could not announce job %s", job_id, exc_info=True)


def _output_paths(job: Job) -> list[Path]:
    """The files or directories the job writes (its target's ``path``, and a model's sidecars)."""
    target = job.target if job.target_type_id else None
    relative_path = getattr(target, "path", "") if target is not None else ""
    if not relative_path:
        return []
    path = storage.absolute(relative_path)
    return [path, *sidecar_paths(path)] if job.kind == Job.Kind.TRAINING else [path]


def _remove_leftovers(job: Job) -> None:
    """Temporaries an earlier attempt left beside the job's outputs when its worker was killed.

    Outputs are written under ``.<name>.<random>.tmp`` and renamed into place (see
    taskml.pipeline.files); a dead writer's temporaries are never renamed, nor removed.
    """
    for output in _output_paths(job):
        if not output.parent.is_dir():
            continue
        for leftover in [*output.parent.glob(f".{output.name}.*.tmp"), *output.parent.glob(f".{output.name}.old-*")]:
            log.info("job %s: removing %s left by an earlier attempt", job.pk, leftover.name)
            _remove(leftover)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _check_target_kept(job: Job, outputs: list[Path]) -> None:
    """A target deleted while its job ran: remove what the job wrote, so no file outlives its row."""
    if job.target_type_id and not job.target_type.model_class().objects.filter(pk=job.target_id).exists():
        for output in outputs:
            _remove(output)
        raise ValidationFailed(job.target_type.model, "was deleted while its job ran")


def job_run(*, job_id: int, handler: Handler, worker: str = "") -> Job | None:
    """Claim and run one job with ``handler(job, reporter) -> outputs``; record how it ended."""
    close_old_connections()
    job = job_claim(job_id=job_id, worker=worker)
    if job is None:
        log.info("job %s is not runnable here (finished, cancelled or running elsewhere)", job_id)
        return None
    log.info("job %s (%s) started, attempt %s", job.pk, job.kind, job.attempts)
    limit = settings.TASKML_JOB_TIME_LIMITS.get(job_types.get(job.kind).queue)
    memory_mb = int(getattr(settings, "TASKML_WORKER_MAX_MEMORY_MB", 0) or 0)
    try:
        _remove_leftovers(job)
        written = _output_paths(job)  # known now: the target row may be gone by the end
        memory = MemoryWatch(
            memory_mb * 1024 * 1024,
            preload=PRELOADS.get(job.kind, PRELOAD),
            on_hard_stop=lambda message: _end_from_watch(job, message),
        )
        with memory, JobReporter(job, time_limit=limit, memory=memory) as reporter:
            outputs = handler(job, reporter)
        _check_target_kept(job, written)
    except Cancelled:
        _finish(job, Job.Status.CANCELLED, error="cancelled on request", error_kind="cancelled")
    except SoftTimeLimitExceeded:
        _finish(job, Job.Status.FAILED, error=f"timed out after {limit} s", error_kind="timeout")
    except (WorkTooLarge, TooLarge) as exc:
        _finish(job, Job.Status.FAILED, error=str(exc), error_kind="too_large")
    except (PipelineError, ServiceError) as exc:
        _finish(job, Job.Status.FAILED, error=str(exc), error_kind="input")
    except Exception as exc:
        if is_allocation_failure(exc):
            _finish(job, Job.Status.FAILED, error=_out_of_memory(exc, memory_mb), error_kind="too_large")
        else:
            _fail_unexpected(job, exc)
    else:
        _finish(job, Job.Status.SUCCEEDED, outputs=outputs)
    job.refresh_from_db()
    log.info("job %s %s", job.pk, job.status)
    return job


def _end_from_watch(job: Job, message: str) -> None:
    """The memory watch ends a job it cannot stop from inside: recorded before its process ends."""
    try:
        _finish(job, Job.Status.FAILED, error=message, error_kind="too_large")
    finally:
        connection.close()


def _out_of_memory(exc: BaseException, memory_mb: int) -> str:
    log.warning("job ran out of memory: %s: %s", type(exc).__name__, exc)
    detail = " ".join(str(exc).split())[:300] or type(exc).__name__
    return (
        f"too large: the machine refused the job memory ({detail}); one job may use {memory_mb} MB "
        f"({LIMIT_NAME}): ask for less (fewer or shorter windows, fewer trees, features or epochs)"
    )


def _fail_unexpected(job: Job, exc: Exception) -> None:
    """A failure nobody foresaw: a full disk (said plainly), or an internal error."""
    if isinstance(exc, OSError):
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT) and "no space left on device" not in str(exc).lower():
            log.exception("job %s failed", job.pk)
            error, kind = f"internal error: {type(exc).__name__}: {exc}", "internal"
        else:  # the data disk is full: say so plainly; the atomic writes left nothing half-written
            log.error("job %s: no space left on device: %s", job.pk, exc)
            where = f" while writing {Path(exc.filename).name}" if getattr(exc, "filename", None) else ""
            error, kind = f"no space left on device{where} ({storage.data_dir()}): free space and retry", "disk_full"
        _finish(job, Job.Status.FAILED, error=error, error_kind=kind)
        return
    log.exception("job %s failed", job.pk)
    _finish(job, Job.Status.FAILED, error=f"internal error: {type(exc).__name__}: {exc}", error_kind="internal")


def job_cancel(*, job: Job) -> Job:
    """Pending jobs end at once; running ones stop at their next progress report."""
    if job.is_terminal:
        raise Conflict(None, f"job {job.pk} has already {job.status}")
    with transaction.atomic():
        Job.objects.filter(pk=job.pk).update(cancel_requested=True)
        ended = Job.objects.filter(pk=job.pk, status=Job.Status.PENDING).update(
            status=Job.Status.CANCELLED,
            error="cancelled on request",
            error_kind="cancelled",
            finished_at=timezone.now(),
            stage="cancelled",
        )
        job.refresh_from_db()
        if ended:
            _set_target_status(job, Job.Status.CANCELLED)
    return job


def job_cancel_if_active(job: Job | None) -> None:
    """Cancel ``job`` unless there is none or it has ended (a row's delete stops its job)."""
    if job is not None and not job.is_terminal:
        job_cancel(job=job)


def job_retry(*, job: Job) -> Job:
    """A new job with the same inputs and target; the failed one keeps its error."""
    if job.status not in (Job.Status.FAILED, Job.Status.CANCELLED):
        raise Conflict(None, f"only failed or cancelled jobs can be retried; job {job.pk} is {job.status}")
    if job.target_type_id and job.target is None:
        raise Conflict(None, f"what job {job.pk} was producing has been deleted; start a new one")
    return job_create(owner=job.owner, kind=job.kind, inputs=job.inputs, target=job.target, retry_of=job)


def job_requeue_stale() -> list[int]:
    """Put running jobs whose worker went silent back on their queues; returns their ids.

    A job whose cancel was requested ends cancelled instead (a cancelled job never runs again,
    whatever stopped its worker), one that had run past its time limit ends timed out (it was
    killed by the hard limit; running it again would only take as long), and one whose worker
    died under it ``TASKML_JOB_MAX_ATTEMPTS`` times (it crashes the worker or exhausts the
    machine's memory) ends failed instead of going round for ever.
    """
    cutoff = timezone.now() - timedelta(seconds=settings.TASKML_JOB_STALE_SECONDS)
    max_attempts = getattr(settings, "TASKML_JOB_MAX_ATTEMPTS", 3)
    requeued = []
    still_stale = Q(status=Job.Status.RUNNING, heartbeat_at__lt=cutoff)
    for job in Job.objects.filter(still_stale):
        if job.cancel_requested:
            _finish(
                job, Job.Status.CANCELLED, error="cancelled on request", error_kind="cancelled", only_if=still_stale
            )
            continue
        limit = settings.TASKML_JOB_TIME_LIMITS.get(job_types.get(job.kind).queue)
        if limit and job.started_at and job.started_at < timezone.now() - timedelta(seconds=limit):
            _finish(
                job,
                Job.Status.FAILED,
                error=f"timed out after {limit} s (its worker was stopped past the time limit)",
                error_kind="timeout",
                only_if=still_stale,
            )
            continue
        if job.attempts >= max_attempts:
            _finish(
                job,
                Job.Status.FAILED,
                error=(
                    f"its worker stopped while running it {job.attempts} times (killed, out of memory "
                    "or past the hard time limit); not trying again"
                ),
                error_kind="internal",
                only_if=still_stale,
            )
            continue
        with transaction.atomic():
            taken = Job.objects.filter(still_stale, pk=job.pk, attempts=job.attempts, cancel_requested=False).update(
                status=Job.Status.PENDING, stage="requeued after its worker stopped"
            )
            if taken:
                job.refresh_from_db()
                _set_target_status(job, Job.Status.PENDING)
                job_enqueue(job)
                requeued.append(job.pk)
    if requeued:
        log.warning("re-queued jobs whose worker stopped: %s", requeued)
    return requeued


def job_requeue_pending() -> list[int]:
    """Send every pending job's message again; returns their ids.

    For when the broker lost its queues (Redis restarted without persistence): a pending
    job's message may be gone, and nothing else would ever run it. A message that did
    survive only makes a second delivery, which the claim turns into a no-op.
    """
    requeued = []
    for job in Job.objects.filter(status=Job.Status.PENDING, cancel_requested=False):
        with transaction.atomic():
            job_enqueue(job)
        requeued.append(job.pk)
    if requeued:
        log.warning("the job queue restarted; sent pending jobs again: %s", requeued)
    return requeued


def job_wait(*, job: Job, timeout: float, poll: float = 0.2) -> Job:
    """Wait up to ``timeout`` seconds for a job to finish; returns its latest state."""
    deadline = time.monotonic() + timeout
    while True:
        job.refresh_from_db()
        if job.is_terminal or time.monotonic() >= deadline:
            return job
        time.sleep(min(poll, max(deadline - time.monotonic(), 0.01)))
