"""Bounded work at the edge: every probe of issue 18 is refused before any job exists, with a
4xx naming the parameter (and, for estimates, the estimate and the limit); per-user caps on jobs,
live sessions and storage; the usage report.

Rows stand for finished objects (tests/api/factories); with the `db` fixture nothing commits, so
an accepted request only leaves pending rows that never reach the broker.
"""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from datasets.models import Dataset
from jobs.models import Job
from models_app.models import TrainedModel
from streaming.models import LiveSession
from tests.api.factories import csv_upload, ready_dataset, ready_feature_file, ready_model, upload, video_row
from videos.models import LabelSpan, Video

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def wait_zero(settings):
    settings.TASKML_BACKEND_WAIT_SECONDS = 0  # no worker: accepted /backend/ requests answer 202 at once


def backend_error(r, code: int, field: str) -> str:
    assert r.status_code == code, r.content
    assert r.json()["status"] == "error" and r.json()["alert"].startswith(f"{field}: "), r.json()
    return r.json()["alert"]


def api_error(r, code: int, field: str) -> str:
    assert r.status_code == code, r.content
    body = r.json()
    if code == 400:
        assert field in body, body
        return body[field][0]
    assert body["detail"].startswith(f"{field}: "), body
    return body["detail"]


# ---------------------------------------------------------------- the probes of the issue


@pytest.mark.parametrize(
    "fields,field",
    [
        ({"model_type": "rf", "n_estimators": "1000000000"}, "n_estimators"),
        ({"model_type": "lstm", "epochs": "1000000000"}, "epochs"),
        ({"model_type": "lstm", "hidden_dim": "1000000"}, "hidden_dim"),
        ({"model_type": "ridge", "aggregation": "minirocket", "rocket_features": "1000000000"}, "rocket_features"),
        ({"model_type": "lgbm", "learning_rate": "1e308"}, "learning_rate"),
        ({"model_type": "rf", "max_depth": "99999999999999999999"}, "max_depth"),
        ({"model_type": "tcn", "batch_size": "0"}, "batch_size"),
    ],
)
def test_backend_training_probes_are_refused_naming_the_parameter(alice, client_for, fields, field):
    dataset = ready_dataset(alice)
    r = client_for(alice).post("/backend/train_task_model", {"dataset_dir": dataset.name, **fields})
    alert = backend_error(r, 400, field)
    assert "must be " in alert
    assert not TrainedModel.objects.exists() and not Job.objects.filter(kind=Job.Kind.TRAINING).exists()


@pytest.mark.parametrize(
    "fields,field,words",
    [
        ({"step_sec": "1e-9"}, "step_sec", ["between 0.001 and 3600 s", "got 1e-09"]),
        ({"window_sec": "1e308"}, "window_sec", ["between 0.01 and 3600 s"]),
        ({"window_sec": "1e309"}, "window_sec", ["not a finite number"]),
        ({"step_sec": "-0.0"}, "step_sec", ["got -0"]),
        ({"seed": "99999999999999999999"}, "seed", ["between 0 and 4,294,967,295"]),
    ],
)
def test_backend_build_probes_are_refused_naming_the_parameter(alice, client_for, fields, field, words):
    ready_feature_file(alice)
    r = client_for(alice).post("/backend/build_task_dataset", {"feature_files": "clip_features.parquet", **fields})
    alert = backend_error(r, 400, field)
    for word in words:
        assert word in alert
    assert not Dataset.objects.exists() and not Job.objects.exists()


@pytest.mark.parametrize(
    "fields,field",
    [({"step_sec": 1e-9}, "step_sec"), ({"window_sec": 1e308}, "window_sec"), ({"resample_fps": 1e6}, "resample_fps")],
)
def test_api_build_probes_are_refused_naming_the_parameter(alice, client_for, fields, field):
    ready_feature_file(alice)
    api = client_for(alice)
    for url in ("/api/v1/datasets/", "/api/v1/datasets/preview/"):
        r = api.post(url, {"feature_files": ["clip_features.parquet"], **fields}, format="json")
        assert "less than or equal" in api_error(r, 400, field) or "greater than or equal" in r.json()[field][0]
    assert not Dataset.objects.exists() and not Job.objects.exists()


