"""A frame's feature row: what a live session and the runtime compute for every frame beyond the detectors.

Megamind's MediaPipe detections are computed once; then every frame goes through
``LivePredictor.features`` (this frame and the previous one stacked, every derived column, the
model's columns picked in its order), ``--repeat`` times over the clip. Printed: p50 / p95 / mean
of the CPU time of the calling thread per frame, in ms. ``--compare-with REV`` measures git
revision REV's pipeline too (checked out in a temporary worktree, each measurement in its own
process), alternating the two ``--rounds`` times, so that both are timed on the same machine at
the same time.

    .venv/bin/python bench/features.py [--repeat 5] [--rounds 2] [--compare-with REV]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def detections(video: str, path: Path) -> None:
    """Megamind's MediaPipe detections, pickled to ``path`` ([(index, t, FrameDetections)])."""
    sys.path.insert(0, str(ROOT))
    from taskml.pipeline.detectors import Detector, DetectorConfig
    from taskml.pipeline.extraction import iter_frames, probe_video

    info = probe_video(video)
    with Detector(DetectorConfig(kind="mediapipe")) as detector:
        found = list(detector.process_stream(iter_frames(info), queue_size=2))
    path.write_bytes(pickle.dumps({"width": info.width, "height": info.height, "frames": found}))


def measure(tree: Path, path: Path, repeat: int) -> dict:
    """Per-frame CPU ms of ``LivePredictor.features`` with ``tree``'s pipeline (run in its own process)."""
    sys.path.insert(0, str(tree))
    import numpy as np

    from taskml.pipeline.features import ALL_FEATURE_COLUMNS
    from taskml.pipeline.online import LivePredictor

    data = pickle.loads(path.read_bytes())

    class Model:  # what LivePredictor reads of a model to build feature rows
        labels = ["a", "b"]
        feature_names = list(ALL_FEATURE_COLUMNS)

    live = LivePredictor(Model(), width=data["width"], height=data["height"], with_objects=False)
    times = []
    for _ in range(repeat):
        live._previous = None  # each pass starts the clip afresh, as a new session would
        for _, t, found in data["frames"]:
            began = time.thread_time()
            live.features(t, found)
            times.append(time.thread_time() - began)
    ms = np.array(times) * 1000
    return {"frames": len(ms), "p50": float(np.percentile(ms, 50)), "p95": float(np.percentile(ms, 95)),
            "mean": float(ms.mean())}  # fmt: skip


def run_measure(tree: Path, path: Path, repeat: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--measure", str(path), "--tree", str(tree), "--repeat", str(repeat)],
        capture_output=True, text=True, check=True, cwd=tree,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", default=str(ROOT / "data" / "samples" / "Megamind.avi"))
    parser.add_argument("--repeat", type=int, default=5, help="passes over the clip per measurement")
    parser.add_argument("--rounds", type=int, default=2, help="measurements of each tree, alternating")
    parser.add_argument("--compare-with", metavar="REV", help="also measure git revision REV")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--tree", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(Path(args.tree), Path(args.measure), args.repeat)))
        return
    work = Path(tempfile.mkdtemp(prefix="taskml-features-"))
    found = work / "detections.pkl"
    detections(args.video, found)
    trees = {"this tree": ROOT}
    if args.compare_with:
        other = work / "tree"
        subprocess.run(
            ["git", "worktree", "add", "--detach", "-q", str(other), args.compare_with], cwd=ROOT, check=True
        )
        trees = {args.compare_with: other, **trees}
    try:
        print(f"{Path(args.video).name}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print("CPU ms per frame of LivePredictor.features (thread time)")
        print(f"{'tree':<12} {'round':>5} {'frames':>6} {'p50':>7} {'p95':>7} {'mean':>7}")
        for round_ in range(1, args.rounds + 1):
            for name, tree in trees.items():
                r = run_measure(tree, found, args.repeat)
                print(f"{name:<12} {round_:>5} {r['frames']:>6} {r['p50']:>7.3f} {r['p95']:>7.3f} {r['mean']:>7.3f}",
                      flush=True)  # fmt: skip
    finally:
        if args.compare_with:
            subprocess.run(["git", "worktree", "remove", "--force", str(work / "tree")], cwd=ROOT, check=False)


if __name__ == "__main__":
    main()
