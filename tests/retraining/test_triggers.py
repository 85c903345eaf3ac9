"""Triggers: the label threshold (the beat task's function, and a real `celery beat` process), schedules."""

from __future__ import annotations

import json
import sys
import time

import pytest

from tests.platform import Service, purge_broker, wait_for, worker_env
from tests.retraining.conftest import SPANS, policy_body, wait_run

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _policy(owner, make_video, prefix: str, **extra):
    from retraining.services import retrain_policy_create

    a, b, c, held = (make_video(owner, f"{prefix}_{n}") for n in ("a", "b", "c", "h"))
    body = policy_body([a, b, c], [held], **extra)
    body.pop("training_videos"), body.pop("holdout_videos")
    return retrain_policy_create(owner=owner, training_videos=[a, b, c], holdout_videos=[held], **body), (a, b, c, held)


def _add_spans(video, count: int) -> None:
    from videos.services import label_span_update

    for span in list(video.label_spans.order_by("start_frame"))[:count]:
        label_span_update(span=span, end_frame=span.end_frame - 1)


def test_threshold_starts_exactly_one_run(celery_worker, alice, make_video):
    from retraining.models import RetrainRun
    from retraining.services import retrain_thresholds_check

    policy, (a, b, _, held) = _policy(alice, make_video, "th", min_new_labels=3)
    # The spans the videos were made with predate the policy: nothing is new yet.
    assert retrain_thresholds_check() == []
    _add_spans(a, 2)
    _add_spans(held, 4)  # held-out labels never count: that video is not trained on
    assert retrain_thresholds_check() == []
    _add_spans(b, 1)
    started = retrain_thresholds_check()
    assert len(started) == 1
    assert retrain_thresholds_check() == []  # the run is in progress: no second one
    run = wait_run(started[0])
    assert run.trigger == "threshold" and run.new_labels == 3 and run.decision == "promoted"
    assert retrain_thresholds_check() == []  # its labels were consumed by that run
    assert RetrainRun.objects.filter(policy=policy).count() == 1


def test_a_real_beat_process_triggers_one_run(celery_worker, alice, make_video, tmp_path):
    """`celery beat` with django-celery-beat's database scheduler, a 1 s interval, against the test database."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    from retraining.models import RetrainRun
    from retraining.services import BEAT_QUEUE, THRESHOLD_BEAT_NAME, THRESHOLD_TASK

    policy, (a, *_rest) = _policy(alice, make_video, "beat", min_new_labels=2)
    # The policy created the threshold check's periodic task (every 60 s); tick every second here.
    task = PeriodicTask.objects.get(name=THRESHOLD_BEAT_NAME)
    assert (task.task, task.queue) == (THRESHOLD_TASK, BEAT_QUEUE)
    task.interval, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
    task.save()
    _add_spans(a, 2)
    beat = Service(
        "beat",
        [sys.executable, "-m", "celery", "-A", "taskml.celery", "beat", "-S",
         "django_celery_beat.schedulers:DatabaseScheduler", "-l", "info", "--pidfile", str(tmp_path / "beat.pid")],
        tmp_path,
        worker_env(),
    )  # fmt: skip
    try:
        run = wait_for(
            lambda: RetrainRun.objects.filter(policy=policy).first(), timeout=120, what="a run started by beat"
        )
        wait_run(run.pk)
        time.sleep(4)  # several more ticks: nothing new to train on, so no second run
        beat.check_alive()
        assert "Sending due task" in beat.log() and THRESHOLD_BEAT_NAME in beat.log()
    finally:
        beat.stop()
        # Ticks sent while the run trained may still wait for the worker: drop them, and let the one
        # in hand finish, so that the database is not flushed under it.
        purge_broker()
        time.sleep(2)
    assert RetrainRun.objects.filter(policy=policy).count() == 1
    assert RetrainRun.objects.get(policy=policy).trigger == "threshold"


def test_schedule_is_a_periodic_task_kept_in_step_with_the_policy(alice, make_video):
    from django_celery_beat.models import PeriodicTask

    from retraining.services import SCHEDULED_TASK, retrain_policy_delete, retrain_policy_update, retrain_scheduled

    policy, _ = _policy(alice, make_video, "sch", schedule_interval_seconds=3600)
    task = PeriodicTask.objects.get(pk=policy.periodic_task_id)
    assert task.task == SCHEDULED_TASK and json.loads(task.kwargs) == {"policy_id": policy.pk}
    assert task.interval.every == 3600 and task.crontab is None and task.enabled
    policy = retrain_policy_update(policy=policy, schedule_interval_seconds=None, schedule_crontab="30 2 * * 1")
    task.refresh_from_db()
    assert task.interval is None and (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week) == (
        "30",
        "2",
        "1",
    )
    policy = retrain_policy_update(policy=policy, enabled=False)
    task.refresh_from_db()
    assert not task.enabled
    assert retrain_scheduled(policy_id=policy.pk) is None  # a disabled policy's tick starts nothing
    policy = retrain_policy_update(policy=policy, enabled=True)
    run_id = retrain_scheduled(policy_id=policy.pk)
    assert run_id is not None and retrain_scheduled(policy_id=policy.pk) is None  # one at a time
    policy = retrain_policy_update(policy=policy, schedule_crontab="")
    assert policy.periodic_task is None and not PeriodicTask.objects.filter(pk=task.pk).exists()
    retrain_policy_update(policy=policy, schedule_interval_seconds=60)
    policy.refresh_from_db()
    kept = policy.periodic_task_id
    retrain_policy_delete(policy=policy)
    assert not PeriodicTask.objects.filter(pk=kept).exists()
    assert SPANS  # (the videos carried Megamind's spans)
