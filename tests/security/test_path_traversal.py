"""Path traversal: every name a caller gives (feature files, dataset dirs, model files, stored video
names, video ids, uploaded file names, lookups in /api/v1/) is a name, never a path. Each attempt is
refused naming the field (400) or finds nothing of the caller's (404); no file outside the caller's
own objects is read, listed or written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from datasets.models import Dataset
from models_app.models import TrainedModel
from tests.api.factories import ready_dataset, ready_model, tiny_video
from videos.models import Video

pytestmark = pytest.mark.django_db

SECRET = "top-secret-canary"
TRAVERSALS = [
    "../x",
    "..",
    "../../../../etc/passwd",
    "/etc/passwd",
    "..\\..\\windows\\win.ini",
    "dataset_1/../../outside",
    "%2e%2e%2fx",
    "a/b",
    "x\x00.parquet",
    "....//x",
]


@pytest.fixture
def canary(tmp_path):
    """A file outside the data directory whose content must never appear in an answer."""
    outside = Path(settings.DATA_DIR).parent / "canary.parquet"
    outside.write_text(SECRET)
    (Path(settings.DATA_DIR) / "canary.pkl").write_text(SECRET)  # inside, but nobody's object
    yield outside
    outside.unlink(missing_ok=True)


def refused(r, field: str) -> None:
    assert r.status_code in (400, 404), (r.status_code, r.content[:300])
    text = r.content.decode(errors="replace")
    assert SECRET not in text
    body = r.json()
    message = body.get("alert") if "alert" in body else json.dumps(body)
    assert field in message, (field, message)


@pytest.mark.parametrize("name", TRAVERSALS)
def test_backend_names(name, alice, client_for, canary, settings):
    settings.TASKML_BACKEND_WAIT_SECONDS = 0
    api = client_for(alice)
    refused(api.post("/backend/build_task_dataset", {"feature_files": name}), "feature_files")
    refused(api.post("/backend/build_task_dataset", {"feature_files": f"ok.parquet,{name}"}), "feature_files")
    refused(api.post("/backend/train_task_model", {"dataset_dir": name, "model_type": "rf"}), "dataset_dir")
    refused(api.get("/backend/stream_pose", {"task_model": name}), "task_model")
    model = ready_model(alice, dataset=ready_dataset(alice))
    refused(api.get("/backend/stream_pose", {"task_model": model.filename, "filename": name}), "filename")
    assert not Dataset.objects.filter(owner=alice).exclude(pk=model.dataset_id).exists()
    assert TrainedModel.objects.filter(owner=alice).count() == 1


@pytest.mark.parametrize(
    "path", ["..", "..%2F..%2Fcanary.parquet", "%2e%2e%2fcanary.parquet", "..%5Ccanary.parquet", "%00", "..%00"]
)
def test_backend_feature_detail_url(path, alice, client_for, canary):
    refused(client_for(alice).get(f"/backend/features/{path}"), "filename")


@pytest.mark.parametrize("name", TRAVERSALS)
def test_api_v1_names(name, alice, client_for, canary):
    api = client_for(alice)
    body = {"feature_files": [name], "window_sec": 2.0, "step_sec": 0.5}
    refused(api.post("/api/v1/datasets/", body, format="json"), "feature_files")
    refused(api.post("/api/v1/datasets/preview/", body, format="json"), "feature_files")
    for query in ("filename", "search"):
        r = api.get("/api/v1/feature-files/", {query: name})
        assert r.status_code in (200, 400) and SECRET not in r.content.decode()
        if r.status_code == 200:
            assert r.json()["count"] == 0
    r = api.post("/api/v1/live-sessions/", {"model": name, "source": "push"}, format="json")
    assert r.status_code == 400 and "model" in r.json()
    r = api.post("/api/v1/live-sessions/", {"model": 1, "source": "url", "url": f"file://{canary}"}, format="json")
    assert r.status_code in (400, 404)


@pytest.mark.parametrize("video_id", ["../../evil", "a/b", "..\\x", "x\x00y"])
def test_video_ids_with_paths_are_refused(video_id, alice, client_for, tmp_path):
    for url in ("/api/v1/videos/", "/backend/upload_and_extract_features"):
        video = SimpleUploadedFile("clip.avi", tiny_video(tmp_path / "clip.avi").read_bytes())
        r = client_for(alice).post(url, {"video": video, "video_id": video_id, "detector_type": "mediapipe"})
        refused(r, "video_id")
    assert not Video.objects.exists()


@pytest.mark.parametrize("filename", ["../../../evil.avi", "/tmp/evil.avi", "..\\..\\evil.avi", ".hidden.avi"])
def test_uploaded_file_names_never_choose_where_the_file_goes(filename, alice, client_for, tmp_path):
    video = SimpleUploadedFile(filename, tiny_video(tmp_path / "clip.avi").read_bytes())
    r = client_for(alice).post("/api/v1/videos/", {"video": video}, format="multipart")
    assert r.status_code == 201, r.content
    stored = Video.objects.get()
    path = (Path(settings.DATA_DIR) / stored.file).resolve()
    assert path.parent == (Path(settings.DATA_DIR) / "uploads" / str(alice.pk)).resolve()
    assert "/" not in stored.stored_name and ".." not in stored.stored_name and not stored.stored_name.startswith(".")
    assert path.is_file()
    assert not Path("/tmp/evil.avi").exists()


def test_stored_paths_that_leave_the_data_directory_are_never_opened(alice, client_for, canary):
    """A row tampered to point outside DATA_DIR (e.g. by hand in the database) is refused, not followed."""
    video = Video.objects.create(
        owner=alice, video_id="x", stored_name="x.avi", original_name="x.avi", file=f"../{canary.name}",
        sha256="0" * 64, size_bytes=1, fps=10, frame_count=5, duration=0.5, width=8, height=8,
    )  # fmt: skip
    r = client_for(alice).get(f"/api/v1/videos/{video.pk}/frames/0/")
    assert r.status_code in (400, 404, 500) and SECRET not in r.content.decode(errors="replace")
