"""``GET /backend/stream_pose`` (Server-Sent Events) for existing EventSource clients, on the real server."""

from __future__ import annotations

import json
import time

import pytest
import requests

from tests.streaming.conftest import ended, session_row, wait_row, wait_worker_idle

pytestmark = [pytest.mark.slow, pytest.mark.django_db]
SSE = {"Accept": "text/event-stream"}


def stream(platform, person, **params) -> requests.Response:
    return requests.get(
        f"{platform.http}/backend/stream_pose",
        params=params,
        headers={**SSE, **person.headers},
        stream=True,
        timeout=60,  # between bytes; keep-alives come every 15 s
    )


def events(response: requests.Response):
    """Each ``data: {json}`` event as it arrives."""
    for line in response.iter_lines(decode_unicode=True):
        if line.startswith("data: "):
            yield json.loads(line[6:])


def test_a_video_streams_from_started_to_finished(platform, trained):
    with stream(platform, trained.alice, task_model=trained.model_file, filename=trained.video_file,
                realtime="false") as r:  # fmt: skip
        assert r.status_code == 200
        assert r.headers["Content-Type"].startswith("text/event-stream")
        assert r.headers["Cache-Control"] == "no-cache"
        sid = int(r.headers["X-Session-Id"])
        got = list(events(r))
    started, *samples, finished = got
    assert started["stage"] == "started" and started["session"] == sid and started["source"] == trained.video_file
    assert {m["stage"] for m in samples} == {"sample"}
    assert [m["frame_index"] for m in samples] == list(range(len(samples)))
    assert samples[-1]["task_prediction"] in started["labels"]
    assert finished["stage"] == "finished" and finished["status"] == "finished"
    assert finished["frames"] == len(samples) >= 269
    row = wait_row(sid, ended)
    assert (row.status, row.source_kind, row.realtime) == ("finished", "video", False)
    assert row.frames_processed == len(samples)


def test_without_a_video_the_missing_camera_fails_the_session_and_nothing_keeps_running(platform, trained):
    with stream(platform, trained.alice, task_model=trained.model_file) as r:
        assert r.status_code == 200
        sid = int(r.headers["X-Session-Id"])
        got = list(events(r))
    # "started" is announced before the source is opened; no sample follows it.
    assert [m["stage"] for m in got] == ["started", "alert", "finished"]
    assert got[0]["source"] == "camera 0"
    assert got[1]["message"] == "camera 0 could not be opened"
    assert got[2]["status"] == "failed" and got[2]["frames"] == 0
    row = wait_row(sid, ended)
    assert (row.status, row.source_kind, row.error) == ("failed", "camera", "camera 0 could not be opened")
    assert row.push_channel == ""
    wait_worker_idle(platform)


@pytest.mark.parametrize(
    ("who", "params", "status", "field"),
    [
        ("alice", {"task_model": "task_classifier_rf_999999.pkl"}, 404, "task_model"),
        ("bob", {"task_model": "<alice's>"}, 404, "task_model"),  # another user's model: as if unknown
        ("alice", {"task_model": "../task_classifier_rf_1.pkl"}, 400, "task_model"),
        ("alice", {"task_model": "models/task_classifier_rf_1.pkl"}, 400, "task_model"),
        ("alice", {"task_model": ""}, 400, "task_model"),
        ("alice", {"task_model": "<alice's>", "filename": "../../etc/passwd"}, 400, "filename"),
        ("alice", {"task_model": "<alice's>", "filename": "nope.avi"}, 404, "filename"),
        ("bob", {"task_model": "<bob's>", "filename": "<alice's>"}, 404, "filename"),
        ("alice", {"task_model": "<alice's>", "filename": "<alice's>", "smoothing": "mode"}, 400, "smoothing"),
    ],
)
def test_a_request_that_cannot_start_is_refused_before_any_session(platform, trained, who, params, status, field):
    from streaming.models import LiveSession

    person = getattr(trained, who)
    params = {
        "task_model": {"<alice's>": trained.model_file, "<bob's>": trained.bob_model_file}.get(
            params["task_model"], params["task_model"]
        ),
        **({"filename": trained.video_file if params["filename"] == "<alice's>" else params["filename"]}
           if "filename" in params else {}),
        **({"smoothing": params["smoothing"]} if "smoothing" in params else {}),
    }  # fmt: skip
    before = LiveSession.objects.count()

    plain = requests.get(f"{platform.http}/backend/stream_pose", params=params, headers=person.headers, timeout=30)
    assert plain.status_code == status, plain.text
    body = plain.json()
    assert body["status"] == "error" and body["alert"].startswith(f"{field}: ")

    with stream(platform, person, **params) as r:
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/event-stream")
        got = list(events(r))
    assert got == [{"stage": "alert", "message": body["alert"]}]
    assert LiveSession.objects.count() == before


def test_without_credentials_nothing_starts(platform, trained):
    r = requests.get(
        f"{platform.http}/backend/stream_pose", params={"task_model": trained.model_file}, headers=SSE, timeout=30
    )
    assert r.status_code == 401
    assert r.json()["status"] == "error"


def test_closing_the_stream_stops_the_session(platform, trained):
    r = stream(platform, trained.alice, task_model=trained.model_file, filename=trained.video_file)  # real time
    sid = int(r.headers["X-Session-Id"])
    seen = []
    for message in events(r):
        seen.append(message)
        if len(seen) == 10:
            break
    assert seen[0]["stage"] == "started" and seen[-1]["stage"] == "sample"
    assert session_row(sid).status == "running"
    closed = time.monotonic()
    r.close()
    row = wait_row(sid, ended, timeout=15, what="the session to stop")
    assert row.status == "stopped" and row.stop_requested
    assert time.monotonic() - closed < 10
    assert row.frames_processed < 200  # ~11 s of video at its own speed: it did not run to the end
