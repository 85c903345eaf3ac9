"""Bad files: corrupt, truncated, empty and frameless videos, videos with nobody in them, labels in
the wrong encoding or with bad frames, and feature Parquet files with NaN/inf or missing columns.

Each is refused naming the field and the problem, or handled as documented; other rows and files
are left exactly as they were (asserted).

Decided behaviour:
- a truncated video whose start decodes is accepted; extraction processes the frames that decode
  and records how many it got (``num_frames``), it does not fail;
- a video with no person in it extracts successfully: every frame is present with
  ``pose_present``/hand flags false and the pose/hand features NaN ("missing", never 0);
- labels must be UTF-8 (a UTF-8 BOM is fine); UTF-16 or Latin-1 files are refused with the byte
  where decoding failed and the advice to save as UTF-8;
- in feature files, NaN and ±inf values are missing values (0 after scaling); a file that lacks a
  required column is refused naming the file and the column.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from datasets.models import Dataset
from datasets.services import dataset_build
from jobs.models import Job
from taskml import storage
from taskml.pipeline.detectors import DetectorConfig
from taskml.pipeline.extraction import extract_features, write_features
from taskml.pipeline.features import ALL_FEATURE_COLUMNS
from tests.api.conftest import files_under
from tests.api.factories import csv_upload, ready_feature_file, upload, video_row
from tests.api.test_uploads import assert_nothing_new, post_upload
from tests.pipeline.conftest import feature_frame
from videos.models import LabelSpan, Video

pytestmark = pytest.mark.django_db
ENDPOINTS = ("backend", "api")


def frameless_video(path: Path) -> Path:
    """A valid AVI container (header and index) holding no frames."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    writer.release()
    assert path.exists() and path.stat().st_size > 0
    return path


