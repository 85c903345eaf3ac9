"""Upload throughput, web-server memory during uploads, and job overhead, against the real server.

Starts the product the way ``make run`` does (``scripts/serve.sh``: migrate, admin token, the
Celery workers, the web server) on a free loopback port with a fresh data directory, and talks to
it over HTTP like any client. Whatever ASGI server serve.sh runs is measured (uvicorn through
``manage.py serve`` now, daphne before); its name is printed.

- jobs: tiny extractions (10 frames of 64x48, MediaPipe), one at a time after one warm-up job: a
  series back to back (each posted once the previous one is seen done) and a series posted after
  the worker sat idle for --idle seconds. For each: ``queue_seconds`` (created → a worker claimed
  it, from the job row), request → claim, the job's own run time, and request → succeeded as a
  client polling every 50 ms sees it.
- uploads: multipart POSTs of generated MJPG videos (cached under data/bench/) to /api/v1/videos/,
  streamed from disk with a Content-Length computed up front. Per size: MB/s (size / wall time of
  the request); the web server's RSS sampled every 50 ms against its RSS just before the upload;
  its CPU time and the bytes it read and wrote through files (/proc rchar, wchar); and the wall time
  split into phases seen from outside (see the legend printed with the table), from the server's
  writes and the files that appear in the data directory. A local copy, sha256 and probe of the
  same file give the disk's own pace.

    .venv/bin/python bench/api.py [--sizes 50,200,1024] [--jobs 10] [--idle 3] [--postgres-redis] [--min-free-gb 4]

``--postgres-redis`` runs it all a second time with DATABASE_URL on a throw-away PostgreSQL
database and REDIS_URL=redis://127.0.0.1:6379/12 (broker and channel layer).

A server that buffers uploads in memory can take the machine down (daphne's Twisted layer parsed
a multipart body in memory, about 13x its size), so a sampler kills the server when the machine's
available memory falls under --min-free-gb and the larger uploads are skipped. Linux only.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import psutil  # noqa: E402

from taskml.pipeline.extraction import probe_video  # noqa: E402
from taskml.pipeline.files import sha256_file  # noqa: E402

MB = 1 << 20  # sizes are MiB throughout and printed as "MB"
CHUNK = 1 << 20
SAMPLE_SECONDS = 0.05
FLAT_SHARE = 0.05  # memory counts as flat when the peak grows by under 5% of the upload (or 64 MB)
FLAT_FLOOR = 64 * MB
POSTGRES = "postgres://postgres@127.0.0.1:5432"
REDIS = "redis://127.0.0.1:6379/12"
TERMINAL = ("succeeded", "failed", "cancelled")
WEB_SERVERS = ("manage.py serve", "daphne", "uvicorn", "hypercorn", "gunicorn")


# ---------------------------------------------------------------- inputs


def make_video(path: Path, size_mb: int) -> Path:
    """An MJPG AVI of at least ``size_mb`` MB: 1080p noise, which JPEG cannot shrink (~1.5 MB/frame)."""
    if path.exists() and path.stat().st_size >= size_mb * MB:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.avi")
    writer = cv2.VideoWriter(str(partial), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (1920, 1080))
    if not writer.isOpened():
        raise RuntimeError("OpenCV cannot write MJPG AVI here")
    rng = np.random.default_rng(size_mb)
    frames = [rng.integers(0, 256, (1080, 1920, 3), dtype=np.uint8) for _ in range(8)]
    i = 0
    while partial.stat().st_size < size_mb * MB:  # the writer flushes as it goes; the tail adds a little
        writer.write(frames[i % len(frames)])
        i += 1
    writer.release()
    os.replace(partial, path)
    return path


def make_tiny_video(path: Path) -> Path:
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    for i in range(10):
        frame = np.zeros((48, 64, 3), dtype=np.uint8)
        frame[:, :, 1] = np.linspace(0, 255, 64, dtype=np.uint8)[None, :]
        cv2.circle(frame, (10 + 4 * i, 24), 6, (255, 255, 255), -1)
        writer.write(frame)
    writer.release()
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------- the server


class Server:
    """``scripts/serve.sh`` in its own process group, with a fresh data directory."""

    def __init__(self, extra_env: dict[str, str]):
        self.port = free_port()
        self.data_dir = Path(tempfile.mkdtemp(prefix="taskml-bench-api."))
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")}
        env.update(
            TASKML_DATA_DIR=str(self.data_dir),
            TASKML_HOST="127.0.0.1",
            TASKML_PORT=str(self.port),
            TASKML_YOLO_MODEL="yolov8n.yaml",
            **extra_env,
        )
        self.log = open(self.data_dir / "serve.stderr.log", "wb")  # noqa: SIM115  (closed in stop())
        self.lines: list[str] = []
        self.token: str | None = None
        self.proc = subprocess.Popen(
            ["bash", "scripts/serve.sh"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())
            found = re.match(r"API token\s+(\S+)", line)
            if found:
                self.token = found.group(1)

    def wait_ready(self, timeout: float = 180.0) -> float:
        started = time.perf_counter()
        deadline = started + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"serve.sh exited with {self.proc.returncode}:\n{self.tail()}")
            if self.token:
                with contextlib.suppress(OSError, http.client.HTTPException):
                    if self.request("GET", "/api/v1/jobs/", timeout=5)[0] == 200:
                        return time.perf_counter() - started
            time.sleep(0.25)
        raise RuntimeError(f"server not ready after {timeout:.0f} s:\n{self.tail()}")

    def tail(self) -> str:
        """The last lines serve.sh and its processes wrote, for an error message."""
        self.log.flush()
        parts = ["serve.sh stdout:", *self.lines[-10:]]
        for log in [self.data_dir / "serve.stderr.log", *sorted((self.data_dir / "logs").glob("*.log"))]:
            with contextlib.suppress(OSError):
                parts += [f"{log.name}:", *log.read_text(errors="replace").splitlines()[-15:]]
        return "\n".join(parts)

    def web(self) -> psutil.Process:
        """The ASGI server process under serve.sh."""
        for child in psutil.Process(self.proc.pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if any(name in " ".join(child.cmdline()) for name in WEB_SERVERS):
                    return child
        raise RuntimeError(f"no web server ({', '.join(WEB_SERVERS)}) under serve.sh")

    def web_name(self) -> str:
        command = " ".join(self.web().cmdline())
        if "manage.py serve" in command:
            return "uvicorn (manage.py serve)"
        return next(name for name in WEB_SERVERS if name in command)

    def request(self, method: str, path: str, body: dict | None = None, timeout: float = 60) -> tuple[int, dict]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            headers = {"Authorization": f"Token {self.token}", "Accept": "application/json"}
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            raw = response.read()
            return response.status, (json.loads(raw) if raw else {})
        finally:
            conn.close()

    def kill(self) -> None:
        """At once, from any thread: the machine is running out of memory."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
        # Whatever is left of the group (a worker's pool child, a slow web server) goes now.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self.log.close()
        shutil.rmtree(self.data_dir, ignore_errors=True)


