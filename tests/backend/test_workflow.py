"""The existing workflow through /backend/: upload with labels → build dataset → train, on a real worker."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from tests.conftest import MEGAMIND_LABELS

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_upload_build_train_through_backend(celery_worker, alice, client_for, megamind):
    api = client_for(alice)
    with open(megamind, "rb") as video, open(MEGAMIND_LABELS, "rb") as labels:
        r = api.post(
            "/backend/upload_and_extract_features",
            {"video": video, "labels_csv": labels, "video_id": "mega", "detector_type": "fusion", "sample_rate": "1"},
            format="multipart",
        )
    assert r.status_code == 200, r.content
    up = r.json()
    assert up["status"] == "success"
    assert up["video_id"] == "mega"
    assert up["num_frames"] == 269 or up["num_frames"] == 270
    assert up["num_labeled"] > 200
    assert {"frame_index", "t", "label", "right_elbow_angle"} <= set(up["columns"])
    assert up["feature_file"].endswith(".parquet")
    assert (Path(settings.DATA_DIR) / "uploads" / str(alice.pk) / up["video_file"]).is_file()

    listed = api.get("/backend/features").json()["features"]
    assert [f["filename"] for f in listed] == [up["feature_file"]]
    detail = api.get(f"/backend/features/{up['feature_file']}").json()
    assert detail["has_labels"] is True
    assert set(detail["label_distribution"]) == {"holding_glass", "talking"}
    assert sum(detail["label_distribution"].values()) == up["num_labeled"]

    r = api.post(
        "/backend/build_task_dataset",
        {"feature_files": up["feature_file"], "window_sec": "1.0", "step_sec": "0.25", "balance_method": "none",
         "train_ratio": "0.5", "val_ratio": "0.25", "test_ratio": "0.25"},
    )  # fmt: skip
    assert r.status_code == 200, r.content
    ds = r.json()
    assert ds["dataset_dir"] == f"dataset_{ds['dataset_id']}"
    assert ds["labels"] == ["holding_glass", "talking"]
    assert ds["train_size"] > 0 and ds["test_size"] > 0
    assert (Path(settings.DATA_DIR) / "processed" / "datasets" / ds["dataset_dir"] / "metadata.json").is_file()
    assert [d["dataset_dir"] for d in api.get("/backend/datasets").json()["datasets"]] == [ds["dataset_dir"]]

    r = api.post(
        "/backend/train_task_model", {"dataset_dir": ds["dataset_dir"], "model_type": "rf", "n_estimators": "50"}
    )
    assert r.status_code == 200, r.content
    model = r.json()
    assert model["model_path"] == f"task_classifier_rf_{model['model_id']}.pkl"
    assert model["model_type"] == "rf"
    assert 0.0 <= model["metrics"]["accuracy"] <= 1.0
    assert (Path(settings.DATA_DIR) / "mlruns" / "models" / model["model_path"]).is_file()
    models = api.get("/backend/models").json()["models"]
    assert [m["filename"] for m in models] == [model["model_path"]]
    assert models[0]["accuracy"] == model["metrics"]["accuracy"]
    assert set(models[0]) >= {"filename", "path", "size_mb", "created", "accuracy", "f1_macro"}
