"""Load: uploads, live-session viewers and API reads all at once, for a fixed time, on loopback.

Starts the product as ``make run`` does with PostgreSQL and Redis (``scripts/serve.sh`` through
bench/api.py's ``Server``, a throw-away PostgreSQL database and Redis database 12), trains one
small model (Megamind with its labels, MediaPipe, a 30-tree forest), then runs ``--rounds``
identical rounds of ``--seconds`` each. In every round, at the same time:

- ``--uploads`` clients (20) each upload the real sample video (multipart POST /api/v1/videos/),
  then delete it (DELETE /api/v1/videos/<id>/), over and over;
- live sessions on the uploaded vtest.avi (real time, 10 fps, real MediaPipe), as many at once as
  the live worker runs (``--sessions``, 2), each watched by ``--viewers`` / ``--sessions`` websocket
  viewers (50 in all, in a separate process with asyncio) from creation to ``finished``; a session
  is stopped when the round ends;
- ``--readers`` clients (4) each GET a list or detail endpoint every ``--read-interval`` s.

Printed per round: the errors (any non-2xx answer other than a shed upload, exception, a
websocket closed before ``finished``, a session that did not finish; target 0), count and p50/p95
latency per kind (upload, delete, read, session create, live delivery = published → received by a
viewer), uploads stored and shed (503 with Retry-After: the server refusing CPU-heavy work so that
live viewers stay current; the client waits Retry-After and tries again), **staleness** (each
viewer samples, every 100 ms, the age of the newest prediction it holds: now − its ``sent_at``;
p50/p95/max over all viewers' samples, and per viewer: each viewer's own p95, their median and
the worst, and how many are within 1 s), the updates skipped (superseded samples a viewer never got
because a newer one replaced them), and the RSS of the web server and of each worker process (main
and pool children), before the first round and after each round (after a short settle), so growth
shows. Linux only.

    .venv/bin/python bench/load.py [--seconds 60] [--rounds 2] [--uploads 20] [--viewers 50]
        [--layer redis|sqlite] [--redis-db 12] [--json PATH] [--before PATH]

``--layer sqlite`` runs the embedded channel layer and broker (SQLite files; PostgreSQL stays).
``--json PATH`` writes each round's figures; ``--before PATH`` prints them beside an earlier
``--json`` run's (a before/after table).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import multiprocessing
import statistics
import sys
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
import requests  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402

import bench.api as bench_api  # noqa: E402
from bench.api import Server, postgres_database, redis_database  # noqa: E402

SAMPLES = ROOT / "data" / "samples"
LABELS = ROOT / "samples" / "Megamind_labels.csv"
TERMINAL = ("succeeded", "failed", "cancelled")
READ_PATHS = ["/api/v1/videos/", "/api/v1/jobs/", "/api/v1/models/", "/api/v1/live-sessions/", "/backend/models"]


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, list[str]] = defaultdict(list)
        self.viewers: dict[int, list[float]] = defaultdict(list)  # staleness samples of each viewer

    def viewer(self, key: int, seconds: float) -> None:
        with self.lock:
            self.viewers[key].append(seconds)

    def per_viewer(self) -> dict:
        """Each viewer's own staleness p95, summarised over the round's viewers (seconds)."""
        with self.lock:
            p95s = sorted(pct(v, 0.95) for v in self.viewers.values() if v)
        if not p95s:
            return {"viewers": 0, "median_p95": float("nan"), "worst_p95": float("nan"), "within_1s": 0}
        return {"viewers": len(p95s), "median_p95": pct(p95s, 0.5), "worst_p95": p95s[-1],
                "within_1s": sum(p <= 1.0 for p in p95s)}  # fmt: skip

    def ok(self, kind: str, seconds: float) -> None:
        with self.lock:
            self.latency[kind].append(seconds)

    def error(self, kind: str, what: str) -> None:
        with self.lock:
            self.errors[kind].append(what[:300])


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))] if values else float("nan")


class Client:
    def __init__(self, server: Server):
        self._set(server.port, server.token)

    @classmethod
    def at(cls, port: int, token: str) -> Client:
        client = cls.__new__(cls)
        client._set(port, token)
        return client

    def _set(self, port: int, token: str) -> None:
        self.port, self.token = port, token
        self.base = f"http://127.0.0.1:{port}"
        self.ws = f"ws://127.0.0.1:{port}"
        self.headers = {"Authorization": f"Token {token}"}

    def session(self) -> requests.Session:
        s = requests.Session()
        s.headers.update(self.headers)
        return s

    def wait_job(self, http: requests.Session, job_id: int, timeout: float = 900) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = http.get(f"{self.base}/api/v1/jobs/{job_id}/", timeout=30).json()
            if job["status"] in TERMINAL:
                if job["status"] != "succeeded":
                    raise RuntimeError(f"job {job_id} {job['status']}: {job['error']}")
                return job
            time.sleep(0.5)
        raise RuntimeError(f"job {job_id} did not end")


def prepare(client: Client, video: Path) -> tuple[int, int]:
    """Upload Megamind with labels, extract, build, train; returns (video id, model id)."""
    http = client.session()
    with open(video, "rb") as v, open(LABELS, "rb") as labels:
        r = http.post(
            f"{client.base}/api/v1/videos/", files={"video": (video.name, v), "labels_csv": ("labels.csv", labels)},
            data={"video_id": f"load-{uuid.uuid4().hex[:6]}"}, timeout=120,
        )  # fmt: skip
    r.raise_for_status()
    video_id = r.json()["id"]
    r = http.post(f"{client.base}/api/v1/videos/{video_id}/extract/", json={"detector_type": "mediapipe",
                  "sample_rate": 2}, timeout=60)  # fmt: skip
    r.raise_for_status()
    feature_file = r.json()["feature_file"]
    client.wait_job(http, feature_file["job"]["id"])
    r = http.post(
        f"{client.base}/api/v1/datasets/",
        json={"feature_files": [feature_file["filename"]], "window_sec": 1.0, "step_sec": 0.25,
              "train_ratio": 0.5, "val_ratio": 0.25, "test_ratio": 0.25}, timeout=60,
    )  # fmt: skip
    r.raise_for_status()
    client.wait_job(http, r.json()["job"]["id"])
    r = http.post(f"{client.base}/api/v1/models/", json={"dataset": r.json()["id"], "model_type": "rf",
                  "n_estimators": 30}, timeout=60)  # fmt: skip
    r.raise_for_status()
    client.wait_job(http, r.json()["job"]["id"])
    return video_id, r.json()["id"]


# ---------------------------------------------------------------- the load


def uploader(client: Client, video: Path, stats: Stats, until: float) -> None:
    http = client.session()
    while time.monotonic() < until:
        try:
            began = time.perf_counter()
            with open(video, "rb") as handle:
                r = http.post(f"{client.base}/api/v1/videos/", files={"video": (video.name, handle)},
                              data={"video_id": f"up-{uuid.uuid4().hex[:8]}"}, timeout=120)  # fmt: skip
            if r.status_code == 503 and "Retry-After" in r.headers:  # shed: wait as told, then again
                stats.ok("shed", time.perf_counter() - began)
                time.sleep(float(r.headers["Retry-After"]))
                continue
            if r.status_code != 201:
                stats.error("upload", f"{r.status_code} {r.text}")
                continue
            stats.ok("upload", time.perf_counter() - began)
            began = time.perf_counter()
            r = http.delete(f"{client.base}/api/v1/videos/{r.json()['id']}/", timeout=60)
            if r.status_code != 204:
                stats.error("delete", f"{r.status_code} {r.text}")
            else:
                stats.ok("delete", time.perf_counter() - began)
        except Exception as exc:
            stats.error("upload", f"{type(exc).__name__}: {exc}")
            time.sleep(0.5)


def reader(client: Client, stats: Stats, until: float, interval: float, offset: int) -> None:
    http = client.session()
    index = offset
    while time.monotonic() < until:
        path = READ_PATHS[index % len(READ_PATHS)]
        index += 1
        began = time.perf_counter()
        try:
            r = http.get(f"{client.base}{path}", timeout=60)
            if r.status_code != 200:
                stats.error("read", f"{path} {r.status_code} {r.text}")
            else:
                stats.ok("read", time.perf_counter() - began)
        except Exception as exc:
            stats.error("read", f"{path} {type(exc).__name__}: {exc}")
        time.sleep(max(0.0, interval - (time.perf_counter() - began)))


_VIEWER_KEYS = itertools.count()  # one key per viewer, never reused within a run


async def _viewer(client: Client, session_id: int, stats: Stats, held: dict) -> None:
    """One websocket viewer; ``held[key]`` is the ``sent_at`` of the newest prediction it holds (the
    staleness sampler reads it), removed when the viewer ends."""
    import websockets

    key = next(_VIEWER_KEYS)
    newest = 0.0
    skipped = 0
    counted = False  # the server counts skipped updates per sample
    try:
        async with websockets.connect(
            f"{client.ws}/ws/streams/{session_id}/", origin=client.base, additional_headers=client.headers,
            open_timeout=60, max_size=None,
        ) as ws:  # fmt: skip
            while True:
                message = json.loads(await asyncio.wait_for(ws.recv(), timeout=120))
                if message["stage"] == "sample":
                    stats.ok("delivery", time.time() - message["sent_at"])
                    skipped += message.get("skipped", 0)
                    counted = counted or "skipped" in message
                    if message["sent_at"] > newest:  # an older one arriving late is ignored
                        newest = held[key] = message["sent_at"]
                elif message["stage"] == "hello" and message["status"] not in ("pending", "running"):
                    return  # joined after the end (the hello says how it ended)
                elif message["stage"] == "finished":
                    if message["status"] not in ("finished", "stopped"):
                        stats.error("viewer", f"session {session_id} ended {message['status']}")
                    if not counted:  # a server without per-sample counts: its per-viewer queue's drops
                        skipped += message.get("dropped", 0)
                    return
    except (ConnectionClosed, TimeoutError, OSError) as exc:
        stats.error("viewer", f"session {session_id}: {type(exc).__name__}: {exc}")
    finally:
        held.pop(key, None)
        stats.ok("skipped", skipped)


async def _staleness(stats: Stats, held: dict, until: float) -> None:
    """Every 100 ms, the age of the newest prediction each viewer holds."""
    while time.monotonic() < until:
        now = time.time()
        for key, sent_at in list(held.items()):
            stats.ok("staleness", now - sent_at)
            stats.viewer(key, now - sent_at)
        await asyncio.sleep(0.1)


async def _session_slot(
    client: Client, video_id: int, model_id: int, viewers: int, stats: Stats, until: float, held: dict
):
    """Sessions one after another, each watched by ``viewers`` websocket clients from start to end."""
    http = client.session()
    while time.monotonic() < until:
        began = time.perf_counter()
        try:
            r = await asyncio.to_thread(
                http.post, f"{client.base}/api/v1/live-sessions/",
                json={"model": model_id, "source": "video", "video": video_id}, timeout=60,
            )  # fmt: skip
        except Exception as exc:
            stats.error("session", f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(1)
            continue
        if r.status_code != 201:
            stats.error("session", f"{r.status_code} {r.text}")
            await asyncio.sleep(1)
            continue
        stats.ok("session", time.perf_counter() - began)
        session_id = r.json()["id"]

        async def stop_at_the_end(session_id: int = session_id) -> None:  # the round is over: viewers get "finished"
            await asyncio.sleep(max(0.0, until - time.monotonic()))
            await asyncio.to_thread(http.post, f"{client.base}/api/v1/live-sessions/{session_id}/stop/", timeout=60)

        stopper = asyncio.ensure_future(stop_at_the_end())
        await asyncio.gather(*(_viewer(client, session_id, stats, held) for _ in range(viewers)))
        stopper.cancel()
        row = (
            await asyncio.to_thread(http.get, f"{client.base}/api/v1/live-sessions/{session_id}/", timeout=60)
        ).json()
        if row["status"] not in ("finished", "stopped"):
            stats.error("session", f"session {session_id} {row['status']}: {row['error']}")
        stats.ok("frames", row["frames_processed"])
        stats.ok("expected", row["frames_processed"] * viewers)  # samples the viewers would get with none dropped


def live_process(port: int, token: str, video_id: int, model_id: int, args, out) -> None:
    """The live part of a round in its own process (asyncio viewers), so that the upload and read
    threads' GIL never delays a viewer's clock; its numbers go back through ``out``."""
    client = Client.at(port, token)
    stats = Stats()
    until = time.monotonic() + args.seconds
    per_session = args.viewers // args.sessions

    held: dict = {}

    async def main() -> None:
        await asyncio.gather(
            _staleness(stats, held, until),
            *(_session_slot(client, video_id, model_id, per_session, stats, until, held) for _ in range(args.sessions)),
        )

    asyncio.run(main())
    out.put((dict(stats.latency), dict(stats.errors), dict(stats.viewers)))


def run_round(client: Client, args, video: Path, video_id: int, model_id: int) -> Stats:
    stats = Stats()
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    live = context.Process(target=live_process, args=(client.port, client.token, video_id, model_id, args, out))
    live.start()
    until = time.monotonic() + args.seconds
    threads = [threading.Thread(target=uploader, args=(client, video, stats, until)) for _ in range(args.uploads)]
    threads += [
        threading.Thread(target=reader, args=(client, stats, until, args.read_interval, i)) for i in range(args.readers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latency, errors, viewers = out.get(timeout=args.seconds + 600)
    live.join(timeout=30)
    for kind, values in latency.items():
        stats.latency[kind] += values
    for kind, values in errors.items():
        stats.errors[kind] += values
    stats.viewers.update(viewers)
    return stats


# ---------------------------------------------------------------- memory


def processes(server: Server) -> dict[str, psutil.Process]:
    """The web server, and every celery worker process (main and pool children), by a readable name."""
    found = {"web": server.web()}
    for child in psutil.Process(server.proc.pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            command = " ".join(child.cmdline())
            if "celery" not in command or " beat" in command:
                continue
            kind = "live" if "-Q live" in command else "jobs"
            parent = child.parent()
            main = parent is not None and "celery" not in " ".join(parent.cmdline())
            name = f"{kind} worker main" if main else f"{kind} worker child {child.pid}"
            found[name] = child
    return found


def rss_mb(procs: dict[str, psutil.Process]) -> dict[str, float]:
    out = {}
    for name, proc in procs.items():
        with contextlib.suppress(psutil.Error):
            out[name] = proc.memory_info().rss / 2**20
    return out


def cpu_seconds(procs: dict[str, psutil.Process]) -> dict[str, float]:
    out = {}
    for name, proc in procs.items():
        with contextlib.suppress(psutil.Error):
            times = proc.cpu_times()
            out[name] = times.user + times.system
    return out


def figures(stats: Stats, load: str) -> dict:
    """The round's headline figures (what --json writes and --before compares); seconds."""
    out: dict = {"errors": sum(len(v) for v in stats.errors.values()), "load": load}
    for kind in ("delivery", "staleness", "upload", "read"):
        values = stats.latency.get(kind, [])
        out[kind] = {"n": len(values), "p50": pct(values, 0.5), "p95": pct(values, 0.95),
                     "max": max(values) if values else float("nan")}  # fmt: skip
    out["staleness_per_viewer"] = stats.per_viewer()
    out["skipped"] = sum(stats.latency.get("skipped", []))
    out["uploads_stored"] = len(stats.latency.get("upload", []))
    out["uploads_shed"] = len(stats.latency.get("shed", []))
    return out