def test_a_window_of_too_many_frames_is_refused_naming_window_sec(alice, client_for):
    ready_feature_file(alice)
    body = {"feature_files": ["clip_features.parquet"], "window_sec": 3600, "resample_fps": 1000}
    message = api_error(client_for(alice).post("/api/v1/datasets/", body, format="json"), 400, "window_sec")
    assert "3,600,000 frames per window; at most 10,000" in message


# ---------------------------------------------------------------- estimates against limits


@pytest.fixture
def ten_hours(alice):
    """A feature file of a 10-hour recording (the video row says how long)."""
    video = video_row(alice, frames=360_000, name="shift")
    return ready_feature_file(alice, video=video, name="shift_features.parquet")


def test_a_dataset_past_its_size_limit_is_413_naming_parameter_estimate_and_limit(alice, client_for, ten_hours):
    api = client_for(alice)
    alert = backend_error(
        api.post("/backend/build_task_dataset", {"feature_files": ten_hours.filename, "step_sec": "0.01"}),
        413,
        "step_sec",
    )
    assert "the dataset would hold about 97.8 GiB (3,599,801 windows × 30 frames × 243 features × 4 bytes)" in alert
    assert "over the limit of 1.0 GiB (TASKML_MAX_DATASET_MB)" in alert
    body = {"feature_files": [ten_hours.filename], "window_sec": 60, "step_sec": 1}
    for url in ("/api/v1/datasets/", "/api/v1/datasets/preview/"):
        detail = api_error(api.post(url, body, format="json"), 413, "window_sec")
        assert "900 frames" in detail and "TASKML_MAX_DATASET_MB" in detail
    assert not Dataset.objects.exists() and not Job.objects.exists()
    r = api.post("/backend/build_task_dataset", {"feature_files": ten_hours.filename, "step_sec": "2"})
    assert r.status_code == 202, r.content  # 17,999 windows: 525 MB, within the limit


