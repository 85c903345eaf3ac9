"""Uploads through /backend/ and /api/v1/: every refused input names its field and leaves nothing behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from jobs.models import Job
from tests.api.conftest import files_under
from tests.api.factories import TINY_FRAMES, csv_upload, upload
from tests.conftest import MEGAMIND_LABELS
from videos.models import FeatureFile, LabelSpan, Video

pytestmark = pytest.mark.django_db

ENDPOINTS = {"backend": "/backend/upload_and_extract_features", "api": "/api/v1/videos/"}


def post_upload(client, endpoint: str, **fields) -> tuple[int, str]:
    """(status, the error text as the endpoint's style carries it)."""
    if endpoint == "backend":
        fields.setdefault("detector_type", "mediapipe")
    r = client.post(ENDPOINTS[endpoint], fields, format="multipart")
    body = r.json()
    if r.status_code >= 400:
        if endpoint == "backend":
            assert body["status"] == "error", body
            return r.status_code, body["alert"]
        return r.status_code, json.dumps(body)
    return r.status_code, ""


def uploads_of(user) -> Path:
    return Path(settings.DATA_DIR) / "uploads" / str(user.pk)


@pytest.fixture
def alice_with_a_video(alice, client_for, tiny_avi):
    """alice has one stored video before each refused upload; it must come through intact."""
    r = client_for(alice).post("/api/v1/videos/", {"video": upload(tiny_avi, "first.avi")}, format="multipart")
    assert r.status_code == 201, r.content
    video = Video.objects.get(pk=r.json()["id"])
    return video, files_under(uploads_of(alice)), (Path(settings.DATA_DIR) / video.file).read_bytes()


def assert_nothing_new(alice, before) -> None:
    video, files, content = before
    assert list(Video.objects.filter(owner=alice)) == [video]
    assert files_under(uploads_of(alice)) == files
    assert (Path(settings.DATA_DIR) / video.file).read_bytes() == content
    assert not FeatureFile.objects.exists() and not Job.objects.exists()


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_text_file_named_mp4_is_not_a_video(endpoint, alice, client_for, alice_with_a_video):
    fake = SimpleUploadedFile("clip.mp4", b"this is not a video\n" * 100, content_type="video/mp4")
    code, message = post_upload(client_for(alice), endpoint, video=fake)
    assert code == 400
    assert "video" in message and "clip.mp4" in message
    assert_nothing_new(alice, alice_with_a_video)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_an_empty_file_is_refused(endpoint, alice, client_for, alice_with_a_video):
    code, message = post_upload(client_for(alice), endpoint, video=SimpleUploadedFile("empty.avi", b""))
    assert code == 400
    assert "video" in message
    assert_nothing_new(alice, alice_with_a_video)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_no_file_is_refused(endpoint, alice, client_for):
    code, message = post_upload(client_for(alice), endpoint, video_id="x")
    assert code == 400
    assert "video" in message


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_an_upload_over_the_limit_is_413_and_leaves_no_file(endpoint, alice, client_for, alice_with_a_video, settings):
    settings.TASKML_MAX_UPLOAD_BYTES = 100_000
    incoming = Path(settings.FILE_UPLOAD_TEMP_DIR)
    in_flight = files_under(incoming)
    big = SimpleUploadedFile("big.avi", b"\0" * 300_000, content_type="video/x-msvideo")
    code, message = post_upload(client_for(alice), endpoint, video=big, video_id="big")
    assert code == 413
    assert "video" in message and "limit" in message
    assert_nothing_new(alice, alice_with_a_video)
    assert files_under(incoming) == in_flight


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(
    "labels,expected",
    [
        ("frame,label\n0,a\n", ["line 1", "frame,label", "frame_index,label"]),
        ("start_frame,end_frame,label\n0,5,a\n6,25,b\n", ["line 3", "frame 20", "outside", f"{TINY_FRAMES} frames"]),
        ("frame_index,label\n0,a\n1,b\n2,a\n99,b\n", ["line 5", "frame 99", "outside"]),
        ("frame_index,label\n0,a\nx,b\n", ["line 3", "frame_index", "not an integer"]),
        ("frame_index,label\n0,a\n1,a,b\n", ["line 3", "3 fields"]),
        ("start_frame,end_frame,label\n5,2,a\n", ["line 2", "before start_frame"]),
        ("frame_index,label\n0,a\n0,b\n", ["line 3", "already labelled"]),
        ("frame_index,label\n", ["no labelled frames"]),
        ("", ["empty"]),
        (b"frame_index,label\n0,caf\xe9\n", ["not UTF-8"]),
        (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", ["not UTF-8"]),
    ],
)
def test_bad_labels_are_refused_naming_field_and_line(
    endpoint, labels, expected, alice, client_for, tiny_avi, alice_with_a_video
):
    code, message = post_upload(
        client_for(alice), endpoint, video=upload(tiny_avi), labels_csv=csv_upload(labels, "my_labels.csv")
    )
    assert code == 400, message
    assert "labels_csv" in message
    for part in expected:
        assert part in message, (part, message)
    assert_nothing_new(alice, alice_with_a_video)
    assert not LabelSpan.objects.exists()


def test_megamind_labels_do_not_fit_a_short_video(alice, client_for, tiny_avi):
    labels = SimpleUploadedFile("Megamind_labels.csv", MEGAMIND_LABELS.read_bytes())
    code, message = post_upload(client_for(alice), "backend", video=upload(tiny_avi), labels_csv=labels)
    assert code == 400
    assert message.startswith("labels_csv: Megamind_labels.csv line 2: frame 20 is outside the video")


@pytest.mark.parametrize(
    "fields,field",
    [
        ({"detector_type": "openpose"}, "detector_type"),
        ({"detector_type": ""}, None),  # blank means the default
        ({"sample_rate": "two"}, "sample_rate"),
        ({"sample_rate": "0"}, "sample_rate"),
        ({"sample_rate": "1.5"}, "sample_rate"),
        ({"video_id": "../../etc"}, "video_id"),
        ({"video_id": "a/b"}, "video_id"),
        ({"labels_csv": "frame_index,label\n0,a\n"}, "labels_csv"),
    ],
)
def test_backend_upload_fields_are_checked_before_storing(fields, field, alice, client_for, tiny_avi, settings):
    settings.TASKML_BACKEND_WAIT_SECONDS = 0
    r = client_for(alice).post(
        ENDPOINTS["backend"], {"video": upload(tiny_avi), "detector_type": "mediapipe", **fields}, format="multipart"
    )
    if field is None:
        assert r.status_code == 202, r.content
        return
    assert r.status_code == 400, r.content
    assert r.json()["status"] == "error"
    assert r.json()["alert"].startswith(f"{field}: ")
    assert not Video.objects.exists()
    assert files_under(uploads_of(alice)) == []


def test_unknown_detector_on_extract_names_the_field(alice, client_for, alice_with_a_video):
    video = alice_with_a_video[0]
    api = client_for(alice)
    for data, field in [({"detector_type": "openpose"}, "detector_type"), ({"sample_rate": 0}, "sample_rate")]:
        r = api.post(f"/api/v1/videos/{video.pk}/extract/", data, format="json")
        assert r.status_code == 400
        assert field in r.json()
    assert not FeatureFile.objects.exists() and not Job.objects.exists()


def test_video_id_with_a_path_is_refused_by_the_api(alice, client_for, tiny_avi):
    r = client_for(alice).post("/api/v1/videos/", {"video": upload(tiny_avi), "video_id": "../x"}, format="multipart")
    assert r.status_code == 400
    assert "video_id" in r.json()
    assert not Video.objects.exists()


def test_api_upload_with_labels_stores_spans(alice, client_for, tiny_avi):
    labels = csv_upload("start_frame,end_frame,label\n0,9,reach\n10,19,grasp\n")
    r = client_for(alice).post(
        "/api/v1/videos/", {"video": upload(tiny_avi), "video_id": "cam-1", "labels_csv": labels}, format="multipart"
    )
    assert r.status_code == 201, r.content
    video = r.json()
    assert video["video_id"] == "cam-1"
    assert video["frame_count"] == TINY_FRAMES and video["label_spans"] == 2
    assert (uploads_of(alice) / video["stored_name"]).is_file()
    spans = client_for(alice).get(f"/api/v1/label-spans/?video={video['id']}").json()["results"]
    assert [(s["start_frame"], s["end_frame"], s["label"], s["source"]) for s in spans] == [
        (0, 9, "reach", "csv"),
        (10, 19, "grasp", "csv"),
    ]


def test_backend_upload_answers_202_with_the_job_when_it_is_not_done(alice, bob, client_for, tiny_avi, settings):
    settings.TASKML_BACKEND_WAIT_SECONDS = 0  # read at request time; no worker runs here
    api = client_for(alice)
    r = api.post(
        ENDPOINTS["backend"],
        {"video": upload(tiny_avi), "video_id": "cam", "detector_type": "mediapipe", "sample_rate": "2"},
        format="multipart",
    )
    assert r.status_code == 202, r.content
    body = r.json()
    assert body["status"] == "pending"
    assert body["feature_file"] == "cam_features.parquet" and body["video_id"] == "cam"
    assert body["job_url"].endswith(f"/api/v1/jobs/{body['job_id']}/") and r["Location"] == body["job_url"]
    job = api.get(body["job_url"]).json()
    assert job["kind"] == "extraction" and job["status"] == "pending"
    assert job["target"] == {"type": "featurefile", "id": FeatureFile.objects.get().pk}
    assert client_for(bob).get(body["job_url"]).status_code == 404
    # not ready: not listed, but its detail says so
    assert api.get("/backend/features").json() == {"features": []}
    assert api.get("/backend/features/cam_features.parquet").json()["status"] == "pending"
