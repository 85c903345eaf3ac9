"""Real services for platform tests: Celery worker processes against the test database."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
QUEUES = "default,extraction,datasets,training"


def worker_env(**extra: str) -> dict[str, str]:
    """The environment a worker needs to see exactly what the tests see."""
    db = connection.settings_dict
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "REDIS_URL": settings.REDIS_URL,
            "TASKML_DATA_DIR": str(settings.DATA_DIR),
            "TASKML_YOLO_MODEL": settings.TASKML_YOLO_MODEL,
            "TASKML_JOB_HEARTBEAT_SECONDS": str(settings.TASKML_JOB_HEARTBEAT_SECONDS),
            "TASKML_JOB_STALE_SECONDS": str(settings.TASKML_JOB_STALE_SECONDS),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    """A subprocess in its own process group, its output in a log file."""

    def __init__(self, name: str, args: list[str], log_dir: Path, env: dict[str, str]):
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            args, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited ({self.process.returncode}):\n{self.log()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the whole process group at once: no clean-up runs."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self._log.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


class Worker(Service):
    """A real `celery worker` process (prefork, one child) in its own process group."""

    def __init__(self, log_dir: Path, *, name: str | None = None, **env: str):
        worker_name = name or f"test-{uuid.uuid4().hex[:6]}"
        super().__init__(
            f"worker-{worker_name}",
            [sys.executable, "-m", "celery", "-A", "taskml.celery", "worker", "-Q", QUEUES, "-c", "1",
             "-n", f"{worker_name}@%h", "-l", "info", "--without-gossip", "--without-mingle", "--without-heartbeat"],
            log_dir,
            worker_env(**env),
        )  # fmt: skip
        self.name = worker_name
        self.nodename = f"{worker_name}@{socket.gethostname()}"
        self.wait_ready()

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if " ready." in self.log():
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited at start:\n{self.log()[-3000:]}")
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready after {timeout} s:\n{self.log()[-3000:]}")


def purge_broker() -> None:
    from taskml.celery import app

    with app.connection_for_write() as conn:
        for queue in QUEUES.split(","):
            conn.default_channel.queue_purge(queue)


def wait_for(predicate, *, timeout: float = 120, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def queue_length(queue: str) -> int:
    """Messages waiting on one of this session's queues (not those a worker holds unacknowledged)."""
    from taskml.celery import app

    with app.connection_for_write() as conn:
        return conn.default_channel.client.llen(queue)


@contextlib.contextmanager
def workers_paused(*, timeout: float = 10):
    """Make every running worker of this test session stop taking new messages, then resume them.

    The workers keep running (their reapers too); messages sent meanwhile wait in the broker
    for whichever worker consumes next: a test's own worker, or these once resumed.
    """
    from taskml.celery import app

    queues = QUEUES.split(",")
    nodes = sorted({name for reply in app.control.ping(timeout=1.5) for name in reply})
    for queue in queues if nodes else ():
        app.control.cancel_consumer(queue, destination=nodes, reply=True, limit=len(nodes), timeout=timeout)
    time.sleep(1.5)  # a read a worker already had waiting on the broker (1 s at most) runs out
    try:
        yield nodes
    finally:
        for queue in queues if nodes else ():
            app.control.add_consumer(queue, destination=nodes, reply=True, limit=len(nodes), timeout=timeout)
