"""Bounded work on real workers: long trainings and a long dataset build are cancelled within 5 s
and the worker takes the next job; a job past its time limit stops the same way; a job past the
worker's memory limit fails as too_large instead of killing the worker; a job cancelled while its
worker was down never runs again.

Real Celery workers over Redis against PostgreSQL; the datasets and feature files are real files.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from datasets.models import Dataset
from jobs.models import Job
from models_app.models import TrainedModel
from taskml import storage
from taskml.pipeline.dataset import DatasetSpec, build_dataset
from taskml.pipeline.windows import WindowSpec
from tests.api.factories import video_row
from tests.pipeline.conftest import feature_frame, write_feature_file
from tests.platform import wait_for
from videos.models import FeatureFile
from videos.services import video_labels_digest

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CANCEL_SECONDS = 5.0
WINDOW = {"window_sec": 2.0, "step_sec": 0.5, "resample_fps": 15.0}


@pytest.fixture(scope="module")
def training_data(tmp_path_factory) -> Path:
    """A built dataset big enough that the fits below take minutes: ~1,800 train windows of 30 frames ×
    109 features (pose and objects), three classes, whole videos per split. (Not more features: one
    LightGBM round, the step between two cancel checks, should stay short on a busy machine.)"""
    root = tmp_path_factory.mktemp("bounded-training")
    paths = [
        write_feature_file(root / f"v{i}.parquet", feature_frame(f"v{i}", seconds=300.0, seed=i, segment_sec=6.0))
        for i in range(5)
    ]
    out = root / "dataset"
    spec = DatasetSpec(window=WindowSpec(**WINDOW), ratios=(0.6, 0.2, 0.2), groups=("pose", "objects"))
    build_dataset(paths, out, spec=spec)
    return out


@pytest.fixture(scope="module")
def long_recording(tmp_path_factory) -> Path:
    """One hour of features at 10 fps (36,000 rows × 243 features)."""
    root = tmp_path_factory.mktemp("bounded-recording")
    frame = feature_frame("hour", seconds=3600.0, seed=3, segment_sec=30.0, nan_fraction=0)
    return write_feature_file(root / "hour.parquet", frame)


@pytest.fixture(scope="module")
def short_recording(tmp_path_factory) -> Path:
    """Five minutes of features at 10 fps: a build from it needs a few MB."""
    root = tmp_path_factory.mktemp("bounded-short")
    return write_feature_file(root / "short.parquet", feature_frame("short", seconds=300.0, seed=4, segment_sec=30.0))


def _dataset_row(owner, source: Path) -> Dataset:
    """A built dataset of ``owner``'s: the files of ``source`` under the data directory, and its row."""
    meta = json.loads((source / "metadata.json").read_text())
    dataset = Dataset.objects.create(
        owner=owner, status="succeeded", window_sec=meta["window_sec"], step_sec=meta["step_sec"], train_ratio=0.6,
        val_ratio=0.2, test_ratio=0.2, params={**WINDOW, "balance_method": "none", "ratios": [0.6, 0.2, 0.2]},
        labels=[meta["idx_to_label"][str(i)] for i in range(len(meta["idx_to_label"]))],
        train_size=meta["train_size"], val_size=meta["val_size"], test_size=meta["test_size"],
        num_features=meta["num_features"],
    )  # fmt: skip
    dataset.path = storage.relative(storage.datasets_dir() / dataset.name)
    dataset.save(update_fields=["path"])
    shutil.copytree(source, storage.absolute(dataset.path))
    return dataset


