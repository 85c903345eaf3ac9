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
    from datasets.models import Dataset
    from datasets.services import dataset_build
    from jobs.models import Job
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
    dataset_build(Job.objects.get(pk=r.json()["job"]["id"]), NoReporter())
    Dataset.objects.filter(pk=r.json()["id"]).update(status="succeeded")  # as the job runner would
    r = client.post("/api/v1/models/", {"dataset": r.json()["id"], "model_type": "rf", "n_estimators": 30},
                    format="json")  # fmt: skip
    assert r.status_code == 202, r.content
    trained_model_train(Job.objects.get(pk=r.json()["job"]["id"]), NoReporter())
    TrainedModel.objects.filter(pk=r.json()["id"]).update(status="succeeded")
    model = TrainedModel.objects.get(pk=r.json()["id"])
    assert model.sha256
    return video, model
