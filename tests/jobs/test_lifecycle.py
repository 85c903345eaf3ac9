"""A job's life on real components: cancel (pending and running), fail and retry, progress, the
/backend/ 202 answer, the soft time limit and an unreachable broker.

Real Celery workers over the Redis broker against the PostgreSQL test database; outputs are
checked on disk.
"""

from __future__ import annotations

import shutil
import time

import pytest

from jobs.models import Job
from taskml import storage
from taskml.pipeline.files import sha256_file
from tests.jobs.conftest import extract, upload
from tests.platform import purge_broker, queue_length, wait_for
from videos.models import FeatureFile, Video

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _ended(job_id: int) -> Job | None:
    job = Job.objects.get(pk=job_id)
    return job if job.is_terminal else None


def _output(feature_file: dict):
    return storage.absolute(FeatureFile.objects.get(pk=feature_file["id"]).path)


def _no_temporaries(path) -> bool:
    return not path.parent.is_dir() or not list(path.parent.glob(".*.tmp"))


def test_cancelled_pending_job_is_skipped_when_a_worker_gets_to_it(alice, client_for, megamind, start_worker):
    purge_broker()
    api = client_for(alice)
    video = upload(api, megamind)
    feature_file = extract(api, video, detector="mediapipe", sample_rate=2)
    job_id = feature_file["job"]["id"]
    assert feature_file["status"] == "pending"
    assert queue_length("extraction") == 1  # nobody is consuming: the message waits

    r = api.post(f"/api/v1/jobs/{job_id}/cancel/")
    assert r.status_code == 200, r.content
    assert r.json()["status"] == "cancelled"
    assert r.json()["error_kind"] == "cancelled"
    assert FeatureFile.objects.get(pk=feature_file["id"]).status == "cancelled"
    assert api.post(f"/api/v1/jobs/{job_id}/cancel/").status_code == 409  # already ended

    worker = start_worker("late")
    wait_for(lambda: queue_length("extraction") == 0, timeout=60, what="the worker to take the message")
    wait_for(lambda: f"job {job_id} is not runnable here" in worker.log(), timeout=60, what="the worker to skip it")
    job = Job.objects.get(pk=job_id)
    assert job.status == Job.Status.CANCELLED
    assert job.attempts == 0 and job.started_at is None and job.worker == ""
    assert FeatureFile.objects.get(pk=feature_file["id"]).status == "cancelled"
    assert not _output(feature_file).exists()


def test_progress_is_reported_and_a_running_job_stops_when_cancelled(celery_worker, alice, client_for, megamind):
    api = client_for(alice)
    video = upload(api, megamind)
    feature_file = extract(api, video, detector="mediapipe", sample_rate=1)
    job_id = feature_file["job"]["id"]

    seen: list[tuple[str, float]] = []

    def midway():
        job = Job.objects.get(pk=job_id)
        assert not job.is_terminal, f"the extraction ended before it was caught: {job.status} {job.error}"
        seen.append((job.stage, job.progress))
        return job if job.status == Job.Status.RUNNING and 0.0 < job.progress < 1.0 else None

    job = wait_for(midway, timeout=120, interval=0.1, what="progress between 0 and 1")
    assert job.stage == "extracting"
    assert job.heartbeat_at is not None and job.started_at is not None and job.attempts == 1
    from_api = api.get(f"/api/v1/jobs/{job_id}/").json()
    assert from_api["status"] == "running" and from_api["stage"] == "extracting" and from_api["progress"] > 0

    cancelled_at = time.monotonic()
    r = api.post(f"/api/v1/jobs/{job_id}/cancel/")
    assert r.status_code == 200, r.content
    assert r.json()["cancel_requested"] is True
    job = wait_for(lambda: _ended(job_id), timeout=60, what="the cancelled job to stop")
    assert time.monotonic() - cancelled_at < 15, "the worker took long to notice the cancel"
    assert job.status == Job.Status.CANCELLED
    assert job.error == "cancelled on request" and job.error_kind == "cancelled"
    assert 0.0 < job.progress < 1.0, "a cancelled job keeps the progress it had reached"
    assert job.finished_at is not None
    assert FeatureFile.objects.get(pk=feature_file["id"]).status == "cancelled"
    output = _output(feature_file)
    assert not output.exists()
    assert _no_temporaries(output)
    assert api.post(f"/api/v1/jobs/{job_id}/cancel/").status_code == 409


