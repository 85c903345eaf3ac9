"""Real services for live-session tests: the web server (manage.py serve: uvicorn), a Celery worker that also
consumes the ``live`` queue, the Redis channel layer, and real HTTP and websocket clients.

The services start once for this package, and one model is trained through /backend/ (MediaPipe,
every frame) and shared by its tests. Its rows are committed (by this fixture, the server and
the worker), so the tests need no transactional database of their own: they only read, and
PostgreSQL's read committed shows them the other processes' commits. The database is flushed
when the package's tests end, as a transactional test would leave it.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.conftest import MEGAMIND_LABELS
from tests.platform import Service, free_port

ROOT = Path(__file__).resolve().parent.parent.parent
QUEUES = "default,extraction,datasets,training,live"


def start_worker(log_dir: Path, env: dict[str, str], *, name: str, concurrency: int = 2) -> Service:
    worker = Service(
        name,
        [sys.executable, "-m", "celery", "-A", "taskml.celery", "worker", "-Q", QUEUES, "-c", str(concurrency),
         "-n", f"{name}@%h", "-l", "info", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        log_dir,
        env,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while " ready." not in worker.log():
        worker.check_alive()
        if time.monotonic() > deadline:
            raise RuntimeError(f"worker not ready:\n{worker.log()[-3000:]}")
        time.sleep(0.2)
    return worker


def start_server(log_dir: Path, env: dict[str, str]) -> tuple[Service, int]:
    port = free_port()
    server = Service(
        "web", [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port)],
        log_dir, env,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while True:
        server.check_alive()
        with contextlib.suppress(requests.ConnectionError):
            if requests.get(f"http://127.0.0.1:{port}/api/v1/", timeout=5).status_code in (200, 401, 403):
                return server, port
        if time.monotonic() > deadline:
            raise RuntimeError(f"the web server did not answer:\n{server.log()[-3000:]}")
        time.sleep(0.3)


@dataclass
class Platform:
    server: Service
    worker: Service
    worker_node: str
    port: int

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Person:
    user: object
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.token}"}


@dataclass
class Trained:
    """What a new user has after the /backend/ workflow: a video, its features and a model."""

    alice: Person
    bob: Person
    staff: Person
    video_file: str  # alice's uploaded Megamind (the name /backend/ returned)
    video_id: int
    feature_file: str
    model_file: str
    model_id: int
    bob_model_id: int  # bob's (for cross-owner checks)
    bob_model_file: str
    pending_model_id: int  # alice's, never trained


def _flush_database() -> None:
    from django.core.management import call_command

    call_command("flush", interactive=False, verbosity=0)  # as a transactional test's teardown does


def _purge(queue: str) -> None:
    from taskml.celery import app

    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(queue)


@contextlib.contextmanager
def serving(django_db_blocker, log_dir: Path, env: dict[str, str], *, worker_name: str):
    """Purge the queues, start a worker on every queue and the web server, yield (server, worker,
    port); afterwards stop the live sessions and both processes, and flush the database as a
    transactional test's teardown does."""
    with django_db_blocker.unblock():
        for queue in QUEUES.split(","):
            _purge(queue)
        worker = start_worker(log_dir, env, name=worker_name)
        try:
            server, port = start_server(log_dir, env)
        except BaseException:
            worker.stop()
            raise
    yield server, worker, port
    with django_db_blocker.unblock():
        from streaming.models import LiveSession
        from tests.platform import wait_for

        LiveSession.objects.filter(status__in=LiveSession.ACTIVE).update(stop_requested=True)
        wait_for(  # sessions notice within half a second and end
            lambda: not LiveSession.objects.filter(status=LiveSession.Status.RUNNING).exists(),
            timeout=30,
            what="the running live sessions to stop",
        )
    server.stop()
    worker.stop()
    with django_db_blocker.unblock():
        _purge("live")
        _flush_database()