# ---------------------------------------------------------------- uploads


@dataclass
class Sampler:
    """Every 50 ms: the web server's RSS and bytes written, which upload files exist yet, and whether the
    machine is running out of memory (then ``on_low_memory`` is called once)."""

    process: psutil.Process
    data_dir: Path
    min_available: int
    on_low_memory: Callable[[], None]
    rss: list[tuple[float, int]] = field(default_factory=list)
    written: list[tuple[float, int]] = field(default_factory=list)
    handler_file_at: float | None = None  # Django's upload handler started writing its temp file
    stored_file_at: float | None = None  # video_create moved it into uploads/<owner>/ (probe, sha256 next)
    low_memory_at: float | None = None
    slowest_read: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        uploads = self.data_dir / "uploads"
        while not self._stop.is_set():
            asked = time.perf_counter()
            with contextlib.suppress(psutil.Error):
                rss, written = self.process.memory_info().rss, self.process.io_counters().write_chars
                # Stamped when read: /proc reads can stall while the process faults in gigabytes.
                now = time.perf_counter()
                self.rss.append((now, rss))
                self.written.append((now, written))
                self.slowest_read = max(self.slowest_read, now - asked)
            if self.low_memory_at is None and psutil.virtual_memory().available < self.min_available:
                self.low_memory_at = time.perf_counter()
                self.on_low_memory()
            with contextlib.suppress(OSError):
                if self.handler_file_at is None and any((uploads / ".incoming").glob("*.upload*")):
                    self.handler_file_at = time.perf_counter()
                if self.stored_file_at is None and any(uploads.glob("[0-9]*/.incoming-*")):
                    self.stored_file_at = time.perf_counter()
            self._stop.wait(SAMPLE_SECONDS)

    def written_by(self, amount: int) -> float | None:
        """When the web server had written ``amount`` bytes since sampling began (files and sockets)."""
        base = self.written[0][1] if self.written else 0
        return next((t for t, w in self.written if w - base >= amount), None)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def multipart_upload(server: Server, video: Path, video_id: str) -> dict:
    """POST the video to /api/v1/videos/ streamed from disk; timings in perf_counter seconds."""
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="video_id"\r\n\r\n{video_id}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="video"; filename="{video.name}"\r\n'
        "Content-Type: video/x-msvideo\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    size = video.stat().st_size

    def body():
        yield head
        with open(video, "rb") as handle:
            while block := handle.read(CHUNK):
                yield block
        yield tail

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=1800)
    try:
        started = time.perf_counter()
        conn.request(
            "POST",
            "/api/v1/videos/",
            body=body(),
            headers={
                "Authorization": f"Token {server.token}",
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Content-Length": str(len(head) + size + len(tail)),
                "Accept": "application/json",
            },
        )
        sent = time.perf_counter()
        response = conn.getresponse()
        raw = response.read()
        done = time.perf_counter()
    finally:
        conn.close()
    if response.status != 201:
        raise RuntimeError(f"upload of {video.name} answered {response.status}: {raw[:500]!r}")
    return {"started": started, "sent": sent, "done": done, "video": json.loads(raw)}