def report(name: str, stats: Stats, args) -> int:
    errors = sum(len(v) for v in stats.errors.values())
    print(f"\n{name}: {args.seconds:.0f} s, {args.uploads} uploaders, {args.viewers} viewers on {args.sessions} "
          f"sessions at a time, {args.readers} readers every {args.read_interval} s, {args.layer} layer; load "
          f"average {' '.join(f'{x:.1f}' for x in psutil.getloadavg())} on {psutil.cpu_count()} CPUs")  # fmt: skip
    print(f"  errors: {errors}" + "".join(f"  {k}={len(v)}" for k, v in sorted(stats.errors.items())))
    for kind, examples in sorted(stats.errors.items()):
        for example in examples[:3]:
            print(f"    {kind}: {example}")
    for kind in ("upload", "delete", "read", "session", "delivery", "staleness"):
        values = stats.latency.get(kind, [])
        if values:
            print(f"  {kind:9s} n={len(values):6d}  p50 {pct(values, 0.5) * 1000:8.1f} ms  "
                  f"p95 {pct(values, 0.95) * 1000:8.1f} ms  max {max(values) * 1000:8.1f} ms")  # fmt: skip
    viewers = stats.per_viewer()
    if viewers["viewers"]:
        print(f"  staleness per viewer: {viewers['viewers']} viewers, their own p95 median "
              f"{viewers['median_p95'] * 1000:.0f} ms, worst {viewers['worst_p95'] * 1000:.0f} ms; "
              f"p95 ≤ 1 s for {viewers['within_1s']} of {viewers['viewers']}")  # fmt: skip
    frames = stats.latency.get("frames", [])
    if frames:
        print(f"  live sessions finished: {len(frames)}, frames each: median {statistics.median(frames):.0f}")
        expected, received = sum(stats.latency.get("expected", [])), len(stats.latency.get("delivery", []))
        print(f"  samples received by viewers: {received} of {expected:.0f} published to them "
              f"({received / max(expected, 1):.0%}; the rest superseded by newer ones or dropped)")  # fmt: skip
    print(f"  updates skipped (superseded, counted by the server): {sum(stats.latency.get('skipped', [])):.0f}")
    print(f"  uploads stored {len(stats.latency.get('upload', []))}, shed (503) {len(stats.latency.get('shed', []))}")
    return errors