def _feature_files(owner, recording: Path, copies: int) -> list[FeatureFile]:
    """``copies`` feature files of ``owner``'s, each a copy of ``recording`` for its own video row."""
    files = []
    frames = 36_000 if recording.stem == "hour" else 3_000
    for i in range(copies):
        video = video_row(owner, frames=frames, name=f"{recording.stem}{i}")
        name = f"{recording.stem}{i}_features.parquet"
        path = storage.features_dir(owner.pk) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(recording, path)
        files.append(
            FeatureFile.objects.create(
                owner=owner,
                video=video,
                filename=name,
                path=storage.relative(path),
                detector="mediapipe",
                status="succeeded",
                num_frames=frames,
                num_labeled=frames,
                columns=["t", "label"],
                label_distribution={label: frames // 3 for label in ("assemble", "inspect", "pack")},
                labels_digest=video_labels_digest(video),
                size_bytes=path.stat().st_size,
            )
        )
    return files


def _job(job_id: int) -> Job:
    return Job.objects.get(pk=job_id)


def _ended(job_id: int) -> Job | None:
    job = _job(job_id)
    return job if job.is_terminal else None


def _cancel_when(api, job_id: int, working) -> float:
    """Wait until ``working(job)``, cancel, and return the seconds until the job ended cancelled."""

    def ready():
        job = _job(job_id)
        assert not job.is_terminal, f"the job ended before it could be cancelled: {job.status} {job.error}"
        return working(job)

    wait_for(ready, timeout=240, interval=0.1, what="the job to be deep in its work")
    cancelled_at = time.monotonic()
    r = api.post(f"/api/v1/jobs/{job_id}/cancel/")
    assert r.status_code == 200, r.content
    job = wait_for(lambda: _ended(job_id), timeout=60, interval=0.05, what="the cancelled job to end")
    seconds = time.monotonic() - cancelled_at
    assert job.status == Job.Status.CANCELLED and job.error_kind == "cancelled", job.error
    return seconds


def _train(api, dataset: Dataset, **body) -> dict:
    r = api.post("/api/v1/models/", {"dataset": dataset.pk, **body}, format="json")
    assert r.status_code == 202, r.content
    return r.json()


def _quick_training_succeeds(api, dataset: Dataset) -> None:
    """The worker takes the next job and finishes it."""
    model = _train(api, dataset, model_type="rf", n_estimators=4, max_depth=3)
    job = wait_for(lambda: _ended(model["job"]["id"]), timeout=180, what="the next job to finish")
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert storage.absolute(TrainedModel.objects.get(pk=model["id"]).path).is_file()


LONG_TRAININGS = {
    # each would run for minutes; the fit stage is 0.3..0.9 of train_model's progress
    "rf": ({"model_type": "rf", "n_estimators": 20_000, "max_depth": 6}, lambda job: job.progress >= 0.3),
    "lgbm": ({"model_type": "lgbm", "n_estimators": 20_000}, lambda job: job.progress >= 0.3),
    "lstm": ({"model_type": "lstm", "epochs": 10_000, "patience": 10_000}, lambda job: job.progress >= 0.3),
    # MiniRocket's transform is 0.05..0.3: cancelled while it convolves the train windows
    "minirocket": (
        {"model_type": "ridge", "aggregation": "minirocket", "rocket_features": 20_000},
        lambda job: 0.06 < job.progress < 0.2,
    ),
}


@pytest.mark.parametrize("kind", list(LONG_TRAININGS))
def test_a_long_training_is_cancelled_within_5_s_and_the_worker_takes_the_next_job(
    celery_worker, alice, client_for, training_data, kind
):
    body, fitting = LONG_TRAININGS[kind]
    api = client_for(alice)
    dataset = _dataset_row(alice, training_data)
    model = _train(api, dataset, **body)
    seconds = _cancel_when(api, model["job"]["id"], fitting)
    print(f"{kind}: cancelled after {seconds:.2f} s")
    assert seconds < CANCEL_SECONDS, f"{kind} took {seconds:.1f} s to stop after the cancel"
    row = TrainedModel.objects.get(pk=model["id"])
    assert row.status == "cancelled" and not storage.absolute(row.path).exists()
    _quick_training_succeeds(api, dataset)


def test_a_long_dataset_build_is_cancelled_within_5_s_and_the_worker_takes_the_next_job(
    celery_worker, alice, client_for, long_recording
):
    api = client_for(alice)
    files = _feature_files(alice, long_recording, copies=6)
    body = {"feature_files": [f.filename for f in files], "window_sec": 2, "step_sec": 1, "resample_fps": 5}
    r = api.post("/api/v1/datasets/", body, format="json")
    assert r.status_code == 202, r.content
    dataset = r.json()
    seconds = _cancel_when(api, dataset["job"]["id"], lambda job: job.progress >= 0.1)  # filling the arrays
    print(f"dataset build: cancelled after {seconds:.2f} s")
    assert seconds < CANCEL_SECONDS, f"the build took {seconds:.1f} s to stop after the cancel"
    row = Dataset.objects.get(pk=dataset["id"])
    output = storage.absolute(row.path)
    assert row.status == "cancelled" and not output.exists()
    assert not list(output.parent.glob(f".{output.name}.*"))  # no temporary left behind

    r = api.post(
        "/api/v1/datasets/", {**body, "feature_files": body["feature_files"][:1], "step_sec": 60}, format="json"
    )
    assert r.status_code == 202, r.content
    job = wait_for(lambda: _ended(r.json()["job"]["id"]), timeout=120, what="the next build to finish")
    assert job.status == Job.Status.SUCCEEDED, job.error


def test_a_training_past_its_time_limit_stops_between_fit_steps(alice, client_for, training_data, start_worker):
    start_worker("limited", TASKML_TRAINING_TIME_LIMIT="6")
    api = client_for(alice)
    dataset = _dataset_row(alice, training_data)
    model = _train(api, dataset, model_type="rf", n_estimators=20_000, max_depth=6)
    job = wait_for(lambda: _ended(model["job"]["id"]), timeout=120, what="the training to time out")
    assert job.status == Job.Status.FAILED and job.error_kind == "timeout", job.error
    assert job.error == "timed out after 6 s"
    assert job.attempts == 1 and job.seconds < 6 + CANCEL_SECONDS, job.seconds  # not the hard limit's kill
    assert TrainedModel.objects.get(pk=model["id"]).status == "failed"
    _quick_training_succeeds(api, dataset)


def test_a_job_past_the_worker_memory_limit_fails_as_too_large_and_is_not_run_again(
    alice, client_for, long_recording, short_recording, start_worker, settings
):
    worker = start_worker("small", TASKML_WORKER_MAX_MEMORY_MB="100")
    api = client_for(alice)
    files = _feature_files(alice, long_recording, copies=4)  # ~140 MB of arrays: within TASKML_MAX_DATASET_MB
    body = {"feature_files": [f.filename for f in files], "window_sec": 2, "step_sec": 1, "resample_fps": 5}
    r = api.post("/api/v1/datasets/", body, format="json")
    assert r.status_code == 202, r.content
    job_id = r.json()["job"]["id"]
    job = wait_for(lambda: _ended(job_id), timeout=120, what="the build to fail")
    assert job.status == Job.Status.FAILED and job.error_kind == "too_large", job.error
    assert job.error.startswith("too large: the job grew its worker by ")
    assert "more than one job may use (100.0 MiB, TASKML_WORKER_MAX_MEMORY_MB)" in job.error
    time.sleep(settings.TASKML_JOB_STALE_SECONDS + 2)  # long enough for the reaper to re-queue a dead worker's job
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED and job.attempts == 1
    worker.check_alive()

    small = [f.filename for f in _feature_files(alice, short_recording, copies=1)]
    r = api.post("/api/v1/datasets/", {**body, "feature_files": small}, format="json")
    assert r.status_code == 202, r.content
    done = wait_for(lambda: _ended(r.json()["job"]["id"]), timeout=120, what="the next build to finish")
    assert done.status == Job.Status.SUCCEEDED, done.error
    worker.check_alive()


def test_a_job_cancelled_while_its_worker_was_down_never_runs_again(
    alice, client_for, training_data, start_worker, settings
):
    first = start_worker("first")
    api = client_for(alice)
    dataset = _dataset_row(alice, training_data)
    model = _train(api, dataset, model_type="rf", n_estimators=20_000, max_depth=6)
    job_id = model["job"]["id"]
    wait_for(lambda: _job(job_id).progress >= 0.3, timeout=120, what="the training to be fitting")
    first.kill()  # the machine stops (make run stopped, a crash) while the job runs
    r = api.post(f"/api/v1/jobs/{job_id}/cancel/")  # accepted; nobody is running it to notice
    assert r.status_code == 200 and r.json()["status"] == "running" and r.json()["cancel_requested"]

    second = start_worker("second")  # the next start
    job = wait_for(lambda: _ended(job_id), timeout=settings.TASKML_JOB_STALE_SECONDS * 5, what="the reaper")
    assert job.status == Job.Status.CANCELLED and job.attempts == 1
    time.sleep(2)
    assert f"job {job_id} (training) started" not in second.log()
    assert Job.objects.get(pk=job_id).attempts == 1
    assert TrainedModel.objects.get(pk=model["id"]).status == "cancelled"
