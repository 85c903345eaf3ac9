"""/backend/ answers JSON bodies like forms, and refuses what would only fail later inside a job."""

from __future__ import annotations

import pytest

from datasets.models import Dataset
from models_app.models import TrainedModel
from tests.api.factories import ready_dataset, ready_feature_file

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def wait_zero(settings):
    settings.TASKML_BACKEND_WAIT_SECONDS = 0  # no worker here: accepted requests answer 202 at once


def test_json_bodies_with_numbers_are_accepted(alice, client_for):
    ready_feature_file(alice)
    api = client_for(alice)
    r = api.post(
        "/backend/build_task_dataset",
        {"feature_files": "clip_features.parquet", "window_sec": 1, "step_sec": 0.25, "train_ratio": 0.5,
         "val_ratio": 0.25, "test_ratio": 0.25, "seed": 7},
        format="json",
    )  # fmt: skip
    assert r.status_code == 202, r.content
    dataset = Dataset.objects.get()
    assert (dataset.window_sec, dataset.step_sec, dataset.train_ratio, dataset.params["seed"]) == (1.0, 0.25, 0.5, 7)

    Dataset.objects.filter(pk=dataset.pk).update(status="succeeded", labels=["a", "b"])
    r = api.post(
        "/backend/train_task_model",
        {"dataset_dir": dataset.name, "model_type": "lgbm", "n_estimators": 20, "max_depth": 3, "learning_rate": 0.05},
        format="json",
    )
    assert r.status_code == 202, r.content
    assert TrainedModel.objects.get().params == {"n_estimators": 20, "max_depth": 3, "learning_rate": 0.05, "seed": 42}


@pytest.mark.parametrize(
    "cv,answer",
    [
        ("3", 202),
        ("0", 202),
        ("1", "cv: must be between 2 and 20 folds (or 0 for none), got 1"),
        ("21", "cv: must be between 0 and 20, got 21"),
        ("2.5", "cv: "),
    ],
)
def test_train_task_model_takes_cross_validation_folds(alice, client_for, cv, answer):
    dataset = ready_dataset(alice)
    r = client_for(alice).post("/backend/train_task_model", {"dataset_dir": dataset.name, "model_type": "rf", "cv": cv})
    if answer == 202:
        assert r.status_code == 202, r.content
        stored = TrainedModel.objects.get().params
        assert stored.get("cv") == (int(cv) or None), stored
    else:
        assert r.status_code == 400, r.content
        assert r.json()["alert"].startswith(answer), r.json()
        assert not TrainedModel.objects.exists()


@pytest.mark.parametrize(
    "body,field",
    [
        ({"feature_files": ["clip_features.parquet"]}, "feature_files"),
        ({"feature_files": "clip_features.parquet", "window_sec": True}, "window_sec"),
        ({"feature_files": "clip_features.parquet", "window_sec": {"a": 1}}, "window_sec"),
        ({"feature_files": "clip_features.parquet", "seed": 2.5}, "seed"),
    ],
)
def test_json_values_of_the_wrong_kind_name_the_field(alice, client_for, body, field):
    ready_feature_file(alice)
    r = client_for(alice).post("/backend/build_task_dataset", body, format="json")
    assert r.status_code == 400, r.content
    assert r.json()["alert"].startswith(f"{field}: ")


@pytest.mark.parametrize("seed", ["-1", str(2**32), "99999999999999999999"])
def test_seeds_the_pipeline_cannot_take_are_refused_up_front(alice, client_for, seed):
    ready_feature_file(alice)
    r = client_for(alice).post("/backend/build_task_dataset", {"feature_files": "clip_features.parquet", "seed": seed})
    assert r.status_code == 400, r.content
    assert r.json()["alert"].startswith("seed: ")
    assert not Dataset.objects.exists()


@pytest.mark.parametrize("field,value", [("seed", -1), ("seed", 2**32), ("min_purity", 0), ("min_purity", 1.5)])
def test_api_build_and_train_refuse_out_of_range_values(alice, client_for, field, value):
    ready_feature_file(alice)
    api = client_for(alice)
    r = api.post("/api/v1/datasets/", {"feature_files": ["clip_features.parquet"], field: value}, format="json")
    assert r.status_code == 400 and field in r.json(), r.content
    if field == "seed":
        dataset = ready_dataset(alice)
        r = api.post("/api/v1/models/", {"dataset": dataset.pk, "model_type": "rf", "seed": value}, format="json")
        assert r.status_code == 400 and "seed" in r.json(), r.content
    assert not TrainedModel.objects.exists()


def test_trailing_slashes_are_optional(alice, client_for):
    api = client_for(alice)
    for url in ["/backend/features", "/backend/features/", "/backend/datasets/", "/backend/models/"]:
        assert api.get(url).status_code == 200, url
    r = api.post("/backend/build_task_dataset/", {"feature_files": "nothing.parquet"})
    assert r.status_code == 404 and r.json()["alert"].startswith("feature_files: ")