def _big_dataset(owner, *, windows: int, features: int) -> Dataset:
    dataset = ready_dataset(owner, labels=("a", "b", "c", "d"))
    sizes = {"train_size": windows * 7 // 10, "val_size": windows * 15 // 100, "test_size": windows * 15 // 100}
    Dataset.objects.filter(pk=dataset.pk).update(num_features=features, **sizes)
    dataset.refresh_from_db()
    return dataset


TOO_MUCH = [
    (
        {"model_type": "rf", "n_estimators": 5_000}, 30_000, 243, 413, "n_estimators",
        ["training would need about", "GiB", "over the memory limit of 3.0 GiB (TASKML_WORKER_MAX_MEMORY_MB)"],
    ),
    (
        {"model_type": "ridge", "rocket_features": 50_000}, 30_000, 243, 413, "rocket_features",
        ["50,000 numbers each", "TASKML_WORKER_MAX_MEMORY_MB"],
    ),
    (
        {"model_type": "transformer", "epochs": 10_000, "patience": 10_000, "hidden_dim": 256}, 30_000, 20, 400,
        "epochs", ["would take at least", "past the time limit of 4.0 h (TASKML_TRAINING_TIME_LIMIT)"],
    ),
]  # fmt: skip


@pytest.mark.parametrize("fields,windows,features,code,field,words", TOO_MUCH)
def test_training_past_memory_or_time_is_refused_naming_parameter_estimate_and_limit(
    alice, client_for, fields, windows, features, code, field, words
):
    dataset = _big_dataset(alice, windows=windows, features=features)
    api = client_for(alice)
    message = api_error(api.post("/api/v1/models/", {"dataset": dataset.pk, **fields}, format="json"), code, field)
    for word in words:
        assert word in message
    form = {"dataset_dir": dataset.name, **{k: str(v) for k, v in fields.items()}}
    alert = backend_error(api.post("/backend/train_task_model", form), code, field)
    assert alert == (message if code == 413 else f"{field}: {message}")
    assert not TrainedModel.objects.exists()
    r = api.post("/api/v1/models/", {"dataset": dataset.pk}, format="json")
    assert r.status_code == 202, r.content  # the default configuration fits


def test_an_extraction_of_too_many_frames_is_refused_naming_sample_rate(alice, client_for):
    video = video_row(alice, frames=2_500_000, name="week")
    api = client_for(alice)
    r = api.post(f"/api/v1/videos/{video.pk}/extract/", {"sample_rate": 1}, format="json")
    message = api_error(r, 400, "sample_rate")
    assert "2,500,000 frames" in message and "TASKML_MAX_EXTRACTION_FRAMES" in message
    assert "use a sample_rate of at least 3" in message
    r = api.post(f"/api/v1/videos/{video.pk}/extract/", {"sample_rate": 3}, format="json")
    assert r.status_code == 202, r.content


# ---------------------------------------------------------------- labels


def test_a_labels_file_with_a_100000_character_label_is_refused_and_nothing_stored(alice, client_for, tiny_avi):
    labels = csv_upload("frame_index,label\n0,reach\n1," + "x" * 100_000 + "\n")
    r = client_for(alice).post("/api/v1/videos/", {"video": upload(tiny_avi), "labels_csv": labels}, format="multipart")
    message = api_error(r, 400, "labels_csv")
    assert "line 3: label of 100,000 characters; at most 200" in message
    assert not Video.objects.exists() and not LabelSpan.objects.exists()


@pytest.mark.parametrize(
    "label,words",
    [("x" * 201, ["no more than 200 characters"]), ("tab\there", ["control character"]), ("\u202e", ["control"])],
)
def test_label_spans_take_printable_names_of_at_most_200_characters(alice, client_for, label, words):
    video = video_row(alice)
    body = {"video": video.pk, "start_frame": 0, "end_frame": 3, "label": label, "source": "browser"}
    r = client_for(alice).post("/api/v1/label-spans/", body, format="json")
    assert r.status_code == 400 and "label" in r.json(), r.content
    assert any(word in r.json()["label"][0] for word in words), r.json()
    assert not LabelSpan.objects.exists()


def test_a_video_takes_at_most_a_thousand_classes(alice, client_for):
    video = video_row(alice, frames=2_000)
    LabelSpan.objects.bulk_create(
        LabelSpan(video=video, start_frame=i, end_frame=i, label=f"class{i}", source="csv") for i in range(1_000)
    )
    api = client_for(alice)
    body = {"video": video.pk, "start_frame": 1_500, "end_frame": 1_501, "source": "browser"}
    r = api.post("/api/v1/label-spans/", {**body, "label": "one more"}, format="json")
    assert r.status_code == 400 and "1,000 different labels" in r.json()["label"][0], r.content
    assert api.post("/api/v1/label-spans/", {**body, "label": "class7"}, format="json").status_code == 201


# ---------------------------------------------------------------- per-user caps


def test_jobs_past_the_per_user_cap_are_429_with_retry_after_and_others_are_not_held(alice, bob, client_for, settings):
    settings.TASKML_MAX_ACTIVE_JOBS_PER_USER = 2
    ready_feature_file(alice)
    ready_feature_file(bob)
    api = client_for(alice)
    body = {"feature_files": ["clip_features.parquet"], "window_sec": 1, "step_sec": 0.5}
    first = api.post("/api/v1/datasets/", body, format="json")
    assert first.status_code == 202 and api.post("/api/v1/datasets/", body, format="json").status_code == 202

    r = api.post("/api/v1/datasets/", body, format="json")
    assert r.status_code == 429 and r["Retry-After"] == "30", r.content
    assert r.json()["detail"].startswith("jobs: you have 2 jobs pending or running, the most one user may have")
    r = api.post("/backend/build_task_dataset", {"feature_files": "clip_features.parquet"})
    assert r.status_code == 429 and r["Retry-After"] == "30"
    assert r.json()["alert"].startswith("jobs: ") and "TASKML_MAX_ACTIVE_JOBS_PER_USER=2" in r.json()["alert"]
    assert Job.objects.filter(owner=alice).count() == 2 and Dataset.objects.filter(owner=alice).count() == 2

    assert client_for(bob).post("/api/v1/datasets/", body, format="json").status_code == 202  # bob is not held up
    assert api.post(f"/api/v1/jobs/{first.json()['job']['id']}/cancel/").status_code == 200
    assert api.post("/api/v1/datasets/", body, format="json").status_code == 202  # a place came free


def test_live_sessions_past_the_per_user_cap_are_429(alice, client_for, settings):
    from rest_framework.test import APIClient

    settings.TASKML_MAX_LIVE_SESSIONS_PER_USER = 1
    model = ready_model(alice, dataset=ready_dataset(alice))
    TrainedModel.objects.filter(pk=model.pk).update(sha256="0" * 64)
    pages = APIClient(enforce_csrf_checks=False)
    pages.force_login(alice)  # as the pages call it: a session, request.user a lazy object
    r = pages.post("/api/v1/live-sessions/", {"model": model.pk, "source": "push"}, format="json")
    assert r.status_code == 201, r.content
    api = client_for(alice)
    r = api.post("/api/v1/live-sessions/", {"model": model.pk, "source": "push"}, format="json")
    assert r.status_code == 429 and r["Retry-After"] == "30", r.content
    assert r.json()["detail"].startswith("live_sessions: you have 1 live sessions pending or running")
    assert LiveSession.objects.count() == 1


def test_storage_is_reported_and_capped_per_user(alice, bob, client_for, tiny_avi, settings):
    settings.TASKML_MAX_STORAGE_MB_PER_USER = 3
    feature_file = ready_feature_file(alice)
    Video.objects.filter(pk=feature_file.video_id).update(size_bytes=2 * 2**20)
    api = client_for(alice)
    usage = api.get("/api/v1/usage/").json()
    assert usage["storage"] == {
        "videos": 2 * 2**20, "feature_files": 0, "datasets": 0, "models": 0, "total": 2 * 2**20, "limit": 3 * 2**20,
    }  # fmt: skip
    assert usage["jobs"] == {"active": 0, "limit": settings.TASKML_MAX_ACTIVE_JOBS_PER_USER}
    assert usage["live_sessions"] == {"active": 0, "limit": settings.TASKML_MAX_LIVE_SESSIONS_PER_USER}

    r = api.post("/api/v1/videos/", {"video": upload(tiny_avi)}, format="multipart")
    assert r.status_code == 201, r.content  # a few KB: fits
    Video.objects.filter(pk=feature_file.video_id).update(size_bytes=3 * 2**20)
    r = api.post("/api/v1/videos/", {"video": upload(tiny_avi)}, format="multipart")
    detail = api_error(r, 413, "video")
    assert "TASKML_MAX_STORAGE_MB_PER_USER" in detail and "you already store 3.0 MiB" in detail
    assert Video.objects.filter(owner=alice).count() == 2
    r = api.post("/api/v1/datasets/", {"feature_files": [feature_file.filename]}, format="json")
    assert api_error(r, 413, "feature_files")
    r = api.post(f"/api/v1/videos/{feature_file.video_id}/extract/", {}, format="json")
    assert api_error(r, 413, "video")
    bob_api = client_for(bob)
    assert bob_api.get("/api/v1/usage/").json()["storage"]["total"] == 0  # alice's bytes are hers
    assert bob_api.post("/api/v1/videos/", {"video": upload(tiny_avi)}, format="multipart").status_code == 201


# ---------------------------------------------------------------- the command line


@pytest.mark.parametrize(
    "command,args,words",
    [
        ("build_task_dataset", ["--step-sec", "1e-9"], ["step_sec must be between 0.001 and 3600 s, got 1e-09"]),
        ("build_task_dataset", ["--window-sec", "1e308"], ["window_sec must be between 0.01 and 3600 s"]),
        ("train_task_classifier", ["--n-estimators", "1000000000"], ["n_estimators must be between 1 and 100,000"]),
        ("train_task_classifier", ["--model", "lstm", "--epochs", "1000000000"], ["epochs must be between"]),
        ("train_task_classifier", ["--seed", "-1"], ["seed must be between 0 and 4,294,967,295"]),
    ],
)
def test_the_cli_refuses_the_same_ranges_in_one_line(command, args, words, tmp_path):
    base = {
        "build_task_dataset": ["--features", str(tmp_path / "a.parquet"), "--output", str(tmp_path / "out")],
        "train_task_classifier": ["--dataset", str(tmp_path / "ds"), "--output", str(tmp_path / "m.pkl")],
    }[command]
    with pytest.raises(CommandError) as refused:
        call_command(command, *base, *args, "--no-progress")
    message = str(refused.value)
    assert "\n" not in message
    for word in words:
        assert word in message
    assert not (tmp_path / "out").exists() and not (tmp_path / "m.pkl").exists()


@pytest.mark.parametrize("camera", [-1, 64, 1e9])
def test_a_live_camera_index_out_of_range_is_refused_naming_it(alice, client_for, camera):
    model = ready_model(alice, dataset=ready_dataset(alice))
    r = client_for(alice).post(
        "/api/v1/live-sessions/", {"model": model.pk, "source": "camera", "camera_index": camera}, format="json"
    )
    assert r.status_code == 400 and "camera_index" in r.json(), r.content
    assert LiveSession.objects.count() == 0
