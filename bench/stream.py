"""Live inference figures: per-frame overhead beyond the detectors, frame-to-viewer latency, fan-out.

1. Overhead (in process): real detections of a sample video are computed once; then each frame
   goes through what a live session adds on top of the detectors — feature row, rolling buffer,
   window sampling, scaler, aggregation, predict (on the frames that complete a window), the
   message, and the hand-off to the publishing thread — for RandomForest and LightGBM models
   trained on the same video.
2. Latency and fan-out (real services): the web server (manage.py serve: uvicorn) and a Celery worker on the `live`
   queue with the Redis broker and channel layer (SQLite database in a temporary data dir);
   one session on the sample video played in real time, watched by N websocket viewers that keep
   up. Latency = message received - frame decoded (both wall clock, one machine); delivery =
   received - published. A viewer "loses" a message when a frame_index it should have seen is
   missing.

    .venv/bin/python bench/stream.py [--viewers 50] [--video data/samples/Megamind.avi]

Needs Redis on 127.0.0.1:6379 (the suite's service); uses Redis database 11 and flushes it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskml.settings")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

LABELS = ROOT / "samples" / "Megamind_labels.csv"
YOLO_SPEC = os.environ.get("TASKML_YOLO_MODEL", "yolov8n.yaml")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")


def pct(values, q) -> float:
    return float(np.percentile(np.asarray(values, float), q)) if len(values) else float("nan")


# ---------------------------------------------------------------- 1. overhead in process


def overhead(video: Path, work: Path) -> list[str]:
    from taskml.pipeline.artifacts import load_artifact
    from taskml.pipeline.dataset import DatasetSpec, build_dataset
    from taskml.pipeline.detectors import Detector, DetectorConfig
    from taskml.pipeline.estimators import ModelParams
    from taskml.pipeline.extraction import extract_features, iter_frames, probe_video
    from taskml.pipeline.online import LivePredictor, ModelRunner
    from taskml.pipeline.training import TrainSpec, train_model
    from taskml.pipeline.windows import WindowSpec

    config = DetectorConfig(kind="fusion", yolo_model=YOLO_SPEC, cache_dir=work / "cache")
    extract_features(video, work / "f.parquet", config=config, labels=LABELS)
    build_dataset(
        [work / "f.parquet"],
        work / "ds",
        spec=DatasetSpec(window=WindowSpec(window_sec=1.0, step_sec=0.25), ratios=(0.5, 0.25, 0.25)),
    )
    info = probe_video(video)
    frames = []
    detect = []
    with Detector(config) as detector:
        for _, t, bgr in iter_frames(info):
            began = time.perf_counter()
            detections = detector.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            detect.append(time.perf_counter() - began)
            frames.append((t, detections))
    lines = [
        f"detectors (fusion, one frame at a time): p50 {pct(detect, 50) * 1e3:.1f} ms, "
        f"p95 {pct(detect, 95) * 1e3:.1f} ms per frame ({len(frames)} frames)"
    ]
    for model_type in ("rf", "lgbm"):
        trained = train_model(
            work / "ds",
            work / f"{model_type}.pkl",
            spec=TrainSpec(model_type=model_type, params=ModelParams(n_estimators=200)),
        )
        runner = ModelRunner(load_artifact(trained.model_path, expected_sha256=trained.sha256))
        per_frame, per_window = [], []
        outbox: list = []
        for _repeat in range(3):
            live = LivePredictor(runner, width=info.width, height=info.height, with_objects=True)
            for index, (t, detections) in enumerate(frames):
                began = time.perf_counter()
                completed = live.push(t, detections)
                latest = live.latest
                message = {
                    "stage": "sample",
                    "frame_index": index,
                    "t": t,
                    "task_prediction": latest.smoothed_label if latest else None,
                    "probabilities": dict(zip(runner.labels, map(float, latest.probabilities), strict=True))
                    if latest
                    else {},
                }
                outbox.append(json.dumps(message))  # what the publishing thread receives
                per_frame.append(time.perf_counter() - began)
                per_window += [w.seconds for w in completed]
            outbox.clear()
        lines.append(
            f"overhead beyond detectors, {model_type:4s} (200 trees, stats): per frame p50 "
            f"{pct(per_frame, 50) * 1e3:.2f} ms, p95 {pct(per_frame, 95) * 1e3:.2f} ms, max "
            f"{max(per_frame) * 1e3:.2f} ms; window predict p50 {pct(per_window, 50) * 1e3:.2f} ms "
            f"({len(per_window)} windows, {len(per_frame)} frames)"
        )
    return lines


# ---------------------------------------------------------------- 2. real services


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Services:
    def __init__(self, data: Path):
        self.port = free_port()
        self.env = {
            **{k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")},
            "TASKML_DATA_DIR": str(data),
            "REDIS_URL": REDIS_URL,
            "TASKML_YOLO_MODEL": YOLO_SPEC,
            "SECRET_KEY": "bench-only",
        }
        py = str(ROOT / ".venv" / "bin" / "python")
        import redis

        redis.Redis.from_url(REDIS_URL).flushdb()
        subprocess.run([py, "manage.py", "migrate", "-v0"], cwd=ROOT, env=self.env, check=True)
        self.token = (
            subprocess.run(
                [py, "manage.py", "ensure_admin"], cwd=ROOT, env=self.env, check=True, capture_output=True, text=True
            )
            .stdout.split("API token")[1]
            .split()[0]
        )
        logs = data / "logs"
        logs.mkdir(exist_ok=True)
        self.procs = [
            subprocess.Popen(
                [py, "-m", "celery", "-A", "taskml.celery", "worker", "-Q", "default,extraction,datasets,training,live",
                 "-c", "2", "-l", "warning", "-n", f"bench-{os.getpid()}@%h"],
                cwd=ROOT, env=self.env, stdout=open(logs / "worker.log", "wb"), stderr=subprocess.STDOUT,  # noqa: SIM115
                start_new_session=True,
            ),
            subprocess.Popen(
                [py, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"],
                cwd=ROOT, env=self.env, stdout=open(logs / "web.log", "wb"), stderr=subprocess.STDOUT,  # noqa: SIM115
                start_new_session=True,
            ),
        ]  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                self.get("/backend/models")
                return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError("the web server did not start")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(self, path: str, data: bytes | None = None, content_type: str = "") -> dict:
        headers = {"Authorization": f"Token {self.token}"}
        if content_type:
            headers["Content-Type"] = content_type
        with urllib.request.urlopen(urllib.request.Request(self.base + path, data=data, headers=headers)) as r:
            return json.loads(r.read())

    def get(self, path: str) -> dict:
        return self.request(path)

    def post_json(self, path: str, body: dict) -> dict:
        return self.request(path, json.dumps(body).encode(), "application/json")

    def post_form(self, url: str, fields: dict, files: dict | None = None) -> dict:
        boundary = "----taskmlbench"
        parts = []
        for name, value in fields.items():
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
        for name, path in (files or {}).items():
            head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{Path(path).name}"\r\n'
            parts.append(head.encode() + b"Content-Type: application/octet-stream\r\n\r\n" + Path(path).read_bytes())
            parts.append(b"\r\n")
        parts.append(f"--{boundary}--\r\n".encode())
        return self.request(url, b"".join(parts), f"multipart/form-data; boundary={boundary}")

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


async def watch(url: str, origin: str, results: list, index: int) -> None:
    import websockets

    received = []
    async with websockets.connect(url, origin=origin, max_size=None) as ws:
        async for raw in ws:
            now = time.time()
            message = json.loads(raw)
            if message.get("stage") == "sample":
                received.append((message["frame_index"], now - message["sent_at"], now - message["decoded_at"]))
            if message.get("stage") == "finished":
                results[index] = (received, message)
                return


def fan_out(services: Services, video: Path, viewers: int) -> list[str]:
    up = services.post_form(
        "/backend/upload_and_extract_features",
        {"video_id": "bench", "detector_type": "mediapipe", "sample_rate": "1"},
        {"video": video, "labels_csv": LABELS},
    )
    ds = services.post_form(
        "/backend/build_task_dataset",
        {"feature_files": up["feature_file"], "window_sec": "1", "step_sec": "0.25", "train_ratio": "0.5",
         "val_ratio": "0.25", "test_ratio": "0.25"},
    )  # fmt: skip
    model = services.post_form("/backend/train_task_model", {"dataset_dir": ds["dataset_dir"], "model_type": "lgbm"})
    video_id = services.get("/api/v1/videos/")["results"][0]["id"]
    session = services.post_json(
        "/api/v1/live-sessions/", {"model": model["model_id"], "source": "video", "video": video_id, "realtime": True}
    )
    # Viewers connect while the worker loads the models; the session starts publishing afterwards.
    url = f"ws://127.0.0.1:{services.port}/ws/streams/{session['id']}/?token={services.token}"
    results: list = [None] * viewers

    async def main() -> None:
        await asyncio.gather(*(watch(url, services.base, results, i) for i in range(viewers)))

    began = time.monotonic()
    asyncio.run(asyncio.wait_for(main(), timeout=300))
    wall = time.monotonic() - began
    final = services.get(f"/api/v1/live-sessions/{session['id']}/")
    delivery = [d for received, _ in results for _, d, _ in received]
    latency = [lat for received, _ in results for _, _, lat in received]
    expected = sorted({i for received, _ in results for i, _, _ in received})
    lost = late = 0
    for received, _ in results:
        got = {i for i, _, _ in received}
        first = min(got) if got else None
        late += sum(1 for i in expected if first is None or i < first)  # before this viewer was in the group
        lost += sum(1 for i in expected if first is not None and i > first and i not in got)
    counts = [len(received) for received, _ in results]
    return [
        f"session: {final['frames_processed']} frames processed, {final['frames_dropped']} skipped by the source to "
        f"keep real time, {final['windows_predicted']} windows, {wall:.1f} s wall",
        f"{viewers} viewers: samples per viewer min {min(counts)} max {max(counts)}; lost after a viewer's first "
        f"sample {lost}; missed before joining {late}",
        f"delivery (published → received): p50 {pct(delivery, 50) * 1e3:.1f} ms, p95 {pct(delivery, 95) * 1e3:.1f} ms, "
        f"max {max(delivery) * 1e3:.1f} ms",
        f"frame-to-viewer (decoded → received): p50 {pct(latency, 50) * 1e3:.1f} ms, "
        f"p95 {pct(latency, 95) * 1e3:.1f} ms",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=ROOT / "data" / "samples" / "Megamind.avi")
    parser.add_argument("--viewers", type=int, default=50)
    parser.add_argument("--skip-services", action="store_true", help="only the in-process overhead")
    args = parser.parse_args()
    print(f"bench/stream.py on {os.cpu_count()} CPUs; shared machine, figures are noisy", flush=True)
    with tempfile.TemporaryDirectory(prefix="taskml-bench-stream-") as tmp:
        tmp = Path(tmp)
        import django

        os.environ["TASKML_DATA_DIR"] = str(tmp / "inproc")
        django.setup()
        for line in overhead(args.video, tmp):
            print(line, flush=True)
        if args.skip_services:
            return
        services = Services(tmp / "data")
        try:
            for line in fan_out(services, args.video, args.viewers):
                print(line, flush=True)
        finally:
            services.stop()


if __name__ == "__main__":
    main()
