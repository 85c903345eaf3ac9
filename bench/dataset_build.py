"""Dataset build speed and peak memory on a synthetic feature set (no Django, no video).

Writes N synthetic feature files (one per video, through ``write_features`` like the real
extraction) and then times ``build_dataset`` with the default ``DatasetSpec`` in a fresh child
process, so that the peak memory reported is that of the build alone. Generation is not timed.

    .venv/bin/python bench/dataset_build.py [--videos 50] [--minutes 10] [--fps 30] [--workdir DIR]

Peak memory is the child's own high-water mark (VmHWM in /proc/self/status) rather than
``getrusage(RUSAGE_CHILDREN)``: Linux carries the parent's RSS at spawn time into the child's
``ru_maxrss``, and the parent holds the generated data. Linux only.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from taskml.pipeline.dataset import DatasetSpec, build_dataset  # noqa: E402
from taskml.pipeline.extraction import SCHEMA_VERSION, write_features  # noqa: E402
from taskml.pipeline.features import ALL_FEATURE_COLUMNS  # noqa: E402

CLASSES = ("reach", "grasp", "move", "release")
NAN_SHARE = 0.01  # share of feature values that are missing
GAP_SHARE = 0.15  # share of label spans left unlabelled
TARGET_SECONDS = 60.0
TARGET_PEAK_RATIO = 2.0
MIB = 1 << 20


def synthetic_frame(video_id: str, frames: int, fps: float, rng: np.random.Generator) -> pd.DataFrame:
    """One video's feature table: smooth random-walk features with a little NaN, and label
    spans of 2-8 s cycling through CLASSES with some unlabelled gaps."""
    frame_index = np.arange(frames, dtype=np.int64)
    spans = np.maximum(1, np.round(rng.uniform(2, 8, size=int(frames / fps / 2) + 2) * fps)).astype(np.int64)
    span_labels = np.array([CLASSES[i % len(CLASSES)] for i in range(len(spans))], dtype=object)
    span_labels[rng.random(len(spans)) < GAP_SHARE] = None
    labels = np.repeat(span_labels, spans)[:frames]
    values = np.cumsum(rng.normal(0, 0.05, size=(frames, len(ALL_FEATURE_COLUMNS))), axis=0).astype(np.float32)
    values[rng.random(values.shape) < NAN_SHARE] = np.nan
    columns = {
        "video_id": pd.Series([video_id] * frames, dtype="string"),
        "frame_index": frame_index,
        "t": frame_index / fps,
        "label": pd.Series(labels, dtype="string"),
    }
    columns.update({name: values[:, j] for j, name in enumerate(ALL_FEATURE_COLUMNS)})
    return pd.DataFrame(columns)


def generate(features_dir: Path, videos: int, frames: int, fps: float) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for i in range(videos):
        video_id = f"video_{i:03d}"
        path = features_dir / f"{video_id}.parquet"
        metadata = {
            "schema_version": SCHEMA_VERSION,
            "video_id": video_id,
            "source_name": f"{video_id}.mp4",
            "fps": fps,
            "frame_count": frames,
            "sample_rate": 1,
            "detector": "synthetic",
        }
        write_features(synthetic_frame(video_id, frames, fps, rng), path, metadata)
        paths.append(path)
    return paths


def proc_status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def child_build(workdir: Path) -> None:
    """Run in the fresh child: build the dataset, print the measurements as one JSON line."""
    paths = sorted((workdir / "features").glob("*.parquet"))
    output = workdir / "dataset"
    baseline = proc_status_kib("VmRSS") * 1024
    started = time.perf_counter()
    result = build_dataset(paths, output, spec=DatasetSpec())
    seconds = time.perf_counter() - started
    peak = proc_status_kib("VmHWM") * 1024
    meta = result.metadata.to_dict()
    print(
        json.dumps(
            {
                "seconds": seconds,
                "baseline_rss": baseline,
                "peak_rss": peak,
                "x_bytes": sum(np.load(p, mmap_mode="r").nbytes for p in output.glob("X_*.npy")),
                "windows": {name: meta[f"{name}_size"] for name in ("train", "val", "test")},
            }
        )
    )


def run_child(workdir: Path) -> dict:
    shutil.rmtree(workdir / "dataset", ignore_errors=True)
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child-build", str(workdir)],
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def report(r: dict, args: argparse.Namespace, frames: int, gen_seconds: float) -> None:
    spec = DatasetSpec()
    w = spec.window
    windows = sum(r["windows"].values())
    peak_ratio = r["peak_rss"] / r["x_bytes"]
    growth_ratio = (r["peak_rss"] - r["baseline_rss"]) / r["x_bytes"]

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "MISS"

    print(
        f"input: {args.videos} videos x {args.minutes:g} min @ {args.fps:g} fps = {args.videos * frames:,} rows, "
        f"{len(spec.feature_names)} features (generated in {gen_seconds:.1f} s, not timed)"
    )
    print(
        f"spec: {w.window_sec:g} s windows, {w.step_sec:g} s step, {w.resample_fps:g} fps ({w.frames} frames), "
        f"balance {spec.balance}"
    )
    rows = [
        ("windows (train/val/test)", f"{windows:,} ({'/'.join(f'{n:,}' for n in r['windows'].values())})", ""),
        ("wall time", f"{r['seconds']:.1f} s", f"under {TARGET_SECONDS:g} s: {verdict(r['seconds'] < TARGET_SECONDS)}"),
        ("windows per second", f"{windows / r['seconds']:,.0f}", ""),
        ("RSS baseline (after imports)", f"{r['baseline_rss'] / MIB:,.0f} MiB", ""),
        ("peak RSS (VmHWM)", f"{r['peak_rss'] / MIB:,.0f} MiB", ""),
        ("output X_*.npy arrays", f"{r['x_bytes'] / MIB:,.0f} MiB", ""),
        (
            "peak / output",
            f"{peak_ratio:.2f}x",
            f"under {TARGET_PEAK_RATIO:g}x the output arrays: {verdict(peak_ratio < TARGET_PEAK_RATIO)}",
        ),
        ("(peak - baseline) / output", f"{growth_ratio:.2f}x", ""),
    ]
    for name, value, target in rows:
        print(f"  {name:30} {value:>28}   {target}".rstrip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=50)
    parser.add_argument("--minutes", type=float, default=10.0, help="length of each video")
    parser.add_argument("--fps", type=float, default=30.0, help="frame rate of the feature files")
    parser.add_argument("--workdir", type=Path, help="keep the feature files and dataset here (default: a temp dir)")
    parser.add_argument("--child-build", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_build is not None:
        child_build(args.child_build)
        return

    frames = round(args.minutes * 60 * args.fps)
    with tempfile.TemporaryDirectory(prefix="dataset_bench.") as tmp:
        workdir = args.workdir or Path(tmp)
        features_dir = workdir / "features"
        shutil.rmtree(features_dir, ignore_errors=True)
        features_dir.mkdir(parents=True)
        started = time.perf_counter()
        generate(features_dir, args.videos, frames, args.fps)
        gen_seconds = time.perf_counter() - started
        report(run_child(workdir), args, frames, gen_seconds)


if __name__ == "__main__":
    main()
