"""Extraction speed per detector on a real clip, against a naive loop on the same clip.

Object detection runs with each object backend: the default pretrained COCO SSD (TFLite,
``coco-ssd-mobilenet-v2``, from scripts/fetch_models.sh) and YOLO (``TASKML_YOLO_MODEL``,
default ``yolov8n.yaml``: untrained, the same network and cost as real yolov8n weights).

The naive loop is the obvious way to write it: decode → pose → hands → YOLO (ultralytics'
own predict at its defaults), one frame after another in one thread. The taskml runs go through
``extract_features`` end to end (decode, detectors, derived features, Parquet write). Model
construction is excluded from both: each side warms up on a few frames first.

    .venv/bin/python bench/extraction.py [--video data/samples/Megamind.avi] [--frames N]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from taskml.pipeline.detectors import Detector, DetectorConfig  # noqa: E402
from taskml.pipeline.extraction import detections_frame, iter_frames, probe_video  # noqa: E402
from taskml.pipeline.objects import DEFAULT_OBJECT_MODEL  # noqa: E402

YOLO_SPEC = os.environ.get("TASKML_YOLO_MODEL") or "yolov8n.yaml"


def naive_loop(video: Path, limit: int) -> dict:
    import mediapipe as mp
    import torch
    from ultralytics import YOLO

    pose = mp.solutions.pose.Pose()
    hands = mp.solutions.hands.Hands(max_num_hands=2)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        yolo = YOLO(YOLO_SPEC)
    cap = cv2.VideoCapture(str(video))
    ok, warm = cap.read()
    yolo.predict(warm, verbose=False)
    cap.release()

    cap = cv2.VideoCapture(str(video))
    counts = {"frames": 0, "pose": 0, "hands": 0, "objects": 0}
    started = time.perf_counter()
    while counts["frames"] < limit:
        ok, frame = cap.read()
        if not ok:
            break
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        p = pose.process(rgb)
        h = hands.process(rgb)
        y = yolo.predict(frame, verbose=False)[0]
        counts["frames"] += 1
        counts["pose"] += p.pose_landmarks is not None
        counts["hands"] += bool(h.multi_hand_landmarks)
        counts["objects"] += len(y.boxes) > 0
    counts["seconds"] = time.perf_counter() - started
    return counts


def taskml_run(video: Path, kind: str, limit: int, cache: Path, objects: str = YOLO_SPEC) -> dict:
    info = probe_video(video)
    config = DetectorConfig(kind=kind, yolo_model=objects, cache_dir=cache)
    with Detector(config) as detector:
        cap = cv2.VideoCapture(str(video))
        ok, warm = cap.read()
        cap.release()
        for _ in range(3):
            detector.process(cv2.cvtColor(warm, cv2.COLOR_BGR2RGB))
    # A fresh detector so that MediaPipe's tracking starts from scratch, as in the naive loop.
    with Detector(config) as detector:
        started = time.perf_counter()
        frames = (item for item in iter_frames(info) if item[0] < limit)
        results = list(detector.process_stream(frames))
        table = detections_frame(
            video_id="bench",
            frame_index=np.array([r[0] for r in results]),
            t=np.array([r[1] for r in results]),
            detections=[r[2] for r in results],
            width=info.width,
            height=info.height,
            with_objects=config.uses_yolo,
        )
        with tempfile.TemporaryDirectory() as tmp:
            table.to_parquet(Path(tmp) / "bench.parquet")
        seconds = time.perf_counter() - started
    dets = [r[2] for r in results]
    return {
        "frames": len(results),
        "pose": sum(d.pose is not None for d in dets),
        "hands": sum(d.left_hand is not None or d.right_hand is not None for d in dets),
        "objects": sum(len(d.object_names) > 0 for d in dets),
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=Path("data/samples/Megamind.avi"))
    parser.add_argument("--frames", type=int, default=10**9, help="stop after N frames")
    parser.add_argument("--skip-naive", action="store_true")
    args = parser.parse_args()
    info = probe_video(args.video)
    print(
        f"video: {args.video.name}, {info.frame_count} frames, {info.fps:.2f} fps, "
        f"{info.width}x{info.height}; YOLO model {YOLO_SPEC}; {os.cpu_count()} cores"
    )
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        rows.append(("taskml mediapipe", taskml_run(args.video, "mediapipe", args.frames, Path(cache))))
        for kind in ("yolo", "fusion"):
            rows.append((f"taskml {kind}", taskml_run(args.video, kind, args.frames, Path(cache))))
        for kind, name in (("yolo", "objects"), ("fusion", "fusion")):
            run = taskml_run(args.video, kind, args.frames, Path(cache), objects=DEFAULT_OBJECT_MODEL)
            rows.append((f"taskml {name} (COCO SSD)", run))
    if not args.skip_naive:
        rows.append(("naive loop (pose+hands+YOLO)", naive_loop(args.video, args.frames)))
    print(f"{'run (objects: YOLO unless named)':32} {'frames':>6} {'fps':>7} {'pose':>5} {'hands':>5} {'objs':>5}")
    for name, r in rows:
        fps = r["frames"] / r["seconds"]
        print(f"{name:32} {r['frames']:6d} {fps:7.2f} {r['pose']:5d} {r['hands']:5d} {r['objects']:5d}")
    result = dict(rows)
    if "naive loop (pose+hands+YOLO)" in result:
        naive = result["naive loop (pose+hands+YOLO)"]
        fusion = result["taskml fusion"]
        speedup = (fusion["frames"] / fusion["seconds"]) / (naive["frames"] / naive["seconds"])
        print(f"fusion / naive speed-up: {speedup:.2f}x (target >= 2x)")
        for key in ("pose", "hands", "objects"):
            diff = abs(fusion[key] - naive[key]) / max(naive["frames"], 1) * 100
            print(f"  frames with {key}: fusion {fusion[key]}, naive {naive[key]} (differ by {diff:.1f}% of frames)")
    mp_fps = result["taskml mediapipe"]["frames"] / result["taskml mediapipe"]["seconds"]
    print(f"mediapipe-only: {mp_fps:.1f} fps vs video {info.fps:.2f} fps → {mp_fps / info.fps:.2f}x real time")


if __name__ == "__main__":
    main()