def measure_upload(server: Server, video: Path, min_available: int) -> dict:
    web = server.web()
    time.sleep(0.5)  # let the previous request's memory settle before the baseline
    before = web.memory_info().rss
    io_before = web.io_counters()
    cpu_before = sum(web.cpu_times()[:2])
    size = video.stat().st_size
    row = {"size": size, "rss_before": before, "rss_peak": before, "aborted": None}
    available = psutil.virtual_memory().available
    if available < min_available:
        row["aborted"] = f"not started: only {available / (1 << 30):.1f} GiB of memory available (--min-free-gb)"
        return row
    with Sampler(web, server.data_dir, min_available, server.kill) as sampler:
        try:
            result = multipart_upload(server, video, f"bench_{video.stem}")
        except (OSError, http.client.HTTPException) as exc:
            if sampler.low_memory_at is None:
                raise
            result = None
            row["aborted"] = f"{type(exc).__name__} after the server was killed"
        if result is not None:
            time.sleep(1.0)  # RSS after: does the server give the memory back?
    peak = max((rss for _, rss in sampler.rss), default=before)
    row["rss_peak"] = peak
    if result is None:
        row["seconds"] = sampler.low_memory_at - (sampler.rss[0][0] if sampler.rss else sampler.low_memory_at)
        row["aborted"] = (
            f"stopped: memory available to the machine fell under {min_available / (1 << 30):.1f} GiB "
            f"{row['seconds']:.1f} s into the upload with the web server at {peak / MB:,.0f} MB RSS; server killed"
        )
        return row
    io_after = web.io_counters()
    status, _ = server.request("DELETE", f"/api/v1/videos/{result['video']['id']}/")  # free the disk
    if status != 204:
        print(f"  (could not delete video {result['video']['id']}: {status})")
    # The server's first ``size`` bytes written store the body as it arrives (the last few KB may
    # sit in a buffer: 1 MB of slack): Django's spool under uvicorn, Twisted's temp file under
    # daphne, which then writes nothing until Twisted and daphne are done with the body.
    handler_at = sampler.handler_file_at or result["done"]
    stored_at = sampler.stored_file_at or result["done"]
    received_at = min(max(sampler.written_by(size - MB) or result["sent"], result["sent"]), handler_at)
    spool_at = min(max(sampler.written_by(size + 4 * MB) or handler_at, received_at), handler_at)
    row.update(
        seconds=result["done"] - result["started"],
        send=received_at - result["started"],
        buffer=spool_at - received_at,
        spool=handler_at - spool_at,
        parse=max(stored_at - handler_at, 0.0),
        store=max(result["done"] - stored_at, 0.0),
        rss_after=web.memory_info().rss,
        cpu=sum(web.cpu_times()[:2]) - cpu_before,
        read=io_after.read_chars - io_before.read_chars,
        written=io_after.write_chars - io_before.write_chars,
    )
    return row


