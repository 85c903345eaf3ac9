"""An app stack on PRIVATE services: its own PostgreSQL cluster and Redis server, which a test may
stop, restart or kill without touching the machine's shared ones (other test sessions use those).

- ``PrivateRedis``: ``redis-server --save '' --appendonly no`` on a free port (a restart loses
  everything, as a crashed broker without persistence does).
- ``PrivatePostgres``: a throw-away cluster (initdb, trust auth) run as the ``postgres`` user in
  a temporary directory it owns; ``restart()`` is a fast shutdown (open connections are cut).
- ``AppStack``: both, migrated, with the web server (``manage.py serve``) and Celery workers
  started on demand as subprocesses pointed at them through DATABASE_URL / REDIS_URL, and a
  private data directory. The test process reads the private database with psycopg (``sql``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

from tests.conftest import MEGAMIND_LABELS
from tests.platform import ROOT, Service, free_port, wait_for, worker_env

# The newest PostgreSQL installed (Debian's layout), whichever version the machine has.
PG_BIN = max(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name)).parent
ALL_QUEUES = "default,extraction,datasets,training,live"


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


class PrivateRedis:
    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.port = free_port()
        self.starts = 0
        self.service: Service | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.starts += 1
        self.service = Service(
            f"redis-{self.port}-{self.starts}",
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            self.log_dir,
            dict(os.environ),
        )
        wait_for(self._pong, timeout=30, what=f"redis on {self.port}")

    def _pong(self) -> bool:
        import redis

        self.service.check_alive()
        try:
            return bool(redis.Redis(port=self.port, socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        """SIGKILL: what a crash does; everything it held (queues, unacknowledged messages, groups) is gone."""
        self.service.kill()
        wait_for(lambda: not _port_open(self.port), timeout=10, what="redis to go")

    def restart(self, down: float = 2.0) -> None:
        self.kill()
        time.sleep(down)
        self.start()

    def stop(self) -> None:
        if self.service is not None:
            self.service.kill()


class PrivatePostgres:
    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="taskml-pg-"))
        shutil.chown(self.root, "postgres", "postgres")
        self.data = self.root / "data"
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust",
             "-U", "postgres", "--no-sync"],
            check=True, capture_output=True,
        )  # fmt: skip
        self.starts = 0
        self.service: Service | None = None
        self.start()
        self.execute("CREATE DATABASE taskml")

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/taskml"

    def start(self) -> None:
        self.starts += 1
        self.service = Service(
            f"postgres-{self.port}-{self.starts}",
            ["runuser", "-u", "postgres", "--", str(PG_BIN / "postgres"), "-D", str(self.data), "-p", str(self.port),
             "-k", str(self.root), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off",
             "-c", "full_page_writes=off", "-c", "max_connections=200"],
            self.log_dir,
            dict(os.environ),
        )  # fmt: skip
        wait_for(self._ready, timeout=60, what=f"postgres on {self.port}")

    def _ready(self) -> bool:
        import psycopg

        self.service.check_alive()
        try:
            with psycopg.connect(f"postgres://postgres@127.0.0.1:{self.port}/postgres", connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def stop_fast(self) -> None:
        """A fast shutdown (SIGINT): every open connection is cut, as in a restart or failover."""
        if self.service.process.poll() is None:
            os.killpg(self.service.process.pid, signal.SIGINT)
            self.service.process.wait(timeout=60)
        self.service._log.close()
        wait_for(lambda: not _port_open(self.port), timeout=10, what="postgres to go")

    def restart(self, down: float = 2.0) -> None:
        self.stop_fast()
        time.sleep(down)
        self.start()

    def execute(self, query: str, params=(), *, database: str = "postgres") -> list[tuple]:
        import psycopg

        with psycopg.connect(f"postgres://postgres@127.0.0.1:{self.port}/{database}", autocommit=True) as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stop_fast()
        shutil.rmtree(self.root, ignore_errors=True)


class AppStack:
    """Private PostgreSQL + Redis + data directory; a web server and workers started on demand."""

    def __init__(self, log_dir: Path, **env: str):
        self.log_dir = log_dir
        self.pg = PrivatePostgres(log_dir)
        self.redis = PrivateRedis(log_dir)
        self.data_dir = Path(tempfile.mkdtemp(prefix="taskml-reliability-"))
        self.env = worker_env(
            DATABASE_URL=self.pg.url,
            REDIS_URL=self.redis.url,
            TASKML_DATA_DIR=str(self.data_dir),
            TASKML_TEST_RUN=f"rel{uuid.uuid4().hex[:6]}",
            **env,
        )
        self.python(["manage.py", "migrate", "-v0"])
        self.server: Service | None = None
        self.port = 0
        self.workers: dict[str, Service] = {}

    # ------------------------------------------------------------ processes

    def python(self, args: list[str], **kw) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, *args], cwd=ROOT, env=self.env, check=True, capture_output=True, text=True, **kw
        )

    def start_server(self) -> Service:
        self.port = self.port or free_port()
        self.server = Service(
            f"web-{self.port}-{uuid.uuid4().hex[:4]}",
            [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            self.log_dir,
            self.env,
        )

        def answers() -> bool:
            self.server.check_alive()
            with contextlib.suppress(requests.ConnectionError):
                return requests.get(f"{self.http}/api/v1/", timeout=5).status_code in (200, 401, 403)
            return False

        wait_for(answers, timeout=120, interval=0.3, what="the web server")
        return self.server

    def start_worker(self, name: str, *, queues: str = ALL_QUEUES, concurrency: int = 1, **env: str) -> Service:
        worker = Service(
            f"worker-{name}",
            [sys.executable, "-m", "celery", "-A", "taskml.celery", "worker", "-Q", queues, "-c", str(concurrency),
             "-n", f"{name}@%h", "-l", "info", "--without-gossip", "--without-mingle", "--without-heartbeat"],
            self.log_dir,
            {**self.env, **env},
        )  # fmt: skip
        worker.node = f"{name}@{socket.gethostname()}"

        def ready() -> bool:
            worker.check_alive()
            return " ready." in worker.log()

        wait_for(ready, timeout=120, what=f"worker {name}")
        self.workers[name] = worker
        return worker

    def close(self) -> None:
        for worker in self.workers.values():
            worker.kill()
        if self.server is not None:
            self.server.kill()
        self.redis.stop()
        self.pg.close()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    # ------------------------------------------------------------ clients

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def sql(self, query: str, params=()) -> list[tuple]:
        return self.pg.execute(query, params, database="taskml")

    def user(self, username: str, *, staff: bool = False) -> dict[str, str]:
        """A user and its API token, created in the private database; ``{"Authorization": ...}``."""
        code = (
            "import django; django.setup()\n"
            "from django.contrib.auth.models import User\n"
            "from rest_framework.authtoken.models import Token\n"
            f"u = User.objects.create_user({username!r}, password='pw-{username}-1', is_staff={staff!r})\n"
            "print('TOKEN', Token.objects.create(user=u).key)\n"
        )
        out = self.python(["-c", code]).stdout
        return {"Authorization": f"Token {out.split('TOKEN ')[1].split()[0]}"}

    def job(self, job_id: int) -> dict:
        columns = ("status", "attempts", "error", "error_kind", "worker", "stage", "progress")
        row = self.sql(f"SELECT {', '.join(columns)} FROM jobs_job WHERE id = %s", (job_id,))[0]
        return dict(zip(columns, row, strict=True))

    def session(self, session_id: int) -> dict:
        columns = ("status", "error", "worker", "frames_processed")
        row = self.sql(f"SELECT {', '.join(columns)} FROM streaming_livesession WHERE id = %s", (session_id,))[0]
        return dict(zip(columns, row, strict=True))

    def wait_job(self, job_id: int, *, timeout: float = 300) -> dict:
        def done():
            job = self.job(job_id)
            return job if job["status"] in ("succeeded", "failed", "cancelled") else None

        return wait_for(done, timeout=timeout, interval=0.5, what=f"job {job_id} to end")

    def upload(self, headers: dict, video: Path, *, labels: bool = False) -> dict:
        with contextlib.ExitStack() as stack:
            files = {"video": (video.name, stack.enter_context(open(video, "rb")))}
            if labels:
                files["labels_csv"] = ("labels.csv", stack.enter_context(open(MEGAMIND_LABELS, "rb")))
            r = requests.post(
                f"{self.http}/api/v1/videos/", headers=headers, files=files,
                data={"video_id": f"{video.stem}-{uuid.uuid4().hex[:6]}"}, timeout=120,
            )  # fmt: skip
        assert r.status_code == 201, r.text
        return r.json()

    def extract(self, headers: dict, video: dict, *, detector: str = "mediapipe", sample_rate: int = 2) -> dict:
        r = requests.post(
            f"{self.http}/api/v1/videos/{video['id']}/extract/", headers=headers,
            json={"detector_type": detector, "sample_rate": sample_rate}, timeout=60,
        )  # fmt: skip
        assert r.status_code == 202, r.text
        return r.json()["feature_file"]

    def train_model(self, headers: dict, megamind: Path) -> dict:
        """Upload with labels → extract → dataset → a small forest; returns the model as the API shows it."""
        video = self.upload(headers, megamind, labels=True)
        feature_file = self.extract(headers, video)
        assert self.wait_job(feature_file["job"]["id"])["status"] == "succeeded"
        r = requests.post(
            f"{self.http}/api/v1/datasets/", headers=headers,
            json={"feature_files": [feature_file["filename"]], "window_sec": 1.0, "step_sec": 0.25,
                  "train_ratio": 0.5, "val_ratio": 0.25, "test_ratio": 0.25}, timeout=60,
        )  # fmt: skip
        assert r.status_code == 202, r.text
        dataset = r.json()
        assert self.wait_job(dataset["job"]["id"])["status"] == "succeeded"
        r = requests.post(
            f"{self.http}/api/v1/models/", headers=headers,
            json={"dataset": dataset["id"], "model_type": "rf", "n_estimators": 30}, timeout=60,
        )  # fmt: skip
        assert r.status_code == 202, r.text
        model = r.json()
        assert self.wait_job(model["job"]["id"])["status"] == "succeeded"
        return {"model": model, "video": video, "feature_file": feature_file}
