"""Dataset, model and job requests refused before any job runs: each names its field.

Rows stand for what finished jobs would have produced; with the `db` fixture nothing commits,
so accepted requests only create pending rows and never reach the broker.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.conf import settings

from datasets.models import Dataset
from jobs.models import Job
from models_app.models import TrainedModel
from tests.api.factories import job_row, ready_dataset, ready_feature_file, ready_model, video_row
from videos.models import FeatureFile, Video

pytestmark = pytest.mark.django_db


@pytest.fixture
def wait_zero(settings):
    settings.TASKML_BACKEND_WAIT_SECONDS = 0


@pytest.fixture
def clip_features(alice):
    return ready_feature_file(alice)


def backend_error(r, code: int, field: str) -> str:
    assert r.status_code == code, r.content
    body = r.json()
    assert body["status"] == "error"
    assert body["alert"].startswith(f"{field}: "), body
    return body["alert"]


def api_error(r, code: int, field: str) -> str:
    assert r.status_code == code, r.content
    text = json.dumps(r.json())
    assert field in r.json() or f"{field}: " in r.json().get("detail", ""), text
    return text


# ---------------------------------------------------------------- datasets

BUILD_DEFAULTS = {"feature_files": "clip_features.parquet", "window_sec": "1.0", "step_sec": "0.5"}


@pytest.mark.parametrize(
    "fields,code,field,words",
    [
        ({"feature_files": ""}, 400, "feature_files", []),
        ({"feature_files": " , "}, 400, "feature_files", []),
        ({"feature_files": "../clip_features.parquet"}, 400, "feature_files", ["not a path"]),
        ({"feature_files": "1/clip_features.parquet"}, 400, "feature_files", ["not a path"]),
        ({"feature_files": "..\\clip_features.parquet"}, 400, "feature_files", ["not a path"]),
        ({"feature_files": "clip_features.parquet,.."}, 400, "feature_files", []),
        ({"feature_files": "clip_features.parquet,missing.parquet"}, 404, "feature_files", ["missing.parquet"]),
        ({"window_sec": "two"}, 400, "window_sec", ["not a number"]),
        ({"window_sec": "-1"}, 400, "window_sec", ["between 0.01 and 3600"]),
        ({"window_sec": "nan"}, 400, "window_sec", []),
        ({"window_sec": "inf"}, 400, "window_sec", []),
        ({"step_sec": "0"}, 400, "step_sec", []),
        ({"balance_method": "magic"}, 400, "balance_method", ["magic"]),
        ({"train_ratio": "0.5", "val_ratio": "0.3", "test_ratio": "0.3"}, 400, "train_ratio", ["sum to 1"]),
        ({"train_ratio": "0.2", "val_ratio": "0.1", "test_ratio": "0.1"}, 400, "train_ratio", ["sum to 1"]),
        ({"train_ratio": "most"}, 400, "train_ratio", ["not a number"]),
        ({"val_ratio": "1.5"}, 400, "val_ratio", []),
        ({"test_ratio": "-0.1"}, 400, "test_ratio", []),
        ({"seed": "x"}, 400, "seed", []),
    ],
)
def test_backend_build_refuses_bad_fields(alice, client_for, clip_features, fields, code, field, words):
    r = client_for(alice).post("/backend/build_task_dataset", {**BUILD_DEFAULTS, **fields})
    alert = backend_error(r, code, field)
    for word in words:
        assert word in alert
    assert not Dataset.objects.exists()


@pytest.mark.parametrize(
    "fields,code,field",
    [
        ({"feature_files": []}, 400, "feature_files"),
        ({"feature_files": "clip_features.parquet"}, 400, "feature_files"),  # a list, not a string
        ({"feature_files": ["../clip_features.parquet"]}, 400, "feature_files"),
        ({"feature_files": ["missing.parquet"]}, 404, "feature_files"),
        ({"window_sec": "two"}, 400, "window_sec"),
        ({"window_sec": 0}, 400, "window_sec"),
        ({"balance_method": "magic"}, 400, "balance_method"),
        ({"train_ratio": 0.5, "val_ratio": 0.3, "test_ratio": 0.3}, 400, "train_ratio"),
        ({"groups": ["teeth"]}, 400, "groups"),
        ({"splits": {"clip": "holdout"}}, 400, "splits"),
    ],
)
def test_api_dataset_create_refuses_bad_fields(alice, client_for, clip_features, fields, code, field):
    data = {"feature_files": ["clip_features.parquet"], "window_sec": 1.0, **fields}
    api_error(client_for(alice).post("/api/v1/datasets/", data, format="json"), code, field)
    assert not Dataset.objects.exists()


@pytest.mark.parametrize("endpoint", ["backend", "api"])
@pytest.mark.parametrize(
    "changes,words",
    [
        ({"label_distribution": {"only": 20}}, ["one class", "only"]),
        ({"status": "running"}, ["not extracted"]),
        ({"label_distribution": {}, "num_labeled": 0}, ["no labelled"]),
    ],
)
def test_feature_files_that_cannot_make_a_dataset(alice, client_for, endpoint, changes, words):
    FeatureFile.objects.filter(pk=ready_feature_file(alice).pk).update(**changes)
    if endpoint == "backend":
        r = client_for(alice).post("/backend/build_task_dataset", {"feature_files": "clip_features.parquet"})
        message = backend_error(r, 400, "feature_files")
    else:
        r = client_for(alice).post("/api/v1/datasets/", {"feature_files": ["clip_features.parquet"]}, format="json")
        message = api_error(r, 400, "feature_files")
    for word in words:
        assert word in message
    assert not Dataset.objects.exists()


def test_a_feature_file_named_twice_is_used_once(alice, client_for, clip_features, wait_zero):
    api = client_for(alice)
    r = api.post("/backend/build_task_dataset", {"feature_files": "clip_features.parquet, clip_features.parquet"})
    assert r.status_code == 202, r.content
    r = api.post("/api/v1/datasets/", {"feature_files": ["clip_features.parquet"] * 2}, format="json")
    assert r.status_code == 202, r.content
    assert r.json()["feature_files"] == ["clip_features.parquet"]
    assert [list(d.sources.all()) for d in Dataset.objects.all()] == [[clip_features], [clip_features]]


def test_accepted_builds_answer_202_with_their_job(alice, client_for, clip_features, wait_zero):
    api = client_for(alice)
    r = api.post("/backend/build_task_dataset", {**BUILD_DEFAULTS, "balance_method": "downsample"})
    assert r.status_code == 202, r.content
    body = r.json()
    assert body["dataset_dir"] == f"dataset_{body['dataset_id']}" and body["status"] == "pending"
    assert api.get(body["job_url"]).json()["kind"] == "dataset"

    r = api.post("/api/v1/datasets/", {"feature_files": ["clip_features.parquet"], "window_sec": 1.5}, format="json")
    assert r.status_code == 202, r.content
    dataset = r.json()
    assert dataset["status"] == "pending" and dataset["job"]["status"] == "pending"
    assert dataset["window_sec"] == 1.5 and dataset["name"] == f"dataset_{dataset['id']}"
    # nothing is listed by /backend/ until it is built
    assert api.get("/backend/datasets").json() == {"datasets": []}
    assert api.get("/api/v1/datasets/?status=pending").json()["count"] == 2


def test_rebuild_answers_202_and_refuses_while_building(alice, client_for):
    dataset = ready_dataset(alice)
    api = client_for(alice)
    r = api.post(f"/api/v1/datasets/{dataset.pk}/rebuild/")
    assert r.status_code == 202, r.content
    assert r.json()["status"] == "pending" and r.json()["job"]["kind"] == "dataset"
    r = api.post(f"/api/v1/datasets/{dataset.pk}/rebuild/")
    api_error(r, 409, "dataset")


# ---------------------------------------------------------------- models


@pytest.fixture
def built(alice):
    return ready_dataset(alice)


@pytest.mark.parametrize(
    "fields,code,field",
    [
        ({"dataset_dir": ""}, 400, "dataset_dir"),
        ({"dataset_dir": "../dataset_1"}, 400, "dataset_dir"),
        ({"dataset_dir": "datasets/dataset_1"}, 400, "dataset_dir"),
        ({"dataset_dir": "my-data"}, 400, "dataset_dir"),
        ({"dataset_dir": "dataset_999999999"}, 404, "dataset_dir"),
        ({"model_type": "svm"}, 400, "model_type"),
        ({"aggregation": "mean"}, 400, "aggregation"),
        ({"n_estimators": "many"}, 400, "n_estimators"),
        ({"n_estimators": "0"}, 400, "n_estimators"),
        ({"max_depth": "0"}, 400, "max_depth"),
        ({"learning_rate": "fast"}, 400, "learning_rate"),
        ({"learning_rate": "-0.1"}, 400, "learning_rate"),
        ({"learning_rate": "0"}, 400, "learning_rate"),
    ],
)
def test_backend_train_refuses_bad_fields(alice, client_for, built, fields, code, field):
    r = client_for(alice).post("/backend/train_task_model", {"dataset_dir": built.name, "model_type": "rf", **fields})
    backend_error(r, code, field)
    assert not TrainedModel.objects.exists()


def test_backend_train_refuses_a_dataset_that_is_not_built(alice, client_for, built):
    Dataset.objects.filter(pk=built.pk).update(status="failed")
    r = client_for(alice).post("/backend/train_task_model", {"dataset_dir": built.name})
    assert "not built" in backend_error(r, 400, "dataset_dir")


@pytest.mark.parametrize(
    "fields,code,field",
    [
        ({"dataset": None}, 400, "dataset"),
        ({"dataset": "dataset_1"}, 400, "dataset"),
        ({"dataset": 999_999_999}, 404, "dataset"),
        ({"model_type": "svm"}, 400, "model_type"),
        ({"aggregation": "mean"}, 400, "aggregation"),
        ({"n_estimators": 0}, 400, "n_estimators"),
        ({"learning_rate": -1}, 400, "learning_rate"),
    ],
)
def test_api_model_create_refuses_bad_fields(alice, client_for, built, fields, code, field):
    data = {"dataset": built.pk, "model_type": "rf", **fields}
    api_error(client_for(alice).post("/api/v1/models/", data, format="json"), code, field)
    assert not TrainedModel.objects.exists()


def test_api_model_create_refuses_a_dataset_that_is_not_built(alice, client_for, built):
    Dataset.objects.filter(pk=built.pk).update(status="running")
    r = client_for(alice).post("/api/v1/models/", {"dataset": built.pk}, format="json")
    assert "not built" in api_error(r, 400, "dataset")


def test_accepted_training_answers_202_with_the_model_file_name(alice, client_for, built, wait_zero):
    api = client_for(alice)
    r = api.post("/backend/train_task_model", {"dataset_dir": built.name, "model_type": "lightgbm"})
    assert r.status_code == 202, r.content
    body = r.json()
    assert body["model_type"] == "lgbm" and body["model_path"] == f"task_classifier_lgbm_{body['model_id']}.pkl"
    assert api.get(body["job_url"]).json()["kind"] == "training"

    r = api.post("/api/v1/models/", {"dataset": built.pk, "model_type": "lstm", "epochs": 2}, format="json")
    assert r.status_code == 202, r.content
    model = r.json()
    assert model["filename"] == f"task_classifier_lstm_{model['id']}.pkl"
    assert (model["aggregation"], model["version"], model["status"]) == ("sequence", 2, "pending")
    assert api.get("/backend/models").json() == {"models": []}
    assert api.get("/api/v1/models/?model_type=lstm").json()["count"] == 1


# ---------------------------------------------------------------- names of others' objects


def test_names_resolve_only_to_the_callers_objects(alice, bob, staff_user, client_for, wait_zero):
    dataset = ready_dataset(alice)
    name = dataset.sources.get().filename
    bob_api = client_for(bob)

    r = bob_api.post("/backend/build_task_dataset", {"feature_files": name})
    assert name in backend_error(r, 404, "feature_files")
    api_error(bob_api.post("/api/v1/datasets/", {"feature_files": [name]}, format="json"), 404, "feature_files")
    backend_error(bob_api.get(f"/backend/features/{name}"), 404, "filename")
    backend_error(bob_api.post("/backend/train_task_model", {"dataset_dir": dataset.name}), 404, "dataset_dir")
    api_error(bob_api.post("/api/v1/models/", {"dataset": dataset.pk}, format="json"), 404, "dataset")
    assert not Dataset.objects.filter(owner=bob).exists() and not TrainedModel.objects.exists()

    staff = client_for(staff_user)
    assert [f["filename"] for f in staff.get("/backend/features").json()["features"]] == [name]
    assert staff.get(f"/backend/features/{name}").status_code == 200
    r = staff.post("/backend/train_task_model", {"dataset_dir": dataset.name, "model_type": "rf"})
    assert r.status_code == 202, r.content
    assert TrainedModel.objects.get().owner == staff_user


# ---------------------------------------------------------------- feature file names in the URL


@pytest.mark.parametrize("path", ["..", "%2E%2E", "a%2Fb.parquet", "..%2Fx.parquet", "a%5Cb.parquet", "a/b.parquet"])
def test_feature_detail_refuses_paths(alice, client_for, path):
    backend_error(client_for(alice).get(f"/backend/features/{path}"), 400, "filename")


def test_feature_detail_with_and_without_trailing_slash(alice, client_for, clip_features):
    api = client_for(alice)
    for url in ["/backend/features/clip_features.parquet", "/backend/features/clip_features.parquet/"]:
        r = api.get(url)
        assert r.status_code == 200, r.content
        assert r.json()["filename"] == "clip_features.parquet" and r.json()["has_labels"] is True
    backend_error(api.get("/backend/features/nothing.parquet"), 404, "filename")


# ---------------------------------------------------------------- jobs


def test_cancel_and_retry(alice, bob, client_for):
    dataset = ready_dataset(alice)
    job = job_row(alice, target=dataset)
    api, bob_api = client_for(alice), client_for(bob)
    for action in ("cancel", "retry"):
        assert bob_api.post(f"/api/v1/jobs/{job.pk}/{action}/").status_code == 404
    api_error(api.post(f"/api/v1/jobs/{job.pk}/retry/"), 409, "detail")  # still pending

    r = api.post(f"/api/v1/jobs/{job.pk}/cancel/")
    assert r.status_code == 200, r.content
    assert r.json()["status"] == "cancelled" and r.json()["cancel_requested"] is True
    dataset.refresh_from_db()
    assert dataset.status == "cancelled"
    assert api.post(f"/api/v1/jobs/{job.pk}/cancel/").status_code == 409

    r = api.post(f"/api/v1/jobs/{job.pk}/retry/")
    assert r.status_code == 202, r.content
    retry = r.json()
    assert retry["retry_of"] == job.pk and retry["status"] == "pending" and retry["id"] != job.pk
    assert retry["target"] == {"type": "dataset", "id": dataset.pk}
    assert api.get("/api/v1/jobs/?status=cancelled").json()["count"] == 1
    assert api.get("/api/v1/jobs/?status=pending&kind=dataset").json()["count"] == 1
    assert api.get("/api/v1/jobs/?kind=training").json()["count"] == 0
    assert bob_api.get("/api/v1/jobs/").json()["count"] == 0
    assert bob_api.get(f"/api/v1/jobs/{retry['id']}/").status_code == 404


def test_a_finished_job_cannot_be_cancelled_and_a_success_not_retried(alice, client_for):
    job = job_row(alice, status=Job.Status.SUCCEEDED, target=ready_dataset(alice))
    api = client_for(alice)
    assert api.post(f"/api/v1/jobs/{job.pk}/cancel/").status_code == 409
    assert api.post(f"/api/v1/jobs/{job.pk}/retry/").status_code == 409


def test_unknown_filter_values_are_400(alice, client_for):
    api = client_for(alice)
    assert api.get("/api/v1/jobs/?status=exploded").status_code == 400
    assert api.get("/api/v1/datasets/?status=exploded").status_code == 400
    assert api.get("/api/v1/videos/?created_at__gte=yesterday").status_code == 400


# ---------------------------------------------------------------- deletes with dependents


def _touch(relative: str) -> Path:
    path = Path(settings.DATA_DIR) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_deletes_with_dependents_need_cascade(alice, bob, client_for, django_capture_on_commit_callbacks):
    video = video_row(alice, name="deleteme")
    feature_file = ready_feature_file(alice, video=video, name="deleteme_features.parquet")
    dataset = ready_dataset(alice, feature_file=feature_file)
    model = ready_model(alice, dataset=dataset)
    files = [_touch(video.file), _touch(feature_file.path), _touch(f"{dataset.path}/X_train.npy"), _touch(model.path)]
    api, bob_api = client_for(alice), client_for(bob)

    urls = [f"videos/{video.pk}", f"feature-files/{feature_file.pk}", f"datasets/{dataset.pk}", f"models/{model.pk}"]
    for url in urls:
        assert bob_api.delete(f"/api/v1/{url}/?cascade=true").status_code == 404
    assert "feature file" in api_error(api.delete(f"/api/v1/videos/{video.pk}/"), 409, "video")
    assert "dataset" in api_error(api.delete(f"/api/v1/feature-files/{feature_file.pk}/"), 409, "feature_file")
    assert "model" in api_error(api.delete(f"/api/v1/datasets/{dataset.pk}/"), 409, "dataset")
    assert api.delete(f"/api/v1/videos/{video.pk}/?cascade=false").status_code == 409
    assert all(f.exists() for f in files)
    assert (Video.objects.count(), FeatureFile.objects.count(), Dataset.objects.count()) == (1, 1, 1)

    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete(f"/api/v1/videos/{video.pk}/?cascade=true").status_code == 204
    assert not Video.objects.exists() and not FeatureFile.objects.exists()
    assert not Dataset.objects.exists() and not TrainedModel.objects.exists()
    assert not any(f.exists() for f in files)
    assert not (Path(settings.DATA_DIR) / dataset.path).exists()
