"""Extraction as a user runs it: the whole ``manage.py extract_features`` process, per configuration.

Each configuration runs as its own process, timed from process start to the Parquet file being
written (its mtime, just before the rename), with start-up (process start → first frame done),
steady fps (after the first frame) and each model's cost per call as the command prints them.
Every configuration's file is compared with the reference (every detector on every frame, same
clip) by taskml.pipeline.agreement: pose (PCK at 0.1 of the body's box), hand presence, object boxes
(IoU ≥ 0.5). The naive loop (decode → pose → hands → objects, one frame after another in one
thread, then one Parquet write) runs as a whole process too, in the same run. A warm-up run first
fills the OS's file cache and any converted-model cache (a YOLO ONNX export happens there, once
per weights file, never in a timed run).

    .venv/bin/python bench/extraction.py [--video data/samples/Megamind.avi] [--configs k2,every,k3,mediapipe,naive]
    .venv/bin/python bench/extraction.py --memory --minutes 3      # peak RSS: N-minute loop vs 1 minute
    .venv/bin/python bench/extraction.py --chunked --seconds 60 --chunk-seconds 15   # 1 vs 2 worker processes
    .venv/bin/python bench/extraction.py --per-model   # each model alone in one thread
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# name → (detector, extra flags of extract_features)
CONFIGS = {
    "every": ("fusion", ["--object-every-k", "1"]),
    "k2": ("fusion", ["--object-every-k", "2"]),
    "k3": ("fusion", ["--object-every-k", "3"]),
    "k4": ("fusion", ["--object-every-k", "4"]),
    # MediaPipe 0.10.21's wheel carries the full pose model and both hand models; the lite and
    # heavy pose models come from scripts/fetch_models.sh (MediaPipe would download them).
    "hands-lite": ("fusion", ["--object-every-k", "2", "--hands-complexity", "0"]),
    "pose-lite": ("fusion", ["--object-every-k", "2", "--pose-complexity", "0"]),
    "pose-heavy": ("fusion", ["--object-every-k", "2", "--pose-complexity", "2"]),
    "mediapipe": ("mediapipe", []),
    "mediapipe-lite": ("mediapipe", ["--hands-complexity", "0"]),
}
LINE = re.compile(r"start-up ([\d.]+) s .*steady ([\d.]+) fps; per model call: (.*)")


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _wait(process: subprocess.Popen) -> tuple[int, int, float]:
    """(exit status, peak RSS in KiB, CPU seconds) of a child process.

    CPU seconds (user + system, all threads) are the work done, which other sessions' load on the
    shared cores changes far less than it changes wall time.
    """
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, usage.ru_maxrss, usage.ru_utime + usage.ru_stime


def run_command(video: Path, output: Path, detector: str, flags: list[str], extra_env: dict | None = None) -> dict:
    """One whole ``extract_features`` process; its figures."""
    command = [sys.executable, "manage.py", "extract_features", "--video", str(video), "--output", str(output),
               "--detector", detector, "--no-progress", *flags]  # fmt: skip
    output.unlink(missing_ok=True)
    env = {**os.environ, **(extra_env or {})}
    started = time.time()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    out, err = process.stdout.read(), process.stderr.read()
    status, peak_kib, cpu = _wait(process)
    if status != 0:
        raise SystemExit(f"{' '.join(command)} failed ({status}):\n{err[-2000:]}")
    written = output.stat().st_mtime
    match = LINE.search(out)
    frames = int(re.search(r"— (\d+) frames", out).group(1))
    models = dict((name, float(ms)) for name, ms in re.findall(r"(\w+) ([\d.]+) ms", match.group(3) if match else ""))
    return {
        "frames": frames,
        "seconds": written - started,
        "fps": frames / (written - started),
        "startup": float(match.group(1)) if match else float("nan"),
        "steady": float(match.group(2)) if match else float("nan"),
        "models": models,
        "peak_mib": peak_kib / 1024,
        "cpu_ms": 1000 * cpu / frames,
        "output": output,
    }


def naive_child(video: Path, output: Path) -> None:
    """The naive loop, as its own process: the obvious code, one frame after another."""
    import cv2
    import mediapipe as mp
    import numpy as np

    from taskml.pipeline.detectors import DetectorConfig, FrameDetections
    from taskml.pipeline.extraction import detections_frame, probe_video
    from taskml.pipeline.objects import make_object_detector

    info = probe_video(video)
    pose = mp.solutions.pose.Pose()
    hands = mp.solutions.hands.Hands(max_num_hands=2)
    objects = make_object_detector(DetectorConfig(models_dir=ROOT / "data" / "models"))
    cap = cv2.VideoCapture(str(video))
    rows, times = [], []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        times.append(cap.get(cv2.CAP_PROP_POS_MSEC) / 1000)
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        p = pose.process(rgb)
        h = hands.process(rgb)
        found = objects.process(rgb)
        points = None
        if p.pose_landmarks is not None:
            points = np.array([(q.x, q.y, q.z, q.visibility) for q in p.pose_landmarks.landmark], np.float32)
        hand_points = [
            np.array([(q.x, q.y, q.z) for q in lm.landmark], np.float32) for lm in h.multi_hand_landmarks or []
        ]
        rows.append(
            FrameDetections(
                pose=points,
                left_hand=hand_points[0] if hand_points else None,
                right_hand=hand_points[1] if len(hand_points) > 1 else None,
                **found,
            )
        )
    table = detections_frame(
        video_id="naive", frame_index=np.arange(len(rows)), t=np.array(times), detections=rows,
        width=info.width, height=info.height, with_objects=True,
    )  # fmt: skip
    table.to_parquet(output)
    print(f"wrote {output} — {len(rows)} frames")


def run_naive(video: Path, output: Path) -> dict:
    output.unlink(missing_ok=True)
    started = time.time()
    process = subprocess.Popen(
        [sys.executable, __file__, "--naive-child", "--video", str(video), "--output", str(output)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    out, err = process.stdout.read(), process.stderr.read()
    status, peak_kib, cpu = _wait(process)
    if status != 0:
        raise SystemExit(f"naive loop failed:\n{err[-2000:]}")
    frames = int(re.search(r"— (\d+) frames", out).group(1))
    seconds = output.stat().st_mtime - started
    return {"frames": frames, "seconds": seconds, "fps": frames / seconds, "startup": float("nan"),
            "steady": float("nan"), "models": {}, "peak_mib": peak_kib / 1024, "cpu_ms": 1000 * cpu / frames,
            "output": output}  # fmt: skip


def speed(args) -> None:
    import pandas as pd

    from taskml.pipeline.agreement import agreement
    from taskml.pipeline.extraction import probe_video

    info = probe_video(args.video)
    names = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = sorted(set(names) - set(CONFIGS) - {"naive"})
    if unknown:
        raise SystemExit(f"unknown configs {unknown}; known: {', '.join([*CONFIGS, 'naive'])}")
    print(
        f"video: {args.video.name}, {info.frame_count} frames, {info.fps:.2f} fps, {info.width}x{info.height}; "
        f"{os.cpu_count()} cores; load average before {load_average()}"
    )
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        run_command(args.video, work / "warm.parquet", "fusion", CONFIGS["every"][1])  # caches, not timed
        for _ in range(args.repeat):
            for name in dict.fromkeys(["every", *names]):
                if name == "naive":
                    run = run_naive(args.video, work / "naive.parquet")
                else:
                    detector, flags = CONFIGS[name]
                    run = run_command(args.video, work / f"{name}.parquet", detector, flags)
                best = results.get(name)
                if best is None or run["seconds"] < best["seconds"]:
                    results[name] = run
                    results[name]["table"] = pd.read_parquet(run["output"])
        reference = results["every"]["table"]
        naive_fps = results["naive"]["fps"] if "naive" in results else None
        header = (
            f"{'config':15} {'frames':>6} {'whole s':>8} {'whole fps':>9} {'x naive':>7} {'start s':>7} {'steady':>7} "
            f"{'cpu ms/f':>8} {'pose ms':>7} {'hands ms':>8} {'obj ms':>7} {'peak MiB':>8} {'agr pose':>8} "
            f"{'pose err':>8} "
            f"{'hands':>6} {'objects':>7}"
        )
        print(header)
        for name in dict.fromkeys(["every", *names]):
            r = results[name]
            a = agreement(reference, r["table"])
            m = r["models"]
            print(
                f"{name:15} {r['frames']:6d} {r['seconds']:8.2f} {r['fps']:9.2f} "
                f"{(r['fps'] / naive_fps if naive_fps else float('nan')):7.2f} {r['startup']:7.2f} {r['steady']:7.2f} "
                f"{r['cpu_ms']:8.1f} {m.get('pose', float('nan')):7.1f} {m.get('hands', float('nan')):8.1f} "
                f"{m.get('objects', float('nan')):7.1f} {r['peak_mib']:8.0f} {a.pose:8.3f} {a.pose_median_error:8.4f} "
                f"{a.hands:6.3f} {(a.objects if a.objects is not None else float('nan')):7.3f}"
            )
    print(f"video real time: {info.fps:.2f} fps; load average after {load_average()}")
    print(
        "per-model ms are wall time per call inside the threaded pipeline (models share 2 cores, so they "
        "include waiting for a core)"
    )


def looped_video(source: Path, seconds: float, output: Path) -> Path:
    """``source`` played again and again to ``seconds`` long (MJPG AVI at the source's frame rate)."""
    import cv2

    cap = cv2.VideoCapture(str(source))
    fps = cap.get(cv2.CAP_PROP_FPS) or 24.0
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(output), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    for i in range(round(seconds * fps)):
        writer.write(frames[i % len(frames)])
    writer.release()
    return output


def memory(args) -> None:
    print(f"load average before {load_average()}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        rows = []
        for minutes in (1, args.minutes):
            video = looped_video(args.video, minutes * 60, work / f"loop{minutes}.avi")
            run = run_command(video, work / f"loop{minutes}.parquet", args.detector, [])
            rows.append((minutes, run))
            print(
                f"{minutes:3d} min ({run['frames']} frames, {args.detector}): peak RSS {run['peak_mib']:.0f} MiB, "
                f"{run['fps']:.1f} fps whole-process",
                flush=True,
            )
        ratio = rows[1][1]["peak_mib"] / rows[0][1]["peak_mib"]
        print(f"peak RSS {args.minutes} min / 1 min: {ratio:.3f} (goal ≤ 1.20); load average after {load_average()}")


def chunked(args) -> None:
    from taskml.pipeline.chunks import plan_chunks, stitch_chunks
    from taskml.pipeline.extraction import probe_video

    print(f"load average before {load_average()}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        video = looped_video(args.video, args.seconds, work / "long.avi")
        info = probe_video(video)
        chunks = plan_chunks(times=_times(info), chunk_seconds=args.chunk_seconds, overlap_seconds=1.0)
        print(
            f"{video.name}: {info.frame_count} frames, {info.duration:.1f} s; "
            f"{len(chunks)} chunks of {args.chunk_seconds} s"
        )
        started = time.time()
        run_command(video, work / "whole.parquet", "fusion", [])
        whole = time.time() - started
        print(f"unchunked: {whole:.1f} s", flush=True)
        for workers in (1, 2):
            started = time.time()
            pending = list(chunks)
            running: list[tuple[subprocess.Popen, Path]] = []
            outputs = []
            while pending or running:
                while pending and len(running) < workers:
                    chunk = pending.pop(0)
                    out = work / f"chunk{workers}-{chunk.index}.parquet"
                    flags = ["--start-frame", str(chunk.start), "--stop-frame", str(chunk.stop),
                             "--settle-frame", str(chunk.settle)]  # fmt: skip
                    command = [sys.executable, "manage.py", "extract_features", "--video", str(video), "--output",
                               str(out), "--no-progress", *flags]  # fmt: skip
                    running.append((subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL), out))
                    outputs.append(out)
                for process, out in list(running):
                    if process.poll() is not None:
                        if process.returncode:
                            raise SystemExit(f"chunk {out.name} failed")
                        running.remove((process, out))
                time.sleep(0.05)
            stitch_chunks(outputs, work / f"stitched{workers}.parquet")
            seconds = time.time() - started
            print(
                f"{len(chunks)} chunks on {workers} worker process(es): {seconds:.1f} s "
                f"({whole / seconds:.2f}x unchunked)",
                flush=True,
            )
    print(f"load average after {load_average()}")


def per_model(args) -> None:
    """Each model alone, one frame after another in one thread: its cost per frame on one core."""
    import cv2

    from taskml.pipeline.detectors import DetectorConfig, HandsDetector, PoseDetector
    from taskml.pipeline.extraction import iter_frames, probe_video
    from taskml.pipeline.objects import make_object_detector

    info = probe_video(args.video)
    frames = [cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) for i, _, bgr in iter_frames(info) if i < args.frames]
    config = DetectorConfig(models_dir=ROOT / "data" / "models")
    print(f"load average before {load_average()}")
    for name, make in (("pose", PoseDetector), ("hands", HandsDetector), ("objects", make_object_detector)):
        stage = make(config)
        stage.process(frames[0])
        started = time.perf_counter()
        for rgb in frames:
            stage.process(rgb)
        print(f"{name}: {1000 * (time.perf_counter() - started) / len(frames):.1f} ms per frame ({len(frames)} frames)")
        stage.close()
    print(f"load average after {load_average()}")


def _times(info):
    import numpy as np

    if info.clock is not None:
        return info.clock.times_for(np.arange(info.frame_count))
    return np.arange(info.frame_count) / info.fps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=ROOT / "data" / "samples" / "Megamind.avi")
    parser.add_argument(
        "--configs", default="k2,every,k3,hands-lite,mediapipe,naive", help=f"of {', '.join([*CONFIGS, 'naive'])}"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs of each configuration (the fastest is shown)")
    parser.add_argument("--memory", action="store_true", help="peak RSS of an N-minute loop of the video vs 1 minute")
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--detector", default="fusion", help="--memory: the detectors")
    parser.add_argument(
        "--chunked", action="store_true", help="one long video: unchunked vs chunks on 1 and 2 processes"
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="--chunked: the long video's length")
    parser.add_argument("--chunk-seconds", type=float, default=15.0)
    parser.add_argument("--per-model", action="store_true", help="each model alone in one thread: ms per frame")
    parser.add_argument("--frames", type=int, default=120, help="--per-model: frames of the video")
    parser.add_argument("--naive-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.naive_child:
        naive_child(args.video, args.output)
    elif args.memory:
        memory(args)
    elif args.chunked:
        chunked(args)
    elif args.per_model:
        per_model(args)
    else:
        speed(args)


if __name__ == "__main__":
    main()
