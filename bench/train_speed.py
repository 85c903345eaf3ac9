"""Training time of each candidate configuration on 10,000 real-shaped windows.

Writes a synthetic windowed dataset shaped like a real one (default: 10,000 train windows of
2 s at 15 fps = 30 frames × the 243 fused pose/hands/objects features, plus 1,500 val and 1,500
test windows), with 4 classes that differ in the *temporal shape* of a few features (a bump early
or late in the window, a ramp up or down) and noise everywhere, z-scored with 1% missing values as
0. Then it times ``train_model`` for every configuration, each in its own child process (so one
configuration's memory or threads do not slow the next) with a time limit. The time is the
whole ``train_model`` call: fitting the representation, transforming every split, fitting the
model (early stopping on val for the networks), evaluating and saving.

    .venv/bin/python bench/train_speed.py [--windows 10000] [--limit 180] [--configs ridge/minirocket,lgbm/stats]

The default configuration (taskml/pipeline/training.py DEFAULT_MODEL, DEFAULT_AGGREGATION) must
train in under 60 s here. The machine's load average is printed: on a shared machine the
figures are upper bounds, and "cpu s" (user + system CPU seconds of the child, over both
cores) is the steadier figure: on an idle 2-core machine the wall time lies between cpu/2 and cpu.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from taskml.pipeline.features import ALL_FEATURE_COLUMNS  # noqa: E402

CONFIGS = (
    "lgbm/stats",
    "rf/stats",
    "lgbm/multiscale",
    "rf/multiscale",
    "ridge/minirocket",
    "lgbm/minirocket",
    "lstm/sequence",
    "tcn/sequence",
    "transformer/sequence",
)
CLASSES = ("reach", "return", "grasp", "idle")


def make_dataset(folder: Path, windows: int, frames: int, features: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    u = np.linspace(0, 1, frames, dtype=np.float32)
    templates = {
        0: np.exp(-(((u - 0.25) / 0.12) ** 2)),  # bump early
        1: np.exp(-(((u - 0.75) / 0.12) ** 2)),  # bump late: same values, other order
        2: u - 0.5,  # ramp up
        3: np.zeros_like(u),
    }
    signal = rng.choice(features, size=max(4, features // 20), replace=False)
    sizes = {"train": windows, "val": max(200, windows * 3 // 20), "test": max(200, windows * 3 // 20)}
    for split, n in sizes.items():
        y = rng.integers(0, len(CLASSES), n)
        x = rng.normal(size=(n, frames, features)).astype(np.float32)
        for c, template in templates.items():
            rows = np.flatnonzero(y == c)
            x[np.ix_(rows, np.arange(frames), signal)] += 1.5 * template[None, :, None]
        x[rng.random(x.shape) < 0.01] = 0.0
        np.save(folder / f"X_{split}.npy", x)
        np.save(folder / f"y_{split}.npy", y.astype(np.int64))
    names = list(ALL_FEATURE_COLUMNS[:features]) + [f"f{i}" for i in range(max(0, features - len(ALL_FEATURE_COLUMNS)))]
    meta = {
        "feature_names": names,
        "num_features": features,
        "window_sec": frames / 15.0,
        "step_sec": 0.5,
        "fps": 15.0,
        "window_frames": frames,
        "min_purity": 0.6,
        "scaler_mean": [0.0] * features,
        "scaler_scale": [1.0] * features,
        "label_to_idx": {c: i for i, c in enumerate(CLASSES)},
        "idx_to_label": {str(i): c for i, c in enumerate(CLASSES)},
    }
    (folder / "metadata.json").write_text(json.dumps(meta))


CHILD = """
import json, resource, sys, time
sys.path.insert(0, {root!r})
from taskml.pipeline.training import TrainSpec, train_model
model, agg = {config!r}.split("/")
started = time.perf_counter()
result = train_model({dataset!r}, {output!r}, spec=TrainSpec(model_type=model, aggregation=agg, seed=0))
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({{"seconds": time.perf_counter() - started, "cpu": usage.ru_utime + usage.ru_stime,
                  "accuracy": result.metrics.accuracy, "epochs": result.metrics.epochs_run}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--windows", type=int, default=10_000)
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--features", type=int, default=len(ALL_FEATURE_COLUMNS))
    parser.add_argument("--limit", type=float, default=180.0, help="seconds before a configuration is stopped")
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    root = str(Path(__file__).resolve().parent.parent)
    results = []
    with tempfile.TemporaryDirectory(prefix="train-speed-") as tmp:
        dataset = Path(tmp) / "dataset"
        dataset.mkdir()
        make_dataset(dataset, args.windows, args.frames, args.features)
        print(
            f"{args.windows} train windows of {args.frames} frames × {args.features} features "
            f"(+ val/test); load average before: {os.getloadavg()[0]:.2f}; cores: {os.cpu_count()}",
            flush=True,
        )
        print(f"{'config':24} {'seconds':>8} {'cpu s':>8} {'accuracy':>9} {'epochs':>7}  load", flush=True)
        for config in args.configs.split(","):
            code = CHILD.format(root=root, config=config, dataset=str(dataset), output=str(Path(tmp) / "m.pkl"))
            started = time.perf_counter()
            try:
                done = subprocess.run(
                    [sys.executable, "-c", code], capture_output=True, text=True, timeout=args.limit, check=False
                )
                if done.returncode:
                    row = {"config": config, "error": done.stderr.strip().splitlines()[-1]}
                else:
                    row = {"config": config, **json.loads(done.stdout.strip().splitlines()[-1])}
            except subprocess.TimeoutExpired:
                row = {"config": config, "seconds": None, "timeout": args.limit}
            row["wall"] = time.perf_counter() - started
            row["load"] = os.getloadavg()[0]
            results.append(row)
            if "error" in row:
                print(f"{config:24} error: {row['error']}", flush=True)
            elif row.get("seconds") is None:
                over = ">" + format(args.limit, ".0f")
                print(f"{config:24} {over:>8} {'-':>8} {'-':>9} {'-':>7}  {row['load']:.2f}", flush=True)
            else:
                epochs = row.get("epochs") or "-"
                print(
                    f"{config:24} {row['seconds']:8.1f} {row['cpu']:8.1f} {row['accuracy']:9.3f} {epochs!s:>7}"
                    f"  {row['load']:.2f}",
                    flush=True,
                )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