@pytest.fixture(scope="package")
def platform(django_db_setup, django_db_blocker, tmp_path_factory):
    """The web server + a worker consuming every queue (two processes, so two sessions may run at once)."""
    from tests.platform import worker_env

    name = f"live-{uuid.uuid4().hex[:6]}"
    env = worker_env()
    with serving(django_db_blocker, tmp_path_factory.mktemp("live-services"), env, worker_name=name) as (
        server,
        worker,
        port,
    ):
        yield Platform(server=server, worker=worker, worker_node=f"{name}@{socket.gethostname()}", port=port)


def _person(username: str, *, staff: bool = False) -> Person:
    from django.contrib.auth.models import User
    from rest_framework.authtoken.models import Token

    user = User.objects.create_user(username, password=f"{username}-password-1", is_staff=staff)
    return Person(user=user, token=Token.objects.create(user=user).key)


def _backend(platform: Platform, person: Person, path: str, *, timeout: float = 600, **kwargs) -> dict:
    r = requests.post(f"{platform.http}/backend/{path}", headers=person.headers, timeout=timeout, **kwargs)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "success", body
    return body


def _train(platform: Platform, person: Person, megamind: Path, video_id: str) -> tuple[dict, dict]:
    """Upload with labels, extract (MediaPipe, every frame), build and train: the /backend/ workflow."""
    with open(megamind, "rb") as video, open(MEGAMIND_LABELS, "rb") as labels:
        up = _backend(
            platform,
            person,
            "upload_and_extract_features",
            files={"video": ("Megamind.avi", video), "labels_csv": ("labels.csv", labels)},
            data={"video_id": video_id, "detector_type": "mediapipe", "sample_rate": "1"},
        )
    ds = _backend(
        platform,
        person,
        "build_task_dataset",
        data={"feature_files": up["feature_file"], "window_sec": "1.0", "step_sec": "0.25", "train_ratio": "0.5",
              "val_ratio": "0.25", "test_ratio": "0.25"},
    )  # fmt: skip
    model = _backend(
        platform, person, "train_task_model", data={"dataset_dir": ds["dataset_dir"], "model_type": "rf",
                                                    "n_estimators": "30"},
    )  # fmt: skip
    return up, model


@pytest.fixture(scope="package")
def trained(platform, django_db_blocker, megamind) -> Trained:
    from models_app.models import TrainedModel
    from videos.models import Video

    with django_db_blocker.unblock():
        alice, bob, staff = _person("live-alice"), _person("live-bob"), _person("live-staff", staff=True)
        up, model = _train(platform, alice, megamind, "mega")
        video = Video.objects.get(owner=alice.user, stored_name=up["video_file"])
        trained_model = TrainedModel.objects.get(pk=model["model_id"])
        # Rows only the refusals need: a model of bob's (as the registry shows a trained one) and
        # one of alice's whose training never ran.
        bob_model = TrainedModel.objects.create(
            owner=bob.user,
            dataset=trained_model.dataset,
            version=1,
            model_type="rf",
            aggregation="stats",
            status="succeeded",
            filename="task_classifier_rf_bob.pkl",
            path=trained_model.path,
            sha256=trained_model.sha256,
        )
        pending = TrainedModel.objects.create(
            owner=alice.user,
            dataset=trained_model.dataset,
            version=trained_model.version + 1,
            model_type="rf",
            aggregation="stats",
            filename="task_classifier_rf_pending.pkl",
        )
    return Trained(
        alice=alice,
        bob=bob,
        staff=staff,
        video_file=up["video_file"],
        video_id=video.pk,
        feature_file=up["feature_file"],
        model_file=model["model_path"],
        model_id=model["model_id"],
        bob_model_id=bob_model.pk,
        bob_model_file=bob_model.filename,
        pending_model_id=pending.pk,
    )


def parse_sse(lines) -> list[dict]:
    """``data: {json}`` events from an iterator of text lines (stops at the end of the stream)."""
    events = []
    for line in lines:
        if line.startswith("data: "):
            events.append(json.loads(line[6:]))
    return events


# ---------------------------------------------------------------- clients