def compare(before: list[dict], after: list[dict]) -> None:
    """A before/after table, round by round (milliseconds for times)."""
    rows = [("staleness p50", "staleness", "p50"), ("staleness p95", "staleness", "p95"),
            ("staleness max", "staleness", "max"), ("delivery p50", "delivery", "p50"),
            ("delivery p95", "delivery", "p95"), ("upload p95", "upload", "p95"),
            ("read p95", "read", "p95")]  # fmt: skip
    print("\nbefore → after (ms; counts)")
    for index, (b, a) in enumerate(zip(before, after, strict=False), start=1):
        print(f"  round {index}  (load average before {b.get('load', '?')}, after {a.get('load', '?')})")
        for label, kind, q in rows:
            print(f"    {label:15s} {b[kind][q] * 1000:10.0f} → {a[kind][q] * 1000:10.0f}")
        for label in ("errors", "skipped", "uploads_stored", "uploads_shed"):
            print(f"    {label:15s} {b.get(label, 0):10.0f} → {a.get(label, 0):10.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--uploads", type=int, default=20)
    parser.add_argument("--viewers", type=int, default=50)
    parser.add_argument("--sessions", type=int, default=2, help="live sessions at a time (the live worker runs 2)")
    parser.add_argument("--readers", type=int, default=4)
    parser.add_argument("--read-interval", type=float, default=0.1)
    parser.add_argument("--upload-throttle", default="off", help="TASKML_THROTTLE_UPLOADS for the server")
    parser.add_argument("--settle", type=float, default=10.0, help="seconds after a round before RSS is read")
    parser.add_argument("--layer", choices=("redis", "sqlite"), default="redis",
                        help="channel layer (and broker): Redis, or the embedded SQLite files")  # fmt: skip
    parser.add_argument("--redis-db", type=int, default=12, help="Redis database for broker and channel layer")
    parser.add_argument("--json", type=Path, help="write each round's figures here")
    parser.add_argument("--before", type=Path, help="an earlier --json run: print a before/after table")
    args = parser.parse_args()
    bench_api.REDIS = REDIS = f"redis://127.0.0.1:6379/{args.redis_db}"
    video = SAMPLES / "Megamind.avi"
    if not video.exists():
        sys.exit(f"{video} is missing: run scripts/fetch_samples.sh")

    with postgres_database() as database, redis_database():
        env = {"DATABASE_URL": database, "TASKML_LIVE_CONCURRENCY": str(args.sessions)}
        if args.layer == "redis":
            env["REDIS_URL"] = REDIS
        # The upload throttle (120/min per user by default) would answer 429 to 20 clients of one
        # user; capacity is measured here, not the throttle.
        env["TASKML_THROTTLE_UPLOADS"] = args.upload_throttle
        server = Server(env)
        try:
            where = f"Redis {REDIS}" if args.layer == "redis" else "SQLite channel layer and broker"
            print(f"starting the product (PostgreSQL {database}, {where}) ...", flush=True)
            server.wait_ready()
            client = Client(server)
            began = time.perf_counter()
            _, model_id = prepare(client, video)
            live_video = SAMPLES / "vtest.avi"  # 80 s at 10 fps: sessions outlast a round and are stopped at its end
            with open(live_video, "rb") as handle:
                r = client.session().post(f"{client.base}/api/v1/videos/", files={"video": (live_video.name, handle)},
                                          data={"video_id": "load-live"}, timeout=120)  # fmt: skip
            r.raise_for_status()
            video_id = r.json()["id"]
            print(f"trained model {model_id} in {time.perf_counter() - began:.0f} s", flush=True)
            procs = processes(server)
            memory = [("before", rss_mb(procs))]
            total_errors = 0
            rounds = []
            for index in range(1, args.rounds + 1):
                cpu = cpu_seconds(procs)
                stats = run_round(client, args, video, video_id, model_id)
                total_errors += report(f"round {index}", stats, args)
                rounds.append(figures(stats, " ".join(f"{x:.1f}" for x in psutil.getloadavg())))
                used = cpu_seconds(procs)
                print("  CPU (s of CPU per s of round): " + ", ".join(
                    f"{n} {(used[n] - cpu[n]) / args.seconds:.2f}" for n in used if n in cpu
                ))  # fmt: skip
                time.sleep(args.settle)
                procs.update({k: v for k, v in processes(server).items() if k not in procs})
                memory.append((f"after round {index}", rss_mb(procs)))
            print("\nRSS (MB)")
            names = list(procs)
            print("  " + "".ljust(16) + "".join(n[:24].rjust(26) for n in names))
            for label, values in memory:
                print("  " + label.ljust(16) + "".join(f"{values.get(n, float('nan')):26.1f}" for n in names))
            print(f"\ntotal errors: {total_errors}")
            if args.json:
                args.json.write_text(json.dumps({"layer": args.layer, "rounds": rounds}, indent=1))
            if args.before:
                compare(json.loads(args.before.read_text())["rounds"], rounds)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
