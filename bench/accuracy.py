"""Accuracy of the project's own CLI on public human-motion and gesture classification data,
next to published results of strong time-series classifiers.

Data (offline once cached): the aeon 1.6.0 wheel from PyPI carries three small UCR/UEA data sets
with their official TRAIN/TEST split. The wheel is downloaded once with
``pip download --no-deps aeon==1.6.0`` into data/bench-cache/ (gitignored); the .ts files are read
from the zip by this script's own parser (aeon itself is not installed or imported).

- BasicMotions: 4 activities (standing, walking, running, badminton), 6 channels (wrist
  accelerometer + gyroscope), 100 samples, 40 train / 40 test.
- GunPoint: drawing a gun vs pointing, 1 channel (hand x position from video), 150 samples,
  50 train / 150 test.
- PickupGestureWiimoteZ: 10 Wiimote gestures, 1 channel (z acceleration), variable length
  (29 to 361 samples), 50 train / 50 test.

Every series becomes one "video": a features Parquet with ``video_id``, ``t``, ``label`` and the
channels as columns ``dim_0``, ``dim_1``…, built into a dataset with the feature group ``other``
(every numeric column outside the pose/hands/objects groups). Time: series i of length L_i gets
``t = k · D / L_i`` for k = 0…L_i−1, with D = the longest length in the data set, so every series
spans the same D "seconds"; ``--window-sec D --resample-fps 1`` then makes exactly one window of
D frames per series, and the window builder's nearest-sample resampling stretches a shorter series
to D frames (equal-length sets are left as they are). The splits CSV keeps the data set's own
TRAIN/TEST; the networks (tcn, transformer, lstm), which stop early on val, get a second dataset
in which a seeded, stratified 20% of TRAIN is held out as val. The tabular configurations train
on the whole of TRAIN, as the published results do.

Then ``manage.py build_task_dataset`` and ``manage.py train_task_classifier`` run in subprocesses
for the default configuration (no --model, no --agg) and the others, and the table prints test
accuracy next to the published figures.

    .venv/bin/python bench/accuracy.py [--datasets BasicMotions,GunPoint,PickupGestureWiimoteZ]
                                       [--configs default,lgbm/stats,...] [--workdir DIR]

Published accuracies (test accuracy on the official split unless said otherwise):

- GunPoint, HIVE-COTE 2 and InceptionTime: resample 0 (= the official split) of the 2023
  bake-off results (Middlehurst, Schäfer, Bagnall, "Bake off redux", 2024) as shipped in the aeon
  1.6.0 wheel: aeon/testing/example_results_files/classification/accuracy/{HC2,InceptionTime}_accuracy.csv
  (read from the cached wheel at run time: the script prints them from there).
- Figures marked "recalled" are from memory of the publications, NOT verified offline: ROCKET on
  GunPoint 1.000 (Dempster et al. 2020, UCR results), and 1.000 for ROCKET, HIVE-COTE 2 and
  InceptionTime on BasicMotions (Ruiz et al. 2021, the multivariate bake-off; Middlehurst et al.
  2021, the HC2 paper). PickupGestureWiimoteZ figures could not be found in the offline sources:
  shown as n/a.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from taskml.pipeline.extraction import write_features  # noqa: E402

CACHE = ROOT / "data" / "bench-cache"
WHEEL = "aeon-1.6.0-py3-none-any.whl"
DATASETS = ("BasicMotions", "GunPoint", "PickupGestureWiimoteZ")
CONFIGS = ("default", "lgbm/stats", "lgbm/multiscale", "rf/multiscale", "tcn", "transformer")
SEQUENCE_CONFIGS = ("tcn", "transformer", "lstm")
VAL_SHARE = 0.2
SEED = 0

# (accuracy, source); None where no figure was found offline.
RECALLED = "recalled, not verified offline"
PUBLISHED: dict[str, dict[str, tuple[float | None, str]]] = {
    "BasicMotions": {
        "ROCKET": (1.0, f"Ruiz et al. 2021 ({RECALLED})"),
        "HC2": (1.0, f"Middlehurst et al. 2021 ({RECALLED})"),
        "InceptionTime": (1.0, f"Ruiz et al. 2021 ({RECALLED})"),
    },
    "GunPoint": {
        "ROCKET": (1.0, f"Dempster et al. 2020 ({RECALLED})"),
        "HC2": (None, "aeon wheel: 2023 bake-off results, resample 0"),
        "InceptionTime": (None, "aeon wheel: 2023 bake-off results, resample 0"),
    },
    "PickupGestureWiimoteZ": {
        "ROCKET": (None, "not found offline"),
        "HC2": (None, "not found offline"),
        "InceptionTime": (None, "not found offline"),
    },
}


def wheel_path() -> Path:
    path = CACHE / WHEEL
    if not path.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "aeon==1.6.0", "-d", str(CACHE)], check=True
        )
    return path


def bake_off_results(archive: zipfile.ZipFile) -> None:
    """Fill the HC2/InceptionTime GunPoint figures from the results the wheel ships."""
    for name in ("HC2", "InceptionTime"):
        member = f"aeon/testing/example_results_files/classification/accuracy/{name}_accuracy.csv"
        try:
            rows = list(csv.reader(io.TextIOWrapper(archive.open(member), encoding="utf-8")))
        except KeyError:
            continue
        for row in rows[1:]:
            if row and row[0] in PUBLISHED:
                value, source = PUBLISHED[row[0]][name]
                PUBLISHED[row[0]][name] = (float(row[1]), source)


def parse_ts(text: str) -> tuple[list[np.ndarray], list[str]]:
    """A .ts file → ([series (channels, length)], [label]); ``?`` is a missing value (NaN)."""
    series, labels = [], []
    in_data = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not in_data:
            if line.lower().startswith("@data"):
                in_data = True
            continue
        *channels, label = line.split(":")
        rows = [[float("nan") if v.strip() == "?" else float(v) for v in c.split(",") if v.strip()] for c in channels]
        length = max(len(r) for r in rows)
        values = np.full((len(rows), length), np.nan)
        for i, r in enumerate(rows):
            values[i, : len(r)] = r
        series.append(values)
        labels.append(label.strip())
    return series, labels


def load(archive: zipfile.ZipFile, name: str) -> dict[str, tuple[list[np.ndarray], list[str]]]:
    base = f"aeon/datasets/data/{name}/{name}"
    return {split: parse_ts(archive.read(f"{base}_{split.upper()}.ts").decode("utf-8")) for split in ("train", "test")}


def write_videos(name: str, data: dict, folder: Path) -> tuple[list[Path], dict[str, str], dict[str, str], float]:
    """One features file per series; (files, full splits, splits with val carved from train, D)."""
    folder.mkdir(parents=True, exist_ok=True)
    lengths = [int(np.max(np.flatnonzero(~np.isnan(s).all(axis=0))) + 1) for split in data.values() for s in split[0]]
    duration = float(max(lengths))
    files, full = [], {}
    for split, (series, labels) in data.items():
        for i, (values, label) in enumerate(zip(series, labels, strict=True)):
            length = int(np.max(np.flatnonzero(~np.isnan(values).all(axis=0))) + 1)
            values = values[:, :length]
            video_id = f"{name}_{split}_{i:04d}"
            frame = pd.DataFrame({f"dim_{c}": values[c].astype(np.float32) for c in range(len(values))})
            frame.insert(0, "video_id", pd.Series([video_id] * length, dtype="string"))
            frame.insert(1, "frame_index", np.arange(length, dtype=np.int64))
            frame.insert(2, "t", np.arange(length) * duration / length)
            frame["label"] = pd.Series([label] * length, dtype="string")
            path = folder / f"{video_id}.parquet"
            write_features(frame, path, {"video_id": video_id, "fps": length / duration, "detector": "ts"})
            files.append(path)
            full[video_id] = split
    # A seeded, stratified share of TRAIN as val, for the networks' early stopping.
    rng = np.random.default_rng(SEED)
    with_val = dict(full)
    train_labels = data["train"][1]
    for label in sorted(set(train_labels)):
        members = [f"{name}_train_{i:04d}" for i, lbl in enumerate(train_labels) if lbl == label]
        take = max(1, round(VAL_SHARE * len(members))) if len(members) > 1 else 0
        for video_id in rng.choice(members, size=take, replace=False):
            with_val[str(video_id)] = "val"
    return files, full, with_val, duration


def write_splits(path: Path, splits: dict[str, str]) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["video_id", "split"])
        writer.writerows(sorted(splits.items()))
    return path


def manage(*args: str) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args], capture_output=True, text=True, cwd=ROOT, check=False
    )
    if done.returncode:
        raise SystemExit(f"manage.py {args[0]} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done


def build(files: list[Path], splits: Path, output: Path, duration: float) -> None:
    manage(
        "build_task_dataset",
        "--features", *map(str, files),
        "--output", str(output),
        "--splits", str(splits),
        "--window-sec", repr(duration * (1 - 1e-6)),  # a hair under D: exactly one window per series
        "--step-sec", repr(duration),
        "--resample-fps", repr(1.0),  # D frames per window
        "--min-purity", "0.5",
        "--groups", "other",
        "--no-progress",
    )  # fmt: skip


def train(dataset: Path, output: Path, config: str) -> dict:
    args = ["train_task_classifier", "--dataset", str(dataset), "--output", str(output), "--no-progress"]
    if config != "default":
        model, _, agg = config.partition("/")
        args += ["--model", model] + (["--agg", agg] if agg else [])
    started = time.perf_counter()
    manage(*args)
    metrics = json.loads(output.with_name(f"{output.stem}_metrics.json").read_text())
    metrics["wall_seconds"] = time.perf_counter() - started
    return metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--workdir", default=str(CACHE / "accuracy"))
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskml.settings")
    workdir = Path(args.workdir)
    configs = args.configs.split(",")
    results: dict[str, dict] = {}
    with zipfile.ZipFile(wheel_path()) as archive:
        bake_off_results(archive)
        for name in args.datasets.split(","):
            data = load(archive, name)
            folder = workdir / name
            files, full, with_val, duration = write_videos(name, data, folder / "features")
            datasets = {}
            for kind, splits in (("full", full), ("val", with_val)):
                datasets[kind] = folder / f"dataset_{kind}"
                build(files, write_splits(folder / f"splits_{kind}.csv", splits), datasets[kind], duration)
            results[name] = {"length": int(duration), "train": len(data["train"][1]), "test": len(data["test"][1])}
            for config in configs:
                kind = "val" if config.split("/")[0] in SEQUENCE_CONFIGS else "full"
                m = train(datasets[kind], folder / f"model_{config.replace('/', '_')}.pkl", config)
                results[name][config] = {
                    "accuracy": m["accuracy"],
                    "model": f"{m['model_type']}/{m['aggregation']}",
                    "seconds": round(m["training_seconds"], 1),
                }
                print(
                    f"{name:22} {config:18} {m['model_type']}/{m['aggregation']:12} "
                    f"accuracy {m['accuracy']:.3f}  ({m['training_seconds']:.1f} s)",
                    flush=True,
                )
    print_table(results, configs)
    if args.json:
        Path(args.json).write_text(json.dumps({"ours": results, "published": PUBLISHED}, indent=2))


def print_table(results: dict, configs: list[str]) -> None:
    methods = ("ROCKET", "HC2", "InceptionTime")
    header = ["dataset", *configs, *methods, "best", "default − best"]
    rows = []
    for name, ours in results.items():
        published = [PUBLISHED.get(name, {}).get(m, (None, ""))[0] for m in methods]
        known = [p for p in published if p is not None]
        best = max(known) if known else None
        default = ours.get("default", {}).get("accuracy")
        gap = f"{(default - best) * 100:+.1f} pt" if best is not None and default is not None else "n/a"
        rows.append(
            [
                name,
                *(f"{ours[c]['accuracy']:.3f}" if c in ours else "-" for c in configs),
                *(f"{p:.3f}" if p is not None else "n/a" for p in published),
                f"{best:.3f}" if best is not None else "n/a",
                gap,
            ]
        )
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print()
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("-|-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)))
    print("\nSources of the published figures:")
    for name in results:
        for method, (value, source) in PUBLISHED.get(name, {}).items():
            print(f"  {name} {method}: {value if value is not None else 'n/a'} — {source}")
    below = []
    for name, ours in results.items():
        known = [v for v, _ in PUBLISHED.get(name, {}).values() if v is not None]
        default = ours.get("default", {}).get("accuracy")
        if known and default is not None and default < max(known) - 0.01:
            below.append(f"{name}: default {default:.3f} vs best published {max(known):.3f}")
    print("\nMore than one point below the best published result:", "; ".join(below) if below else "none")


if __name__ == "__main__":
    main()
