"""Live sessions end to end, as a new user meets them: a model trained through /backend/ on the
Megamind sample, a session on the same video, predictions watched over a real websocket from
a real web server (uvicorn), produced by a real worker through the Redis channel layer."""

from __future__ import annotations

import base64
import json
import time

import cv2
import numpy as np
import pandas as pd
import pytest

from tests.streaming.conftest import (
    connect,
    create_session,
    ended,
    receive_until,
    receive_until_finished,
    sessions_held,
    wait_row,
    wait_worker_idle,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

SAMPLE_KEYS = {
    "stage", "session", "frame_index", "t", "task_prediction", "task_confidence", "probabilities", "smoothed",
    "model_version", "caption", "decoded_at", "sent_at", "overhead_ms", "dropped", "seq",
    "skipped",
}  # fmt: skip


def offline_poses(trained) -> dict[int, np.ndarray]:
    """{frame_index: (33, 4) pose} from the video's extracted features file."""
    from taskml import storage
    from videos.models import FeatureFile

    features = FeatureFile.objects.get(filename=trained.feature_file, video__owner=trained.alice.user)
    frame = pd.read_parquet(storage.absolute(features.path), columns=["frame_index", "mp_pose_landmarks"])
    return {
        int(i): np.array(json.loads(p))
        for i, p in zip(frame["frame_index"], frame["mp_pose_landmarks"], strict=True)
        if isinstance(p, str)
    }


def offline_windows(trained) -> tuple[np.ndarray, np.ndarray, list[str], int]:
    """(starts, probabilities, labels, frames) predicting the video's extracted features offline."""
    from models_app.models import TrainedModel
    from models_app.services import trained_model_load
    from taskml import storage
    from taskml.pipeline.online import ModelRunner, predict_windows
    from videos.models import FeatureFile

    runner = ModelRunner(trained_model_load(trained_model=TrainedModel.objects.get(pk=trained.model_id)))
    features = FeatureFile.objects.get(filename=trained.feature_file, video__owner=trained.alice.user)
    frame = pd.read_parquet(storage.absolute(features.path))
    values = frame[runner.feature_names].to_numpy(np.float32).copy()
    values[~np.isfinite(values)] = np.nan
    starts, probabilities = predict_windows(frame["t"].to_numpy(), values, runner)
    return starts, probabilities, runner.labels, len(frame)


def test_a_session_on_the_training_video_streams_the_offline_predictions(platform, trained):
    with sessions_held(platform):
        r = create_session(
            platform, trained.alice, model=trained.model_id, source="video", video=trained.video_id, realtime=False
        )
        assert r.status_code == 201, r.text
        created = r.json()
        assert created["status"] == "pending"
        assert created["websocket"] == f"/ws/streams/{created['id']}/"
        assert created["model_file"] == trained.model_file and created["video_file"] == trained.video_file
        ws = connect(platform, created["id"], trained.alice)
    with ws:
        everything = receive_until_finished(ws, pictures=True)
    pictures = [m for m in everything if m["stage"] == "frame"]
    messages = [m for m in everything if m["stage"] != "frame"]

    hello, started, *samples, finished = messages
    assert hello["stage"] == "hello" and hello["session"] == created["id"] and hello["source"] == "video"
    starts, probabilities, labels, frames = offline_windows(trained)
    assert started["stage"] == "started"
    assert started["labels"] == labels == ["holding_glass", "talking"]
    assert (started["window_sec"], started["step_sec"]) == (1.0, 0.25)
    assert started["source"] == trained.video_file
    version = started["model_version"]
    assert version.startswith("v1-")

    # One message per frame, in order, nothing lost on the way.
    assert {m["stage"] for m in samples} == {"sample"}
    assert [m["frame_index"] for m in samples] == list(range(frames))
    assert all(m["dropped"] == 0 for m in messages)
    for m in samples:
        assert set(m) == SAMPLE_KEYS | ({"window"} if m["task_prediction"] is not None else set())
        assert m["model_version"] == version and m["caption"] is None and m["smoothed"] is False
    assert samples[0]["task_prediction"] is None and samples[-1]["task_prediction"] in labels

    # The windows the stream reports are the offline windows, with the same probabilities.
    reported: dict[float, dict] = {}
    for m in samples:
        if m["task_prediction"] is not None and m["window"]["start"] not in reported:
            reported[m["window"]["start"]] = m
    got_starts = np.array(list(reported))
    assert len(reported) >= len(starts) - 4  # the last windows complete only at the end (finish())
    assert np.allclose(got_starts, starts[: len(reported)], atol=1e-4)
    for m, expected in zip(reported.values(), probabilities, strict=False):
        got = np.array([m["probabilities"][label] for label in labels])
        assert np.allclose(got, expected, atol=1e-4)
        assert m["window"]["label"] == m["task_prediction"] == labels[int(expected.argmax())]
        assert m["window"]["end"] == pytest.approx(m["window"]["start"] + 1.0, abs=1e-3)
        assert m["task_confidence"] == pytest.approx(expected.max(), abs=1e-4)

    assert finished.pop("seq") > samples[-1]["seq"]
    assert finished == {
        "stage": "finished",
        "session": created["id"],
        "status": "finished",
        "frames": frames,
        "windows": len(starts),
        "publish_dropped": 0,
        "frames_dropped": 0,
        "dropped": 0,
    }
    row = wait_row(created["id"], ended)
    assert row.status == "finished" and row.error == ""
    assert (row.frames_processed, row.windows_predicted, row.frames_dropped) == (frames, len(starts), 0)
    assert row.started_at <= row.finished_at and row.push_channel == ""

    # Pictures of the analysed frames, at most TASKML_LIVE_FRAME_FPS a second of processing, each
    # after its own sample, with the detections of that frame and the prediction made with it.
    assert hello["pictures"] == {"fps": 4.0, "width": 480}
    assert pictures, "no picture"
    by_index = {m["frame_index"]: m for m in samples}
    positions = {id(m): i for i, m in enumerate(everything)}
    for picture in pictures:
        sample = by_index[picture["frame_index"]]
        assert positions[id(sample)] < positions[id(picture)]
        assert picture["task_prediction"] == sample["task_prediction"] and picture["t"] == sample["t"]
        assert picture["width"] <= 480 and picture["jpeg_base64"]
        assert picture["objects"] == []  # a MediaPipe model: objects were not looked for
    # The overlays are that frame's detections: the offline extraction of the same video found the same pose.
    offline = offline_poses(trained)
    with_pose = [p for p in pictures if p["pose"] is not None]
    assert len(with_pose) >= 0.9 * len(pictures)
    for picture in with_pose:
        expected = offline[picture["frame_index"]]
        assert np.allclose(np.array(picture["pose"]), expected[:, [0, 1, 3]], atol=2e-3)
    seconds = (row.finished_at - row.started_at).total_seconds()
    assert len(pictures) <= 4 * seconds + 1, (len(pictures), seconds)


def label_changes(labels: list[str]) -> int:
    return sum(a != b for a, b in zip(labels, labels[1:], strict=False))


def test_hysteresis_smoothing_holds_the_label_through_flicker(platform, trained):
    with sessions_held(platform):
        r = create_session(
            platform, trained.alice, model=trained.model_id, source="video", video=trained.video_id, realtime=False,
            smoothing={"method": "hysteresis", "min_duration": 2.0},
        )  # fmt: skip
        assert r.status_code == 201, r.text
        assert r.json()["smoothing"] == {"method": "hysteresis", "k": 5, "alpha": 0.3, "min_duration": 2.0}
        ws = connect(platform, r.json()["id"], trained.alice)
    with ws:
        messages = receive_until_finished(ws)
    started, finished = messages[1], messages[-1]
    assert started["smoothing"]["method"] == "hysteresis" and finished["status"] == "finished"
    windows = {}  # one entry per window: (end, raw label, smoothed label)
    for m in messages:
        if m["stage"] == "sample" and m["task_prediction"] is not None:
            assert m["smoothed"] is True
            windows.setdefault(m["window"]["start"], (m["window"]["end"], m["window"]["label"], m["task_prediction"]))
    ends, raw, smoothed = (list(x) for x in zip(*windows.values(), strict=True))

    # The raw labels are what smoothing "none" emits (the offline predictions, see the parity test).
    starts, probabilities, labels, _ = offline_windows(trained)
    assert raw == [labels[i] for i in probabilities.argmax(axis=1)[: len(raw)]]
    assert label_changes(raw) >= 2
    assert label_changes(smoothed) < label_changes(raw)
    # Each switch comes only after the new label has won every window of the last 2 s.
    for i in range(1, len(smoothed)):
        if smoothed[i] != smoothed[i - 1]:
            recent = [label for end, label in zip(ends, raw, strict=True) if ends[i] - 2.0 - 1e-6 <= end <= ends[i]]
            assert set(recent) == {smoothed[i]}, (i, recent)


def megamind_jpegs(megamind, n: int) -> list[bytes]:
    cap = cv2.VideoCapture(str(megamind))
    frames = []
    while len(frames) < n:
        ok, frame = cap.read()
        assert ok
        frames.append(cv2.imencode(".jpg", frame)[1].tobytes())
    cap.release()
    return frames


def drain(ws, *, quiet: float = 3.0) -> list[dict]:
    """Messages until none came for ``quiet`` seconds."""
    got = []
    while True:
        try:
            got.append(json.loads(ws.recv(timeout=quiet)))
        except TimeoutError:
            return got


def test_frames_pushed_over_the_websocket_come_back_as_predictions(platform, trained, megamind):
    from websockets.exceptions import InvalidStatus

    wait_worker_idle(platform)  # the frames' timing is checked: no other session shares the CPU
    r = create_session(platform, trained.alice, model=trained.model_id, source="push", smoothing={"method": "ema"})
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    wait_row(sid, lambda row: row.push_channel != "", what="the session to take frames")
    jpegs = megamind_jpegs(megamind, 60)

    # Only the owner pushes: bob cannot even connect, staff may watch but not push.
    with pytest.raises(InvalidStatus):
        connect(platform, sid, trained.bob)
    with connect(platform, sid, trained.staff) as staff:
        staff.send(jpegs[0])
        assert receive_until(staff, "alert")[0]["message"] == "only the session's owner can push frames"

    with connect(platform, sid, trained.alice) as ws:
        assert json.loads(ws.recv(timeout=30))["status"] == "running"
        ws.send(b"GIF89a not a jpeg")
        assert receive_until(ws, "alert")[0]["message"].startswith("frames must be JPEG images")
        b64 = base64.b64encode(jpegs[0]).decode()
        for t in ("NaN", "Infinity", "-1", '"soon"'):
            ws.send(f'{{"action": "frame", "jpeg_base64": "{b64}", "t": {t}}}')
            assert receive_until(ws, "alert")[0]["message"] == "t must be a finite number of seconds, at least 0"

        began = time.monotonic()
        for jpeg in jpegs:
            ws.send(jpeg)
            time.sleep(0.04)
        pushing = time.monotonic() - began
        got = drain(ws)
        samples = [m for m in got if m["stage"] == "sample"]
        # Besides samples, only pictures of the pushed frames (every source gets them), and
        # "started" when this viewer joined before the session announced it.
        assert {m["stage"] for m in got} - {"started"} == {"sample", "frame"}
        # In order; a live source's newest sample wins, so one the page fell behind on is skipped
        # (counted in the next one's ``skipped``).
        indices = [m["frame_index"] for m in samples]
        assert indices == sorted(set(indices)) and indices[0] == 0
        assert len(samples) + sum(m["skipped"] for m in samples) == indices[-1] + 1
        assert len(samples) >= 30  # a few may be skipped while detection catches up, counted below
        # Frames without a time of their own are timed by the wall clock as they arrive.
        assert samples[-1]["t"] - samples[0]["t"] == pytest.approx(pushing, abs=1.0)
        predicted = [m for m in samples if m["task_prediction"] is not None]
        assert len(predicted) >= 10 and all(m["smoothed"] for m in predicted)
        assert {m["task_prediction"] for m in predicted} <= {"holding_glass", "talking"}
        row = wait_row(sid, lambda row: True)
        assert row.status == "running" and 0 < row.frames_processed <= indices[-1] + 1  # saved about once a second

        # A time far ahead of the last frame's would make the predictor fill every window in between: refused.
        ws.send(json.dumps({"action": "frame", "jpeg_base64": b64, "t": 10**9}))
        alert, _ = receive_until(ws, "alert", timeout=30)
        assert alert["message"].startswith("pushed frame times jumped from")
        finished, _ = receive_until(ws, "finished", timeout=30)
    assert finished["status"] == "failed" and finished["frames"] == indices[-1] + 1
    assert finished["frames"] + finished["frames_dropped"] == len(jpegs)
    row = wait_row(sid, ended)
    assert row.status == "failed" and row.error == alert["message"] and row.push_channel == ""
    assert row.frames_processed == len(samples)
    assert row.windows_predicted >= len({m["window"]["start"] for m in predicted})
