"""How long the frame clock's probe (PyAV demux of every packet, no decoding) takes on upload.

    .venv/bin/python bench/clock.py [--minutes 10] [--fps 30]

Writes a synthetic clip (64×48 MPEG-4 in Matroska, a variable frame rate) of the given length and
times ``probe_clock`` on it and on the sample videos; prints frames, seconds and frames per second.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from taskml.pipeline.clock import probe_clock  # noqa: E402
from tests.clips import write_clip  # noqa: E402


def timed(path: Path, repeat: int = 3) -> tuple[int, float]:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        clock = probe_clock(path)
        best = min(best, time.perf_counter() - started)
    return clock.frame_count, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--fps", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        n = int(args.minutes * 60 * args.fps)
        rng = np.random.default_rng(0)
        times = np.cumsum(np.r_[0, rng.choice([1, 2], size=n - 1)] / args.fps)
        print(f"writing a {args.minutes:g}-minute variable-rate clip ({n:,} frames)…", flush=True)
        clip = write_clip(Path(tmp) / "long.mkv", times, rate=args.fps)
        paths = [clip, ROOT / "data/samples/Megamind.avi", ROOT / "data/samples/vtest.avi"]
        for path in paths:
            if not path.exists():
                continue
            frames, seconds = timed(path)
            size = path.stat().st_size / 1e6
            print(f"{path.name}: {frames:,} frames, {size:.1f} MB: probe {seconds * 1000:.1f} ms "
                  f"= {frames / seconds:,.0f} frames/s, {size / seconds:,.0f} MB/s")  # fmt: skip


if __name__ == "__main__":
    main()