def local_reference(video: Path) -> dict:
    """What the same bytes cost on this disk without HTTP: one copy, a sha256, a probe."""
    with tempfile.TemporaryDirectory(prefix="taskml-bench-copy.", dir=video.parent) as tmp:
        started = time.perf_counter()
        shutil.copyfile(video, Path(tmp) / video.name)
        copy = time.perf_counter() - started
    started = time.perf_counter()
    sha256_file(video)
    sha = time.perf_counter() - started
    started = time.perf_counter()
    probe_video(video)
    probe = time.perf_counter() - started
    return {"copy": copy, "sha256": sha, "probe": probe}


# ---------------------------------------------------------------- jobs


def parse_time(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def run_job(server: Server, video_pk: int, poll: float = 0.05) -> dict:
    requested = time.time()
    status, answer = server.request("POST", f"/api/v1/videos/{video_pk}/extract/", {"detector_type": "mediapipe"})
    answered = time.time()
    if status != 202:
        raise RuntimeError(f"extract answered {status}: {answer}")
    job_id = answer["job"]["id"]
    deadline = time.monotonic() + 300
    while True:
        status, job = server.request("GET", f"/api/v1/jobs/{job_id}/")
        if job.get("status") in TERMINAL:
            seen = time.time()
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"job {job_id} not finished after 300 s: {job}")
        time.sleep(poll)
    if job["status"] != "succeeded":
        raise RuntimeError(f"job {job_id} {job['status']}: {job.get('error')}")
    return {
        "request": answered - requested,
        "queue": job["queue_seconds"],
        "request_to_start": parse_time(job["started_at"]) - requested,
        "run": job["seconds"],
        "request_to_finish": parse_time(job["finished_at"]) - requested,
        "request_to_seen": seen - requested,
        "overhead": seen - requested - job["seconds"],
    }


def measure_jobs(server: Server, tiny: Path, count: int, idle: float) -> tuple[dict, list[dict], list[dict]]:
    """One warm-up job, then ``count`` jobs back to back (each posted as soon as the previous one
    is seen done) and ``count`` jobs each posted after the worker sat idle for ``idle`` seconds."""
    uploaded = multipart_upload(server, tiny, "bench_tiny")["video"]
    warmup = run_job(server, uploaded["id"])  # waits out worker start-up and the first model load
    back_to_back = [run_job(server, uploaded["id"]) for _ in range(count)]
    after_idle = []
    for _ in range(count):
        time.sleep(idle)
        after_idle.append(run_job(server, uploaded["id"]))
    return warmup, back_to_back, after_idle


def p95(values: list[float]) -> float:
    return float(np.percentile(values, 95))


# ---------------------------------------------------------------- report


def flat(r: dict) -> bool:
    return not r["aborted"] and r["rss_peak"] - r["rss_before"] < max(FLAT_FLOOR, FLAT_SHARE * r["size"])


def report_uploads(rows: list[dict], refs: dict[int, dict]) -> None:
    print(
        f"  {'size':>7} {'wall':>6} {'MB/s':>5} | {'recv':>5} {'hold':>5} {'spool':>5} {'parse':>5} {'store':>5} | "
        f"{'before':>6} {'peak':>7} {'growth':>8} {'after':>6} {'flat':>4} | {'cpu':>5} {'read':>5} {'wrote':>5}"
    )
    for r in rows:
        size, growth = r["size"] / MB, (r["rss_peak"] - r["rss_before"]) / MB
        if r["aborted"]:
            print(f"  {size:5.0f}MB  {r['aborted']}")
            continue
        print(
            f"  {size:5.0f}MB {r['seconds']:5.1f}s {size / r['seconds']:5.1f} | "
            f"{r['send']:4.1f}s {r['buffer']:4.1f}s {r['spool']:4.1f}s {r['parse']:4.1f}s {r['store']:4.1f}s | "
            f"{r['rss_before'] / MB:4.0f}MB {r['rss_peak'] / MB:5.0f}MB {growth:+6.0f}MB "
            f"{r['rss_after'] / MB:4.0f}MB {'yes' if flat(r) else 'NO':>4} | "
            f"{r['cpu']:4.1f}s {r['read'] / r['size']:4.1f}x {r['written'] / r['size']:4.1f}x"
        )
    print(
        "  phases, seen from outside the server:"
        "\n    recv   until the server has written the whole body once: uvicorn hands it to Django as it arrives,"
        "\n           which spools it to a SpooledTemporaryFile in /tmp; daphne's Twisted stores it in a temp file"
        "\n    hold   until the server writes again (daphne only: Twisted's Request.requestReceived parsing"
        "\n           the multipart body in memory, then daphne queueing all of it as 8 KB ASGI messages)"
        "\n    spool  daphne only: Django's ASGIHandler.read_body copying those messages into its /tmp spool"
        "\n    parse  Django's multipart parser writing the file to uploads/.incoming/ (upload handler)"
        "\n    store  video_create: rename, probe, sha256, database row; the response"
        "\n  before/peak/after: the server's RSS before, at most during, and 1 s after the upload; cpu: its"
        "\n  CPU seconds; read/wrote: bytes it read/wrote in files (/proc rchar, wchar: socket traffic not included)"
        "\n  over the file's size"
    )
    for size, ref in refs.items():
        print(
            f"  same file locally ({size / MB:.0f} MB): copy {ref['copy']:.2f} s ({size / MB / ref['copy']:.0f} MB/s), "
            f"sha256 {ref['sha256']:.2f} s ({size / MB / ref['sha256']:.0f} MB/s), probe {ref['probe']:.3f} s"
        )


