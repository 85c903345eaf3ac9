"""The job row's rules on the real database: one claim wins, stale jobs are taken over, a
superseded attempt can neither report nor finish, and the reaper gives up where it should.

No worker: the services are called directly, from threads where a race is the point.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from jobs.models import Job
from jobs.services import JobReporter, _finish, job_claim, job_requeue_stale
from taskml.pipeline.errors import Cancelled
from tests.platform import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _job(owner, **fields) -> Job:
    return Job.objects.create(owner=owner, kind=Job.Kind.EXTRACTION, inputs={}, **fields)


def _long_ago() -> timezone.datetime:
    return timezone.now() - timedelta(seconds=settings.TASKML_JOB_STALE_SECONDS * 3)


def test_of_workers_claiming_one_job_at_once_exactly_one_wins(alice):
    job = _job(alice)
    start = threading.Barrier(6)
    won: list[str] = []

    def claim(name: str) -> None:
        try:
            start.wait()
            if job_claim(job_id=job.pk, worker=name) is not None:
                won.append(name)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(f"w{i}@test",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(won) == 1
    job.refresh_from_db()
    assert job.status == Job.Status.RUNNING and job.attempts == 1 and job.worker == won[0]


def test_running_job_is_claimed_again_only_once_its_heartbeat_is_stale(alice):
    job = job_claim(job_id=_job(alice).pk, worker="first@test")
    assert job_claim(job_id=job.pk, worker="second@test") is None
    Job.objects.filter(pk=job.pk).update(heartbeat_at=_long_ago())
    again = job_claim(job_id=job.pk, worker="second@test")
    assert again is not None and again.attempts == 2 and again.worker == "second@test"
    for status in Job.TERMINAL:
        Job.objects.filter(pk=job.pk).update(status=status, heartbeat_at=_long_ago())
        assert job_claim(job_id=job.pk, worker="third@test") is None


def test_a_superseded_attempt_can_neither_report_nor_finish(alice):
    first = job_claim(job_id=_job(alice).pk, worker="first@test")
    reporter = JobReporter(first, interval=0)
    reporter(1, 10)
    assert Job.objects.get(pk=first.pk).progress == pytest.approx(0.1)

    Job.objects.filter(pk=first.pk).update(heartbeat_at=_long_ago())  # first looked dead...
    second = job_claim(job_id=first.pk, worker="second@test")  # ...and was taken over
    with pytest.raises(Cancelled):
        reporter(5, 10)
    assert _finish(first, Job.Status.SUCCEEDED, outputs={"from": "first"}) is False
    job = Job.objects.get(pk=first.pk)
    assert job.status == Job.Status.RUNNING and job.worker == "second@test" and job.progress == 0.0

    JobReporter(second, interval=0)(3, 10)
    assert _finish(second, Job.Status.SUCCEEDED, outputs={"from": "second"}) is True
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED and job.outputs == {"from": "second"} and job.progress == 1.0
    assert _finish(second, Job.Status.FAILED, error="late") is False  # an ended job stays ended


def test_cancel_requested_stops_the_reporter_and_failure_keeps_the_progress_reached(alice):
    job = job_claim(job_id=_job(alice).pk, worker="w@test")
    reporter = JobReporter(job, interval=0)
    reporter(4, 10)
    Job.objects.filter(pk=job.pk).update(cancel_requested=True)
    with pytest.raises(Cancelled):
        reporter.stage("writing")
    assert _finish(job, Job.Status.CANCELLED, error="cancelled on request") is True
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED and job.progress == pytest.approx(0.4)


def test_heartbeat_goes_on_while_the_job_is_silent(alice):
    job = job_claim(job_id=_job(alice).pk, worker="w@test")
    Job.objects.filter(pk=job.pk).update(heartbeat_at=_long_ago())
    with JobReporter(job):  # no progress is reported: only the heartbeat thread writes
        wait_for(
            lambda: timezone.now() - Job.objects.get(pk=job.pk).heartbeat_at < timedelta(seconds=5),
            timeout=settings.TASKML_JOB_HEARTBEAT_SECONDS * 10,
            what="a heartbeat",
        )


def test_reaper_ends_stale_jobs_it_must_not_requeue_and_leaves_live_ones(alice):
    exhausted = _job(alice, status=Job.Status.RUNNING, attempts=3, heartbeat_at=_long_ago())
    cancelled = _job(alice, status=Job.Status.RUNNING, attempts=1, heartbeat_at=_long_ago(), cancel_requested=True)
    alive = _job(alice, status=Job.Status.RUNNING, attempts=1, heartbeat_at=timezone.now())

    assert job_requeue_stale() == []

    exhausted.refresh_from_db()
    assert exhausted.status == Job.Status.FAILED and exhausted.error_kind == "internal"
    assert "stopped while running it 3 times" in exhausted.error
    cancelled.refresh_from_db()
    assert cancelled.status == Job.Status.CANCELLED and cancelled.error == "cancelled on request"
    alive.refresh_from_db()
    assert alive.status == Job.Status.RUNNING and alive.finished_at is None


def test_a_target_deleted_while_its_job_ran_leaves_no_files(alice):
    from django.contrib.contenttypes.models import ContentType

    from datasets.models import Dataset
    from jobs.services import job_run
    from taskml import storage

    dataset = Dataset.objects.create(
        owner=alice, window_sec=1, step_sec=0.5, train_ratio=0.7, val_ratio=0.15, test_ratio=0.15
    )
    Dataset.objects.filter(pk=dataset.pk).update(path=f"processed/datasets/{dataset.name}")
    job = Job.objects.create(
        owner=alice,
        kind=Job.Kind.DATASET,
        inputs={},
        target_type=ContentType.objects.get_for_model(Dataset),
        target_id=dataset.pk,
    )
    output = storage.absolute(f"processed/datasets/{dataset.name}")

    def build_then_lose_the_row(job, reporter):
        output.mkdir(parents=True)
        (output / "metadata.json").write_text("{}")
        Dataset.objects.filter(pk=dataset.pk).delete()  # deleted by someone while the job ran
        return {}

    ended = job_run(job_id=job.pk, handler=build_then_lose_the_row, worker="w@test")
    assert ended.status == Job.Status.FAILED and "deleted while its job ran" in ended.error
    assert not output.exists()


def test_reaper_fails_a_job_killed_past_its_time_limit_instead_of_running_it_again(alice):
    limit = settings.TASKML_JOB_TIME_LIMITS["extraction"]
    started = timezone.now() - timedelta(seconds=limit + 60)  # the hard limit killed its worker
    timed_out = _job(alice, status=Job.Status.RUNNING, attempts=1, started_at=started, heartbeat_at=_long_ago())
    assert job_requeue_stale() == []
    timed_out.refresh_from_db()
    assert timed_out.status == Job.Status.FAILED and timed_out.error_kind == "timeout"
    assert timed_out.error == f"timed out after {limit} s (its worker was stopped past the time limit)"


def _run_handler(owner, handler, settings=None) -> Job:
    from jobs.services import job_run

    return job_run(job_id=_job(owner).pk, handler=handler, worker="w@test")


def test_a_job_is_stopped_at_its_first_progress_report_past_its_time_limit(alice, settings):
    settings.TASKML_JOB_TIME_LIMITS = {**settings.TASKML_JOB_TIME_LIMITS, "extraction": 1}
    reports = []

    def slow_fit(job, reporter):
        for step in range(10_000):  # a fit of many short steps, each reporting progress
            reports.append(time.monotonic())
            time.sleep(0.05)
            reporter(step, 10_000)
        return {}

    ended = _run_handler(alice, slow_fit)
    assert ended.status == Job.Status.FAILED and ended.error_kind == "timeout"
    assert ended.error == "timed out after 1 s"
    assert reports[-1] - reports[0] < 1.5 and len(reports) < 30  # the limit counts from the start of the job


@pytest.mark.parametrize(
    "failure",
    [
        MemoryError("Unable to allocate 69.0 GiB for an array with shape (9, 9) and data type float32"),
        RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 1099511627776 bytes."),
    ],
)
def test_an_allocation_that_fails_ends_the_job_as_too_large_with_a_message(alice, failure):
    def greedy(job, reporter):
        raise failure

    ended = _run_handler(alice, greedy)
    assert ended.status == Job.Status.FAILED and ended.error_kind == "too_large"
    assert ended.error.startswith(f"too large: the machine refused the job memory ({str(failure)[:30]}")
    assert "TASKML_WORKER_MAX_MEMORY_MB" in ended.error


def test_work_refused_by_an_estimate_inside_a_job_is_too_large_too(alice):
    from taskml.pipeline.errors import TooLarge

    def past_the_limit(job, reporter):
        raise TooLarge(
            "step_sec: the dataset would hold about 9.0 GiB (…), over the limit of 1.0 GiB", param="step_sec"
        )

    ended = _run_handler(alice, past_the_limit)
    assert ended.status == Job.Status.FAILED and ended.error_kind == "too_large" and ended.error.startswith("step_sec:")
