"""Live sessions when things break: the worker running one is killed, Redis restarts under one.

Private Redis and PostgreSQL (tests/reliability/stack.py); the web server, a worker for jobs and
one for the ``live`` queue; real MediaPipe, real websocket viewers.
"""

from __future__ import annotations

import json
import time

import pytest
import requests
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.platform import wait_for

pytestmark = [pytest.mark.slow]
JOB_QUEUES = "default,extraction,datasets,training"


@pytest.fixture(scope="module")
def live(stack, megamind):
    stack.start_server()
    stack.start_worker("jobs", queues=JOB_QUEUES)  # also runs the reaper while the live worker is down
    stack.alice = stack.user("live-alice")
    stack.trained = stack.train_model(stack.alice, megamind)
    return stack


def _start_session(app) -> int:
    r = requests.post(
        f"{app.http}/api/v1/live-sessions/", headers=app.alice,
        json={"model": app.trained["model"]["id"], "source": "video", "video": app.trained["video"]["id"]},
        timeout=30,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _viewer(app, session_id: int):
    return connect(
        f"{app.ws}/ws/streams/{session_id}/", origin=app.http, additional_headers=app.alice,
        open_timeout=30, max_queue=None,
    )  # fmt: skip


def _messages(ws, *, until: str | None, timeout: float) -> tuple[list[dict], str]:
    """Messages until one of stage ``until`` (or the timeout, or the server closing)."""
    out: list[dict] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                message = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            except TimeoutError:
                return out, "timeout"
            out.append(message)
            if message["stage"] == until:
                return out, until
    except ConnectionClosed:
        return out, "closed"
    return out, "timeout"


def _until_samples(ws, count: int = 10, timeout: float = 90) -> list[dict]:
    """Messages until ``count`` predictions arrived (the detectors take a while to load)."""
    out: list[dict] = []
    deadline = time.monotonic() + timeout
    while _samples(out) < count:
        out.append(json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic()))))
    return out


def _samples(messages: list[dict]) -> int:
    return sum(m["stage"] == "sample" for m in messages)


def _runs_to_the_end(app) -> None:
    """The worker is free again: a new session runs the whole video and finishes."""
    sid = _start_session(app)
    with _viewer(app, sid) as ws:
        messages, how = _messages(ws, until="finished", timeout=180)
    assert how == "finished", messages[-3:]
    assert messages[-1]["status"] == "finished" and _samples(messages) >= 10
    assert app.session(sid)["status"] == "finished"


def test_a_live_worker_killed_mid_session_fails_it_and_tells_its_viewers(live):
    worker = live.start_worker("live-1", queues="live")
    sid = _start_session(live)
    with _viewer(live, sid) as ws:
        _until_samples(ws)
        assert live.session(sid)["status"] == "running"
        worker.kill()
        after, how = _messages(ws, until="finished", timeout=90)
    assert how == "finished", after[-3:]
    alert = [m for m in after if m["stage"] == "alert"]
    assert alert and alert[-1]["message"] == "the worker running this session stopped"
    assert after[-1]["status"] == "failed"
    row = live.session(sid)
    assert row["status"] == "failed" and row["error"] == "the worker running this session stopped"
    shown = requests.get(f"{live.http}/api/v1/live-sessions/{sid}/", headers=live.alice, timeout=30).json()
    assert shown["status"] == "failed" and shown["error"] == row["error"]

    live.start_worker("live-2", queues="live")
    _runs_to_the_end(live)


def test_redis_restarting_under_a_session_ends_it_failed_with_the_reason_and_frees_the_worker(live):
    if "live-2" not in live.workers:
        live.start_worker("live-2", queues="live")
    sid = _start_session(live)
    with _viewer(live, sid) as ws:
        _until_samples(ws)
        live.redis.restart(down=2.0)
        after, how = _messages(ws, until="finished", timeout=60)
        # Live messages go over Redis pub/sub (the ``live`` layer), whose subscriptions in the web
        # server reconnect: the viewer stays and is told the session failed (the publisher's
        # finished, or the session row after TASKML_VIEWER_WATCH_SECONDS of silence); or, if
        # its socket was closed, it reconnects below and hears it from hello.
        assert how in ("closed", "finished"), (how, after[-3:])
        if how == "finished":
            assert after[-1]["status"] == "failed", after[-3:]
    row = wait_for(lambda: (r := live.session(sid))["status"] not in ("pending", "running") and r, timeout=60,
                   what="the session to end")  # fmt: skip
    assert row["status"] == "failed"
    assert row["error"].startswith("lost the live channel (Redis)"), row
    # A viewer that reconnects is told how the session ended.
    with _viewer(live, sid) as ws:
        hello = json.loads(ws.recv(timeout=30))
    assert hello["stage"] == "hello" and hello["status"] == "failed"
    shown = requests.get(f"{live.http}/api/v1/live-sessions/{sid}/", headers=live.alice, timeout=30).json()
    assert shown["status"] == "failed" and shown["error"] == row["error"]
    _runs_to_the_end(live)