def report_jobs(warmup: dict, series: dict[str, list[dict]]) -> None:
    def stats(runs: list[dict], key: str) -> str:
        values = [r[key] for r in runs]
        return f"{statistics.median(values):7.3f} {p95(values):7.3f} {min(values):7.3f} {max(values):7.3f}"

    for name, runs in series.items():
        print(f"    {name + ':':38} {'median':>7} {'p95':>7} {'min':>7} {'max':>7}   (seconds, {len(runs)} jobs)")
        print(f"    {'POST extract answered':38} {stats(runs, 'request')}")
        print(f"    {'queue_seconds (created→started)':38} {stats(runs, 'queue')}")
        print(f"    {'request → worker started':38} {stats(runs, 'request_to_start')}")
        print(f"    {'job run (started→finished)':38} {stats(runs, 'run')}")
        print(f"    {'request → finished (job row)':38} {stats(runs, 'request_to_finish')}")
        print(f"    {'request → succeeded seen (50 ms poll)':38} {stats(runs, 'request_to_seen')}")
        print(f"    {'overhead: succeeded seen − run':38} {stats(runs, 'overhead')}")
    print(
        f"    first (warm-up) job: queue {warmup['queue']:.2f} s, run {warmup['run']:.2f} s (worker start, model load)"
    )


def run_setup(name: str, extra_env: dict, args: argparse.Namespace, videos: list[Path], tiny: Path) -> dict:
    print(f"\n== {name} ==", flush=True)
    server = Server(extra_env)
    rows: list[dict] = []
    refs: dict[int, dict] = {}
    warmup, series, web_name = None, {}, "?"
    min_available = int(args.min_free_gb * (1 << 30))
    try:
        ready = server.wait_ready()
        web_name = server.web_name()
        print(f"  server ready in {ready:.1f} s on 127.0.0.1:{server.port} ({web_name}, pid {server.web().pid})")
        if args.jobs:
            warmup, back_to_back, after_idle = measure_jobs(server, tiny, args.jobs, args.idle)
            series = {"back to back": back_to_back, f"after {args.idle:g} s idle": after_idle}
            print(f"  {2 * args.jobs + 1} jobs done", flush=True)
        for video in videos:
            row = measure_upload(server, video, min_available)
            rows.append(row)
            if row["aborted"]:
                print(f"  {video.name}: {row['aborted']}; larger uploads skipped", flush=True)
                break
            print(f"  uploaded {row['size'] / MB:.0f} MB in {row['seconds']:.1f} s", flush=True)
            refs[row["size"]] = local_reference(video)
    except Exception:
        print(server.tail(), file=sys.stderr)
        raise
    finally:
        server.stop()
    if series:
        print("  tiny extraction jobs (10 frames 64x48, mediapipe), one at a time:")
        report_jobs(warmup, series)
    if rows:
        print("  uploads to POST /api/v1/videos/ (multipart, Content-Length, streamed from disk):")
        report_uploads(rows, refs)
    return {"server": web_name, "uploads": rows, "jobs": series}


@contextlib.contextmanager
def postgres_database():
    import psycopg

    name = f"taskml_bench_{os.getpid()}"
    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield f"{POSTGRES}/{name}"
    finally:
        with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextlib.contextmanager
def redis_database():
    """Redis database 12 for broker and channel layer; emptied afterwards if it was empty before."""
    import redis

    client = redis.Redis.from_url(REDIS)
    was_empty = client.dbsize() == 0
    if not was_empty:
        print(f"  note: {REDIS} already holds {client.dbsize()} keys; another run may share it")
    try:
        yield
    finally:
        if was_empty:
            client.flushdb()
        client.close()


