"""What the apps register with jobs, and steps inside a job: another kind's handler run for a row
the job made (run_as_step), each filling its part of a progress bar that never goes backwards.

No worker: the services are called directly on the real database.
"""

from __future__ import annotations

import pytest
from django.conf import settings

from datasets.models import Dataset
from jobs.models import Job, JobStatus
from jobs.registry import JobType, job_types, reaper_checks
from jobs.services import JobReporter, StepReporter, job_claim, run_as_step
from taskml.pipeline.errors import InputError
from tests.api.factories import ready_dataset
from tests.messages import exactly


def test_every_kind_of_job_is_registered_with_its_celery_task_and_time_limit():
    from taskml.celery import app

    app.loader.import_default_modules()  # each app's tasks.py
    assert sorted(job_types) == sorted(Job.Kind.values)
    for name, job_type in job_types.items():
        assert name == job_type.kind
        assert job_type.task in app.tasks, job_type.task
        assert job_type.queue in settings.TASKML_JOB_TIME_LIMITS, job_type.queue
    assert job_types.get("dataset").target_input == "dataset_id"
    assert job_types.get("training").target_input == "trained_model_id"


def test_the_reaper_checks_live_sessions_registered_by_streaming():
    from streaming.services import live_session_fail_stale, live_session_requeue_pending

    check = reaper_checks.get("live sessions")
    assert check.every_round is live_session_fail_stale
    assert check.after_broker_restart is live_session_requeue_pending


def test_an_unknown_kind_says_what_is_registered():
    with pytest.raises(LookupError, match=r"^job types: nothing registered as 'nope' \(registered: extraction, "):
        job_types.get("nope")


@pytest.fixture
def running(alice):
    job = Job.objects.create(owner=alice, kind=Job.Kind.RETRAINING, inputs={})
    return job_claim(job_id=job.pk, worker="w@test")


def progress(job: Job) -> float:
    return Job.objects.values_list("progress", flat=True).get(pk=job.pk)


@pytest.mark.django_db
def test_steps_fill_their_part_and_the_progress_never_goes_backwards(running):
    reporter = JobReporter(running, interval=0)
    seen = []

    reporter.stage("relabelling", 0.02)
    seen.append(progress(running))
    dataset_step = reporter.child(0.05, 0.4)
    dataset_step.stage("building")  # the step names the job's stage; the progress stays where it was
    seen.append(progress(running))
    for done in range(5):
        dataset_step(done, 4)
        seen.append(progress(running))
    assert seen[-1] == pytest.approx(0.4)
    assert seen[3] == pytest.approx(0.05 + 0.35 * 1 / 4)

    training_step = reporter.child(0.4, 0.7)
    for done in range(3):  # starts again at 0 of its own: 0.4 of the job's, not back to 0
        training_step(done, 2)
        seen.append(progress(running))
    nested = training_step.child(0.5, 1.0)
    nested.stage("fitting", 0.5)
    seen.append(progress(running))
    assert seen[-1] == pytest.approx(0.7)  # done already: the nested stage cannot pull it back to 0.625

    reporter.stage("evaluating on the holdout", 0.3)  # a late, lower report
    seen.append(progress(running))
    assert seen == sorted(seen) and seen[-1] == pytest.approx(0.7)
    assert Job.objects.get(pk=running.pk).stage == "evaluating on the holdout"


def test_a_step_takes_a_part_of_the_bar_inside_its_parent():
    with pytest.raises(ValueError, match=exactly("a step's part of the progress must lie in 0..1, got 0.5..0.2")):
        StepReporter(None, 0.5, 0.2)


@pytest.fixture
def step_type(monkeypatch):
    """A job type whose handler is the test's (registered for the test only)."""
    calls, failing = [], []

    def handler(job, reporter):
        calls.append(dict(job.inputs))
        reporter(1, 2)
        if failing:
            raise InputError("bad dataset")
        reporter(2, 2)
        return {"built": job.inputs["dataset_id"]}

    job_type = JobType(
        kind="test-step", task="tests.step", queue="datasets", handler=handler, target_input="dataset_id"
    )
    monkeypatch.setitem(job_types._entries, job_type.kind, job_type)
    return handler, calls, failing


@pytest.mark.django_db
def test_run_as_step_gives_the_handler_its_inputs_and_the_row_its_status(running, alice, step_type):
    handler, calls, _ = step_type
    dataset = ready_dataset(alice)
    Dataset.objects.filter(pk=dataset.pk).update(status=JobStatus.RUNNING)
    reporter = JobReporter(running, interval=0)

    assert run_as_step(handler, dataset, reporter.child(0.2, 0.6)) == {"built": dataset.pk}
    assert calls == [{"dataset_id": dataset.pk}]
    assert Dataset.objects.get(pk=dataset.pk).status == JobStatus.SUCCEEDED
    assert progress(running) == pytest.approx(0.6)


@pytest.mark.django_db
def test_a_failing_step_fails_its_row_and_the_job_sees_the_error(running, alice, step_type):
    handler, _, failing = step_type
    failing.append(True)
    dataset = ready_dataset(alice)
    Dataset.objects.filter(pk=dataset.pk).update(status=JobStatus.RUNNING)

    with pytest.raises(InputError, match=exactly("bad dataset")):
        run_as_step(handler, dataset, JobReporter(running, interval=0).child(0.0, 0.5))
    assert Dataset.objects.get(pk=dataset.pk).status == JobStatus.FAILED
    assert progress(running) == pytest.approx(0.25)  # what the step had reached


def test_only_a_registered_handler_runs_as_a_step():
    def stray(job, reporter):
        return {}

    with pytest.raises(LookupError, match=exactly("'stray' is no registered job type's handler")):
        run_as_step(stray, None, None)