def test_failed_job_keeps_its_error_and_its_retry_succeeds(celery_worker, alice, client_for, megamind):
    api = client_for(alice)
    video = upload(api, megamind)
    stored = storage.absolute(Video.objects.get(pk=video["id"]).file)
    stored.unlink()  # lost from disk after the upload: the job fails for a reason the user can fix

    feature_file = extract(api, video, detector="mediapipe", sample_rate=2)
    job_id = feature_file["job"]["id"]
    failed = wait_for(lambda: _ended(job_id), timeout=120, what="the extraction to fail")
    assert failed.status == Job.Status.FAILED
    assert failed.error_kind == "input"
    assert stored.name in failed.error and "not found" in failed.error
    assert FeatureFile.objects.get(pk=feature_file["id"]).status == "failed"
    assert api.post(f"/api/v1/jobs/{job_id}/cancel/").status_code == 409

    shutil.copyfile(megamind, stored)
    r = api.post(f"/api/v1/jobs/{job_id}/retry/")
    assert r.status_code == 202, r.content
    retry = r.json()
    assert r["Location"] == retry["url"]
    assert retry["id"] != job_id
    assert retry["retry_of"] == job_id
    assert retry["inputs"] == failed.inputs
    assert retry["target"] == {"type": "featurefile", "id": feature_file["id"]}

    done = wait_for(lambda: _ended(retry["id"]), timeout=120, what="the retry to finish")
    assert done.status == Job.Status.SUCCEEDED, done.error
    original = Job.objects.get(pk=job_id)
    assert original.status == Job.Status.FAILED and original.error == failed.error  # keeps its error
    row = FeatureFile.objects.get(pk=feature_file["id"])
    assert row.status == "succeeded" and row.job_id == retry["id"]
    output = _output(feature_file)
    assert output.is_file() and row.sha256 == sha256_file(output)
    assert FeatureFile.objects.filter(video_id=video["id"]).count() == 1
    assert api.post(f"/api/v1/jobs/{retry['id']}/retry/").status_code == 409  # succeeded jobs are not retried


def test_backend_answers_202_with_the_job_url_then_the_job_completes(
    celery_worker, alice, client_for, megamind, settings
):
    settings.TASKML_BACKEND_WAIT_SECONDS = 0.5
    api = client_for(alice)
    with open(megamind, "rb") as handle:
        r = api.post(
            "/backend/upload_and_extract_features",
            {"video": handle, "detector_type": "mediapipe", "sample_rate": "2"},
            format="multipart",
        )
    assert r.status_code == 202, r.content
    body = r.json()
    assert body["status"] in ("pending", "running")
    assert body["feature_file"].endswith(".parquet")
    assert body["job_url"].endswith(f"/api/v1/jobs/{body['job_id']}/")
    assert r["Location"] == body["job_url"]

    path = body["job_url"].removeprefix("http://testserver")
    job = wait_for(
        lambda: (j := api.get(path).json())["status"] in ("succeeded", "failed", "cancelled") and j,
        timeout=120,
        what="the job behind the 202 to finish",
    )
    assert job["status"] == "succeeded", job["error"]
    assert job["outputs"]["feature_file"] == body["feature_file"]
    detail = api.get(f"/backend/features/{body['feature_file']}").json()
    assert detail["status"] == "succeeded" and detail["num_frames"] > 100
    assert storage.absolute(FeatureFile.objects.get(filename=body["feature_file"]).path).is_file()


def test_job_past_its_soft_time_limit_fails_as_timed_out(alice, client_for, megamind, start_worker):
    start_worker("limited", TASKML_EXTRACTION_TIME_LIMIT="2")
    api = client_for(alice)
    video = upload(api, megamind)
    feature_file = extract(api, video, detector="mediapipe", sample_rate=1)
    job = wait_for(lambda: _ended(feature_file["job"]["id"]), timeout=120, what="the extraction to time out")
    assert job.status == Job.Status.FAILED
    assert job.error == "timed out after 2 s"
    assert job.error_kind == "timeout"
    assert job.attempts == 1
    assert FeatureFile.objects.get(pk=feature_file["id"]).status == "failed"
    output = _output(feature_file)
    assert not output.exists()
    assert _no_temporaries(output)


def test_unreachable_broker_fails_the_job_with_a_message(alice, client_for, megamind, monkeypatch):
    from taskml.celery import app

    api = client_for(alice)
    video = upload(api, megamind)
    saved = app._pool, app.amqp._producer_pool
    # Celery reads CELERY_BROKER_URL from the environment before its configuration; the pools
    # are dropped so the next message connects afresh, to a port nothing listens on.
    with monkeypatch.context() as patched:
        patched.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:9/0")
        app._pool = app.amqp._producer_pool = None
        try:
            feature_file = extract(api, video, detector="mediapipe", sample_rate=2)
        finally:
            app._pool, app.amqp._producer_pool = saved
    assert feature_file["status"] == "failed"
    job = Job.objects.get(pk=feature_file["job"]["id"])
    assert job.status == Job.Status.FAILED
    assert job.error.startswith("could not reach the job queue:")
    assert job.error_kind == "internal"
    assert FeatureFile.objects.get(pk=feature_file["id"]).status == "failed"