def summary(name: str, result: dict) -> str:
    parts = []
    done = [r for r in result["uploads"] if not r["aborted"]]
    if done:
        big = max(done, key=lambda r: r["size"])
        growth = big["rss_peak"] - big["rss_before"]
        parts.append(
            f"upload {big['size'] / MB:.0f} MB at {big['size'] / MB / big['seconds']:.0f} MB/s, web server RSS "
            f"{growth / MB:+,.0f} MB = {growth / big['size']:.1f}x the file ({'flat' if flat(big) else 'NOT flat'})"
        )
    parts += [f"{r['size'] / MB:.0f} MB upload {r['aborted'].split(';')[0]}" for r in result["uploads"] if r["aborted"]]
    for series, runs in result["jobs"].items():
        queue = [r["queue"] for r in runs]
        overhead = [r["overhead"] for r in runs]
        parts.append(
            f"jobs {series}: queue median {statistics.median(queue):.2f} s / p95 {p95(queue):.2f} s, "
            f"request→succeeded overhead median {statistics.median(overhead):.2f} s"
        )
    return f"{name}, {result['server']}: " + "; ".join(parts)


def table_row(name: str, result: dict) -> str:
    cells = [name, result["server"], str(os.cpu_count())]
    done = [r for r in result["uploads"] if not r["aborted"]]
    if done:
        big = max(done, key=lambda r: r["size"])
        growth = big["rss_peak"] - big["rss_before"]
        cells += [
            f"{big['size'] / MB:.0f} MB",
            f"{big['size'] / MB / big['seconds']:.0f}",
            f"{growth / MB:+,.0f} MB ({growth / big['size']:.1f}x{'' if flat(big) else ', not flat'})",
        ]
    else:
        cells += ["-", "-", "-"]
    for runs in list(result["jobs"].values())[:2] or [[], []]:
        if runs:
            queue = [r["queue"] for r in runs]
            cells.append(f"{statistics.median(queue):.2f} / {p95(queue):.2f} s")
        else:
            cells.append("-")
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50,200,1024", help="upload sizes in MB, comma-separated ('' for none)")
    parser.add_argument("--jobs", type=int, default=10, help="tiny extraction jobs per series (0: none)")
    parser.add_argument("--idle", type=float, default=3.0, help="seconds the worker idles before each job of series 2")
    parser.add_argument("--cache", type=Path, default=ROOT / "data" / "bench", help="generated videos live here")
    parser.add_argument("--postgres-redis", action="store_true", help="also run on PostgreSQL + Redis")
    parser.add_argument(
        "--min-free-gb",
        type=float,
        default=4.0,
        help="kill the server when the machine's available memory falls under this (daphne parsed multipart "
        "bodies in memory: ~13x the upload)",
    )
    args = parser.parse_args()
    # A plain `kill` of the benchmark still stops the server it started (the finally blocks run).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]

    load = os.getloadavg()
    print(
        f"bench/api.py: {os.cpu_count()} cores, load {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}, "
        f"{psutil.virtual_memory().total / (1 << 30):.0f} GiB RAM, temp dir {tempfile.gettempdir()}; "
        "timings are noisy when other work shares the machine"
    )
    started = time.perf_counter()
    videos = [make_video(args.cache / f"upload_{size}MB.avi", size) for size in sizes]
    tiny = make_tiny_video(args.cache / "tiny_64x48_10f.avi")
    names = ", ".join(v.name for v in videos)
    print(f"inputs ready in {time.perf_counter() - started:.1f} s ({names}) in {args.cache}")

    results = {"embedded (SQLite + sqla broker)": run_setup("embedded (SQLite + sqla broker)", {}, args, videos, tiny)}
    if args.postgres_redis:
        with postgres_database() as database_url, redis_database():
            name = "PostgreSQL + Redis"
            results[name] = run_setup(name, {"DATABASE_URL": database_url, "REDIS_URL": REDIS}, args, videos, tiny)

    print(f"\nsummary ({os.cpu_count()} cores, total {time.perf_counter() - started:.0f} s):")
    for name, result in results.items():
        print("  " + summary(name, result))
    print("\nfor a README table:")
    print(
        "| setup | server | cores | largest upload | MB/s | RSS growth "
        f"| job queue median / p95, back to back | job queue median / p95, after {args.idle:g} s idle |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, result in results.items():
        print(table_row(name, result))


if __name__ == "__main__":
    main()