def create_session(platform: Platform, person: Person, **body) -> requests.Response:
    return requests.post(f"{platform.http}/api/v1/live-sessions/", json=body, headers=person.headers, timeout=30)


def session_row(session_id: int):
    from streaming.models import LiveSession

    return LiveSession.objects.get(pk=session_id)


def wait_row(session_id: int, predicate, *, timeout: float = 60, what: str = "session state"):
    """The session's row once ``predicate(row)`` holds."""
    from tests.platform import wait_for

    def check():
        row = session_row(session_id)
        return row if predicate(row) else None

    return wait_for(check, timeout=timeout, what=what)


def ended(row) -> bool:
    return not row.is_active


@contextlib.contextmanager
def sessions_held(platform: Platform):
    """New sessions wait in the ``live`` queue until the block ends, so viewers can connect first."""
    from taskml.celery import app

    node = [platform.worker_node]
    app.control.cancel_consumer("live", destination=node, reply=True, timeout=10)
    time.sleep(1.5)  # a read the worker already had waiting on the broker (1 s at most) runs out
    try:
        yield
    finally:
        app.control.add_consumer("live", destination=node, reply=True, timeout=10)


def connect(
    platform: Platform, session_id: int, person: Person | None = None, *, origin: str | None = "same", query="", **kw
):
    """A real websocket client (websockets' threaded client) on ``ws/streams/<id>/``.

    ``person`` authenticates with an ``Authorization: Token`` header; ``origin`` defaults to
    the server's own (what a page it served would send); None sends no Origin header.
    """
    from websockets.sync.client import connect as ws_connect

    kw.setdefault("max_queue", None)  # read everything as it arrives: a fast viewer
    kw.setdefault("open_timeout", 30)
    headers = {**(person.headers if person is not None else {}), **kw.pop("additional_headers", {})}
    return ws_connect(
        f"{platform.ws}/ws/streams/{session_id}/{query}",
        origin=platform.origin if origin == "same" else origin,
        additional_headers=headers,
        **kw,
    )


def refusal(platform: Platform, session_id: int, person: Person | None = None, **kw) -> tuple[str, int]:
    """How a connection is refused: ("http", status) at the handshake or ("close", code) after it."""
    from websockets.exceptions import ConnectionClosed, InvalidStatus

    try:
        ws = connect(platform, session_id, person, **kw)
    except InvalidStatus as exc:
        return "http", exc.response.status_code
    with ws:
        try:
            while True:
                message = json.loads(ws.recv(timeout=10))
                assert message["stage"] not in ("hello", "sample"), f"not refused: {message}"
        except ConnectionClosed:
            return "close", ws.close_code


def receive_until_finished(ws, *, timeout: float = 180, pictures: bool = False) -> list[dict]:
    """Every message up to and including ``finished``; pictures (``stage: frame``, sent beside the
    per-frame samples at a bounded rate) only when asked for."""
    messages = []
    deadline = time.monotonic() + timeout
    while True:
        message = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        if message["stage"] != "frame" or pictures:
            messages.append(message)
        if message["stage"] == "finished":
            return messages


def receive_until(ws, stage: str, *, timeout: float = 60) -> tuple[dict, list[dict]]:
    """(the first message of ``stage``, the messages before it)."""
    before = []
    deadline = time.monotonic() + timeout
    while True:
        message = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
        if message["stage"] == stage:
            return message, before
        if message["stage"] != "frame":  # pictures: see receive_until_finished
            before.append(message)


def live_task_running(platform: Platform) -> bool:
    from taskml.celery import app

    active = app.control.inspect(destination=[platform.worker_node], timeout=5).active() or {}
    return any(task["name"] == "streaming.run_session" for tasks in active.values() for task in tasks)


def wait_worker_idle(platform: Platform, *, timeout: float = 15) -> None:
    """No session runs in the worker any more (an ended session's task returns a moment after its row)."""
    from tests.platform import wait_for

    wait_for(lambda: not live_task_running(platform), timeout=timeout, interval=0.5, what="no session running")