def solid_video(path: Path, *, frames: int = 30, colour=(40, 160, 90)) -> Path:
    """Nobody in it: one flat colour."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (160, 120))
    image = np.full((120, 160, 3), colour, np.uint8)
    for _ in range(frames):
        writer.write(image)
    writer.release()
    return path


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(
    "name,make",
    [
        ("random.mp4", lambda tmp: np.random.default_rng(1).bytes(200_000)),
        ("header_only.avi", lambda tmp: frameless_video(tmp / "f.avi").read_bytes()),
        ("zero.mp4", lambda tmp: b""),
        ("cut.avi", lambda tmp: b"RIFF\x00\x00\x00\x00AVI LIST" + bytes(5000)),  # a header cut off early
        ("image.png", lambda tmp: cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))[1].tobytes()),
        ("one_frame.avi", lambda tmp: solid_video(tmp / "one.avi", frames=1).read_bytes()),
    ],
)
def test_corrupt_videos_are_refused_and_nothing_else_changes(
    endpoint, name, make, alice, client_for, alice_with_a_video, tmp_path, settings
):
    settings.TASKML_BACKEND_WAIT_SECONDS = 0
    code, message = post_upload(client_for(alice), endpoint, video=SimpleUploadedFile(name, make(tmp_path)))
    assert code == 400, message
    assert "video" in message and (name in message or "empty" in message or "no file" in message), message
    assert "Traceback" not in message
    assert_nothing_new(alice, alice_with_a_video)


def test_a_truncated_video_is_accepted_for_what_decodes(alice, client_for, megamind, alice_with_a_video):
    half = megamind.read_bytes()[: megamind.stat().st_size // 2]
    code, message = post_upload(client_for(alice), "api", video=SimpleUploadedFile("half.avi", half))
    assert code == 201, message
    stored = Video.objects.get(owner=alice, original_name="half.avi")
    assert (Path(settings.DATA_DIR) / stored.file).read_bytes() == half
    assert Video.objects.filter(owner=alice).count() == 2  # the earlier video is untouched
    first, _, content = alice_with_a_video
    assert (Path(settings.DATA_DIR) / first.file).read_bytes() == content


@pytest.mark.slow
def test_extraction_of_a_truncated_video_processes_the_frames_that_decode(megamind, tmp_path, model_cache):
    half = tmp_path / "half.avi"
    half.write_bytes(megamind.read_bytes()[: megamind.stat().st_size // 2])
    result = extract_features(
        half, tmp_path / "half.parquet", config=DetectorConfig(kind="mediapipe", cache_dir=model_cache)
    )
    frame = pd.read_parquet(tmp_path / "half.parquet")
    assert 50 < result.num_frames < 270 and len(frame) == result.num_frames
    assert frame["frame_index"].tolist() == list(range(result.num_frames))
    assert frame["pose_present"].mean() > 0.8  # the frames it got are real frames


@pytest.mark.slow
def test_a_video_with_nobody_in_it_extracts_with_empty_detections(tmp_path, model_cache):
    video = solid_video(tmp_path / "empty_room.avi")
    result = extract_features(
        video, tmp_path / "room.parquet", config=DetectorConfig(kind="mediapipe", cache_dir=model_cache)
    )
    frame = pd.read_parquet(tmp_path / "room.parquet")
    assert result.num_frames == len(frame) == 30
    assert not frame["pose_present"].any() and not frame["left_hand_present"].any()
    assert frame["mp_pose_landmarks"].isna().all()
    assert frame["right_elbow_angle"].isna().all()  # missing is NaN, never 0


def test_a_video_with_nobody_in_it_is_accepted_as_an_upload(alice, client_for, tmp_path):
    r = client_for(alice).post(
        "/api/v1/videos/", {"video": upload(solid_video(tmp_path / "room.avi"))}, format="multipart"
    )
    assert r.status_code == 201 and r.json()["frame_count"] == 30


def declared_upload(length: int, path: str) -> tuple[int, dict, bool]:
    """An HTTP request through the ASGI app declaring ``length`` bytes: (status, body, body was read)."""
    from taskml.asgi import application

    sent, read = [], []

    async def receive():
        read.append(True)
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http", "method": "POST", "path": path, "raw_path": path.encode(), "query_string": b"",
        "headers": [(b"host", b"localhost"), (b"content-length", str(length).encode()),
                    (b"content-type", b"multipart/form-data; boundary=x")],
        "client": ("127.0.0.1", 1), "server": ("localhost", 80), "scheme": "http", "http_version": "1.1",
        "asgi": {"version": "3.0"},
    }  # fmt: skip
    asyncio.run(application(scope, receive, send))
    body = json.loads(b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"))
    return sent[0]["status"], body, bool(read)


@pytest.mark.parametrize(
    "path,field", [("/api/v1/videos/", "video"), ("/backend/upload_and_extract_features", "alert")]
)
def test_a_declared_oversize_request_is_413_before_its_body_is_read(path, field, alice):
    status, body, read = declared_upload(settings.TASKML_MAX_UPLOAD_BYTES + 2 * 1024 * 1024, path)
    assert status == 413 and not read
    assert "TASKML_MAX_UPLOAD_MB" in json.dumps(body) and field in body
    assert not Video.objects.exists()


def test_an_oversize_labels_file_is_cut_off_as_well(alice, client_for, tiny_avi, settings):
    settings.TASKML_MAX_UPLOAD_BYTES = 50_000
    incoming = files_under(Path(settings.FILE_UPLOAD_TEMP_DIR))
    huge_labels = csv_upload("frame_index,label\n" + "0,a\n" * 40_000)
    code, message = post_upload(client_for(alice), "api", video=upload(tiny_avi), labels_csv=huge_labels)
    assert code == 413 and "limit" in message
    assert not Video.objects.exists() and files_under(Path(settings.FILE_UPLOAD_TEMP_DIR)) == incoming


# ---------------------------------------------------------------- labels


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(
    "data,expected",
    [
        ("frame_index,label\n0,reach\n1,grasp\n".encode("utf-16"), ["looks like UTF-16", "save it as UTF-8"]),
        ("frame_index,label\n0,reach\n".encode("utf-16-le"), ["looks like UTF-16"]),  # no BOM
        ("frame_index,label\n0,café\n1,thé\n".encode("latin-1"), ["not UTF-8", "byte 23", "save it as UTF-8"]),
        ("frame_index,label\n0,a\n-1,b\n", ["line 3", "negative"]),
        ("start_frame,end_frame,label\n-5,2,a\n", ["line 2", "negative"]),
        ("start_frame,end_frame,label\n0,5,a\n3,8,b\n", ["line 3"]),  # overlapping spans
        ("frame_index,label\n1e3,a\n", ["line 2", "not an integer"]),
        ("frame_index,label\n0,\n", ["line 2", "empty label"]),
    ],
)
def test_bad_labels_files_are_refused(
    endpoint, data, expected, alice, client_for, tiny_avi, alice_with_a_video, settings
):
    settings.TASKML_BACKEND_WAIT_SECONDS = 0  # were one accepted, /backend/ would not wait for a worker
    labels = csv_upload(data, "labels.csv")
    code, message = post_upload(client_for(alice), endpoint, video=upload(tiny_avi), labels_csv=labels)
    assert code == 400, message
    assert "labels_csv" in message and "labels.csv" in message
    for part in expected:
        assert part in message, (part, message)
    assert_nothing_new(alice, alice_with_a_video)
    assert not LabelSpan.objects.exists()


def test_a_utf8_bom_and_a_repeated_identical_row_are_fine(alice, client_for, tiny_avi):
    labels = csv_upload("\ufeffframe_index,label\n0,reach\n1,reach\n1,reach\n".encode())
    code, message = post_upload(client_for(alice), "api", video=upload(tiny_avi), labels_csv=labels)
    assert code == 201, message
    assert list(LabelSpan.objects.values_list("start_frame", "end_frame", "label")) == [(0, 1, "reach")]


# ---------------------------------------------------------------- feature files → datasets


def broken(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    if kind == "inf":
        frame.loc[frame.index[:40], ALL_FEATURE_COLUMNS[5]] = np.inf
        frame.loc[frame.index[40:60], ALL_FEATURE_COLUMNS[6]] = -np.inf
    elif kind == "nan":
        frame[ALL_FEATURE_COLUMNS[7]] = np.nan
        frame.loc[frame.index[::3], ALL_FEATURE_COLUMNS[8:20]] = np.nan
    else:
        frame = frame.drop(columns=[kind])
    return frame


def parquet_sources(folder: Path, kind: str | None) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(3):
        frame = feature_frame(f"cam{i}", seed=i)
        paths.append(write_feature_file(folder / f"cam{i}.parquet", broken(frame, kind) if i == 1 and kind else frame))
    return paths


@pytest.mark.parametrize("kind", ["inf", "nan"])
def test_the_cli_builds_datasets_from_files_with_nan_and_inf(kind, tmp_path):
    out = tmp_path / "dataset"
    call_command(
        "build_task_dataset", "--features", *map(str, parquet_sources(tmp_path / "f", kind)),
        "--output", str(out), "--window-sec", "2", "--step-sec", "0.5", "--no-progress",
    )  # fmt: skip
    for split in ("train", "val", "test"):
        X = np.load(out / f"X_{split}.npy", allow_pickle=False)
        assert np.isfinite(X).all(), split
    meta = json.loads((out / "metadata.json").read_text())
    assert np.isfinite(meta["scaler_mean"]).all() and np.isfinite(meta["scaler_scale"]).all()


@pytest.mark.parametrize("column", ["label", "t", "video_id", ALL_FEATURE_COLUMNS[3]])
def test_the_cli_refuses_a_file_missing_a_column_and_keeps_the_old_output(column, tmp_path):
    out = tmp_path / "dataset"
    out.mkdir()
    (out / "metadata.json").write_text('{"old": true}')
    with pytest.raises(CommandError) as refused:
        call_command(
            "build_task_dataset", "--features", *map(str, parquet_sources(tmp_path / "f", column)),
            "--output", str(out), "--window-sec", "2", "--step-sec", "0.5", "--no-progress",
        )  # fmt: skip
    message = str(refused.value)
    assert "cam1.parquet" in message and (column in message or "label" in message), message
    assert "\n" not in message
    assert [p.name for p in out.iterdir()] == ["metadata.json"] and json.loads((out / "metadata.json").read_text())


def write_feature_file(path: Path, frame: pd.DataFrame) -> Path:
    write_features(frame, path, {"video_id": path.stem, "fps": 10.0, "sample_rate": 1, "detector": "synthetic"})
    return path


class NoReporter:
    def stage(self, name, progress=None):
        pass

    def __call__(self, done, total):
        pass


def feature_row(owner, video_id: str, kind: str | None):
    frame = feature_frame(video_id, seed=len(video_id))
    labels = {str(k): int(v) for k, v in frame["label"].value_counts().items()}
    frame = broken(frame, kind) if kind else frame
    row = ready_feature_file(
        owner, video=video_row(owner, name=video_id), name=f"{video_id}_features.parquet", labels=labels
    )
    path = storage.absolute(row.path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_feature_file(path, frame)
    return row


@pytest.mark.parametrize("kind,ok", [("inf", True), ("nan", True), ("label", False), (ALL_FEATURE_COLUMNS[3], False)])
def test_the_api_and_the_build_job_handle_bad_feature_files(kind, ok, alice, client_for):
    good = [feature_row(alice, name, None) for name in ("camA", "camB")]
    bad = feature_row(alice, "camX", kind)
    files_before = {p: p.read_bytes() for p in storage.data_dir().rglob("*.parquet")}
    api = client_for(alice)
    body = {"feature_files": [f.filename for f in [*good, bad]], "window_sec": 2.0, "step_sec": 0.5}
    preview = api.post("/api/v1/datasets/preview/", body, format="json")
    datasets_before = Dataset.objects.count()
    dirs_before = sorted(storage.datasets_dir().glob("*"))
    r = api.post("/api/v1/datasets/", body, format="json")
    if ok:
        assert preview.status_code == 200, preview.content
        assert r.status_code == 202, r.content
        dataset = Dataset.objects.get(pk=r.json()["id"])
        dataset_build(Job.objects.get(pk=dataset.job_id), NoReporter())
        X = np.load(storage.absolute(Dataset.objects.get(pk=dataset.pk).path) / "X_train.npy")
        assert np.isfinite(X).all()
    else:
        # the request reads the files as the build would: refused before any row or job exists
        for refused in (preview, r):
            assert refused.status_code == 400, refused.content
            assert "camX_features.parquet" in json.dumps(refused.json()), refused.content
        assert Dataset.objects.count() == datasets_before
        assert sorted(storage.datasets_dir().glob("*")) == dirs_before
    # the feature files themselves are untouched either way
    assert {p: p.read_bytes() for p in storage.data_dir().rglob("*.parquet")} == files_before
