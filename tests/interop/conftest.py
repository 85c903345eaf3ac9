"""A model trained on real Megamind features, and Megamind uploaded through the API (so its
clock is probed), shared by the predictions and the Label Studio tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.api.factories import upload
from tests.conftest import MEGAMIND_LABELS


class NoReporter:
    def stage(self, name, progress=None):
        pass

    def __call__(self, done, total):
        pass


def run_here_or_wait(job_id: int, handler) -> None:
    """Run a job in this process.

    In a test transaction nothing commits, so no worker ever hears of the job: the handler runs
    directly and the target row is marked as the job runner would. A transactional test commits,
    so a test worker of this session may take the job too: then it is claimed and run as a worker
    would (heartbeating), or waited for when that worker claimed it first.
    """
    from django.db import connection

    from jobs.models import Job
    from jobs.services import _set_target_status, job_run, job_wait

    job = Job.objects.get(pk=job_id)
    if connection.in_atomic_block:
        handler(job, NoReporter())
        _set_target_status(job, Job.Status.SUCCEEDED)
        return
    finished = job_run(job_id=job_id, handler=handler, worker="interop@test")
    job = finished or job_wait(job=job, timeout=600)
    assert job.status == "succeeded", f"job {job_id}: {job.status} {job.error}"


@pytest.fixture(scope="session")
def mega_features(megamind, tmp_path_factory, model_cache) -> Path:
    """Megamind.avi through the real MediaPipe detectors, once per test session."""
    from taskml.pipeline.detectors import DetectorConfig
    from taskml.pipeline.extraction import extract_features

    out = tmp_path_factory.mktemp("interop") / "mega.parquet"
    extract_features(megamind, out, config=DetectorConfig(kind="mediapipe", cache_dir=model_cache), video_id="mega")
    return out


def trained_on_megamind(owner, client, *, megamind: Path, mega_features: Path):
    """(video json, TrainedModel): Megamind uploaded with its labels, its features, an rf model."""
    from datasets.services import dataset_build
    from models_app.models import TrainedModel
    from models_app.services import trained_model_train
    from taskml import storage
    from videos.models import FeatureFile

    response = client.post(
        "/api/v1/videos/", {"video": upload(megamind), "labels_csv": upload(MEGAMIND_LABELS)}, format="multipart"
    )
    assert response.status_code == 201, response.content
    video = response.json()
    path = storage.features_dir(owner.pk) / f"mega{video['id']}_features.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(mega_features, path)
    table = pq.read_table(path)
    FeatureFile.objects.create(
        owner=owner, video_id=video["id"], filename=path.name, path=storage.relative(path), detector="mediapipe",
        status="succeeded", num_frames=table.num_rows, columns=table.column_names, labels_digest="",
    )  # fmt: skip
    body = {"feature_files": [path.name], "window_sec": 1.0, "step_sec": 0.25, "train_ratio": 0.5,
            "val_ratio": 0.25, "test_ratio": 0.25}  # fmt: skip
    r = client.post("/api/v1/datasets/", body, format="json")
    assert r.status_code == 202, r.content
    run_here_or_wait(r.json()["job"]["id"], dataset_build)
    r = client.post("/api/v1/models/", {"dataset": r.json()["id"], "model_type": "rf", "n_estimators": 30},
                    format="json")  # fmt: skip
    assert r.status_code == 202, r.content
    run_here_or_wait(r.json()["job"]["id"], trained_model_train)
    model = TrainedModel.objects.get(pk=r.json()["id"])
    assert model.status == "succeeded" and model.sha256
    return video, model
