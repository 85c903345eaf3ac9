"""`make run` with nothing configured: SQLite, the SQLite-file broker, a real worker and the web server.

Runs scripts/serve.sh as a user would (a clean environment: no DATABASE_URL, no REDIS_URL, no
settings module), drives the /backend/ workflow over real HTTP, stops it, starts it again on
the same data directory and checks that nothing was lost and no process was left behind.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import MEGAMIND_LABELS, ROOT

pytestmark = pytest.mark.slow

KEPT_FROM_ENVIRONMENT = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Service:
    """One `bash scripts/serve.sh` in its own session, its output in a file."""

    def __init__(self, data: Path, log: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        env = {name: os.environ[name] for name in KEPT_FROM_ENVIRONMENT if name in os.environ}
        env.update({"TASKML_DATA_DIR": str(data), "TASKML_PORT": str(self.port), "TASKML_YOLO_MODEL": "yolov8n.yaml"})
        self._log = open(log, "wb")  # noqa: SIM115 - closed in wait_stopped()
        self.process = subprocess.Popen(
            ["bash", "scripts/serve.sh"],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.worker_name = f"embedded-{self.process.pid}@"  # serve.sh names its worker after its own pid
        self.beat_pidfile = f"--pidfile {data}/beat.pid"  # the beat scheduler's command line names it

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_serving(self, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"serve.sh exited with {self.process.returncode}:\n{self.output()[-3000:]}")
            try:
                if requests.get(f"{self.url}/backend/models", timeout=5).status_code == 401:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"not serving after {timeout} s:\n{self.output()[-3000:]}")

    def token(self) -> str:
        found = re.search(r"^API token\s+(\w+)", self.output(), re.MULTILINE)
        assert found, self.output()
        return found.group(1)

    def admin_line(self) -> str:
        found = re.search(r"^admin account\s+(.+)$", self.output(), re.MULTILINE)
        assert found, self.output()
        return found.group(1)

    def processes(self) -> list[str]:
        """This run's processes still alive: the worker (main and pool), the server and the beat scheduler."""
        found = []
        patterns = (self.worker_name, f"manage.py serve --host 127.0.0.1 --port {self.port}", self.beat_pidfile)
        for pattern in patterns:
            result = subprocess.run(["pgrep", "-af", "--", pattern], capture_output=True, text=True)
            found += [line for line in result.stdout.splitlines() if "pgrep" not in line]
        return found

    def wait_stopped(self, timeout: float = 60) -> int:
        try:
            return self.process.wait(timeout=timeout)
        finally:
            self._log.close()

    def kill_all(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        for line in self.processes():  # whatever escaped the group: only this run's, by pid
            os.kill(int(line.split()[0]), signal.SIGKILL)
        self._log.close()


@pytest.fixture
def services(tmp_path):
    started: list[Service] = []

    def start(data: Path) -> Service:
        service = Service(data, tmp_path / f"serve-{len(started) + 1}.log")
        started.append(service)
        service.wait_serving()
        return service

    yield start
    for service in started:
        service.kill_all()


def wait_gone(service: Service, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while service.processes() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert service.processes() == [], "serve.sh left processes running after it stopped"


def test_make_run_embedded_end_to_end_and_again(tmp_path, services, megamind):
    data = tmp_path / "data"
    first = services(data)
    token = first.token()
    admin = first.admin_line()
    http = requests.Session()
    http.headers["Authorization"] = f"Token {token}"

    with open(megamind, "rb") as video, open(MEGAMIND_LABELS, "rb") as labels:
        r = http.post(
            f"{first.url}/backend/upload_and_extract_features",
            files={"video": ("Megamind.avi", video), "labels_csv": ("Megamind_labels.csv", labels)},
            data={"detector_type": "mediapipe", "sample_rate": "2"},
            timeout=300,
        )
    assert r.status_code == 200, r.text
    up = r.json()
    assert up["status"] == "success"
    assert set(up) >= {"feature_file", "video_id", "num_frames", "num_labeled", "columns", "video_file", "job_url"}
    assert up["num_frames"] in (135, 136) and up["num_labeled"] > 100

    r = http.post(
        f"{first.url}/backend/build_task_dataset",
        data={"feature_files": up["feature_file"], "window_sec": "1.0", "step_sec": "0.25",
              "train_ratio": "0.5", "val_ratio": "0.25", "test_ratio": "0.25"},
        timeout=300,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    ds = r.json()
    assert set(ds) >= {"dataset_dir", "dataset_id", "train_size", "val_size", "test_size", "labels", "num_features"}
    assert ds["labels"] == ["holding_glass", "talking"]

    r = http.post(
        f"{first.url}/backend/train_task_model",
        data={"dataset_dir": ds["dataset_dir"], "model_type": "rf", "n_estimators": "50"},
        timeout=300,
    )
    assert r.status_code == 200, r.text
    model = r.json()
    assert set(model) >= {"model_path", "model_id", "model_type", "metrics", "version"}
    assert model["model_type"] == "rf" and 0.0 <= model["metrics"]["accuracy"] <= 1.0

    # Everything under the data directory, in the embedded stores.
    assert (data / "uploads" / "1" / up["video_file"]).is_file()
    assert (data / "processed" / "features" / "1" / up["feature_file"]).is_file()
    assert (data / "processed" / "datasets" / ds["dataset_dir"] / "metadata.json").is_file()
    assert (data / "mlruns" / "models" / model["model_path"]).is_file()
    assert (data / "celery-broker.sqlite3").is_file()
    with sqlite3.connect(data / "taskml.sqlite3") as db:
        jobs = db.execute("select kind, status, worker from jobs_job order by id").fetchall()
    assert [(kind, status) for kind, status, _ in jobs] == [
        ("extraction", "succeeded"),
        ("dataset", "succeeded"),
        ("training", "succeeded"),
    ]
    assert all(worker.startswith(first.worker_name) for _, _, worker in jobs)
    worker_log = (data / "logs" / "worker.log").read_text()
    assert "transport:   sqla+sqlite:///" in worker_log  # the SQLite-file broker, not Redis
    assert "postgres" not in worker_log.lower()

    # Stopped the way a supervisor stops it: SIGTERM to serve.sh alone.
    assert first.processes(), "the worker and server should be running"
    first.process.send_signal(signal.SIGTERM)
    first.wait_stopped(timeout=60)
    wait_gone(first)

    second = services(data)
    assert second.token() == token
    assert second.admin_line() == admin
    http.headers["Authorization"] = f"Token {second.token()}"
    models = http.get(f"{second.url}/backend/models", timeout=30).json()["models"]
    assert [m["filename"] for m in models] == [model["model_path"]]
    assert models[0]["accuracy"] == model["metrics"]["accuracy"]
    features = http.get(f"{second.url}/backend/features", timeout=30).json()["features"]
    assert [f["filename"] for f in features] == [up["feature_file"]]

    # Stopped the way Ctrl-C does it: a signal to the whole process group.
    os.killpg(second.process.pid, signal.SIGINT)
    second.wait_stopped(timeout=60)
    wait_gone(second)
