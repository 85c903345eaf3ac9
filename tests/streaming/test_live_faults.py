"""What goes wrong: sources that cannot be read, requests that must not start, stopping."""

from __future__ import annotations

import json

import pytest
import requests

from tests.streaming.conftest import (
    connect,
    create_session,
    ended,
    receive_until,
    receive_until_finished,
    session_row,
    sessions_held,
    wait_row,
    wait_worker_idle,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


def test_an_unreachable_stream_fails_the_session_with_an_alert_and_frees_the_worker(platform, trained):
    with sessions_held(platform):
        r = create_session(
            platform, trained.alice, model=trained.model_id, source="url", url="rtsp://127.0.0.1:9/nothing"
        )
        assert r.status_code == 201, r.text
        sid = r.json()["id"]
        assert r.json()["url"] == "rtsp://127.0.0.1:9/nothing"
        ws = connect(platform, sid, trained.alice)
    with ws:
        messages = receive_until_finished(ws, timeout=60)
    assert [m["stage"] for m in messages] == ["hello", "started", "alert", "finished"]
    assert messages[2]["message"] == "stream rtsp://127.0.0.1:9/nothing could not be opened"
    assert messages[3]["status"] == "failed"
    row = wait_row(sid, ended)
    assert row.status == "failed" and row.error == messages[2]["message"] and row.frames_processed == 0
    wait_worker_idle(platform)
    shown = requests.get(f"{platform.http}/api/v1/live-sessions/{sid}/", headers=trained.alice.headers, timeout=30)
    assert shown.json()["status"] == "failed" and shown.json()["error"] == row.error


def test_requests_that_cannot_start_are_refused_at_creation(platform, trained):
    from streaming.models import LiveSession

    alice, bob = trained.alice, trained.bob
    video = {"source": "video", "video": trained.video_id}
    before = LiveSession.objects.count()
    for person, body, status, answer in [
        (alice, {"model": trained.model_id, "source": "url", "url": "file:///etc/passwd"}, 400, "url: stream URL must"),
        (alice, {"model": trained.model_id, "source": "url", "url": "/etc/passwd"}, 400, "url: stream URL must"),
        (alice, {"model": trained.model_id, "source": "url", "url": "  "}, 400, "url: "),
        (alice, {"model": trained.model_id, "source": "url"}, 400, "url: stream URL must"),
        (alice, {"model": trained.model_id, "source": "video"}, 400, "video: name an uploaded video"),
        (alice, {"model": trained.model_id, "source": "screen"}, 400, "source: "),
        (alice, {"model": trained.model_id, **video, "smoothing": {"method": "mode"}}, 400, "smoothing: "),
        (alice, {"model": trained.model_id, **video, "smoothing": {"alpha": 2}}, 400, "smoothing: "),
        (alice, {"model": trained.pending_model_id, **video}, 400, "model: task_classifier_rf_pending.pkl is not"),
        (alice, {"model": 10**9, **video}, 404, "model: no model"),
        (alice, {"model": trained.bob_model_id, **video}, 404, "model: no model"),  # bob's model
        (bob, {"model": trained.model_id, **video}, 404, "model: no model"),  # alice's model
        (bob, {"model": trained.bob_model_id, **video}, 404, "video: no video"),  # alice's video
        (alice, {"model": trained.model_id, "source": "video", "video": 10**9}, 404, "video: no video"),
    ]:
        r = create_session(platform, person, **body)
        assert r.status_code == status, (body, r.text)
        if status == 400:  # {field: [message]}
            field, message = answer.split(": ", 1)
            assert list(r.json()) == [field], (body, r.json())
            assert message in json.dumps(r.json()[field]), (body, r.json())
        else:
            assert r.json()["detail"].startswith(answer), (body, r.json())
    assert LiveSession.objects.count() == before
    r = requests.post(
        f"{platform.http}/api/v1/live-sessions/", json={"model": trained.model_id, "source": "push"}, timeout=30
    )
    assert r.status_code == 401


def test_stopping_through_the_api(platform, trained):
    api = f"{platform.http}/api/v1/live-sessions"
    # A running session: the owner stops it; bob cannot see it; a second stop is a conflict.
    r = create_session(platform, trained.alice, model=trained.model_id, source="video", video=trained.video_id)
    sid = r.json()["id"]
    wait_row(sid, lambda row: row.status == "running" and row.frames_processed > 0, what="frames processed")
    assert requests.post(f"{api}/{sid}/stop/", headers=trained.bob.headers, timeout=30).status_code == 404
    assert requests.get(f"{api}/{sid}/", headers=trained.bob.headers, timeout=30).status_code == 404
    bobs = requests.get(f"{api}/", headers=trained.bob.headers, timeout=30).json()["results"]
    assert sid not in [s["id"] for s in bobs]
    r = requests.post(f"{api}/{sid}/stop/", headers=trained.alice.headers, timeout=30)
    assert r.status_code == 200, r.text
    row = wait_row(sid, ended, timeout=15, what="the session to stop")
    assert row.status == "stopped" and row.frames_processed < 260 and row.error == ""
    again = requests.post(f"{api}/{sid}/stop/", headers=trained.alice.headers, timeout=30)
    assert again.status_code == 409 and "already stopped" in again.json()["detail"]

    # A session that has not started yet ends at once, and its viewers hear it; the worker never runs it.
    with sessions_held(platform):
        sid = create_session(platform, trained.alice, model=trained.model_id, source="push").json()["id"]
        with connect(platform, sid, trained.alice) as ws:
            assert json.loads(ws.recv(timeout=30))["status"] == "pending"
            r = requests.post(f"{api}/{sid}/stop/", headers=trained.staff.headers, timeout=30)  # staff may
            assert r.status_code == 200 and r.json()["status"] == "stopped"
            finished, _ = receive_until(ws, "finished")
            assert finished["status"] == "stopped"
    listed = requests.get(f"{api}/?status=stopped", headers=trained.alice.headers, timeout=30).json()["results"]
    assert sid in [s["id"] for s in listed]
    wait_worker_idle(platform)  # the queued run was taken and skipped
    row = session_row(sid)
    assert row.status == "stopped" and row.started_at is None and row.worker == ""


def test_stopping_over_the_websocket_is_for_the_owner(platform, trained):
    r = create_session(platform, trained.alice, model=trained.model_id, source="push")
    sid = r.json()["id"]
    wait_row(sid, lambda row: row.push_channel != "", what="the session to take frames")
    with connect(platform, sid, trained.staff) as staff, connect(platform, sid, trained.alice) as owner:
        staff.send(json.dumps({"action": "stop"}))
        assert receive_until(staff, "alert")[0]["message"] == "only the session's owner can stop it"
        assert session_row(sid).status == "running"
        owner.send(json.dumps({"action": "stop"}))
        for ws in (owner, staff):
            assert receive_until_finished(ws)[-1]["status"] == "stopped"
        owner.send(json.dumps({"action": "stop"}))  # already over
        assert "has already stopped" in receive_until(owner, "alert")[0]["message"]
    assert wait_row(sid, ended).status == "stopped"
