"""Ablations: the same model trained on each feature group alone, on identical splits.

From one built dataset, each group's copy keeps the same windows, labels and splits (the
``y_*.npy`` and ``windows_*.csv`` files are copied byte for byte) and slices ``X`` and the
scaler down to the group's columns; the dataset itself is the ``fused`` run. Every run goes
through :func:`taskml.pipeline.training.train_model`, so an ablation measures exactly what
training measures. A group is skipped (with the reason) when the dataset holds none of its
columns, or when its columns hold no value at all in the training split (constant: objects from a
MediaPipe-only extraction, which were never looked for).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from .contracts import TrainingMetrics
from .errors import InputError
from .features import FEATURE_GROUPS
from .files import sha256_file, write_json
from .training import TrainSpec, load_dataset, train_model
from .windows import SPLITS

FUSED = "fused"
ABLATION_GROUPS = (*FEATURE_GROUPS, FUSED)
ProgressCallback = Callable[[int, int], None]


def group_columns(feature_names: Sequence[str], group: str) -> list[int]:
    """Indexes of the dataset's columns that belong to ``group`` (all of them for ``fused``)."""
    if group == FUSED:
        return list(range(len(feature_names)))
    if group not in FEATURE_GROUPS:
        raise InputError(f"feature group {group!r} unknown; choose from {', '.join(ABLATION_GROUPS)}")
    members = set(FEATURE_GROUPS[group])
    return [i for i, name in enumerate(feature_names) if name in members]


def write_group_dataset(dataset: str | os.PathLike, output: str | os.PathLike, group: str) -> Path:
    """A copy of ``dataset`` holding only ``group``'s columns: same windows, labels and splits.

    Parameters
    ----------
    dataset : path-like
        A built dataset.
    output : path-like
        A directory that does not exist yet.
    group : str
        A feature group, or ``fused`` (every column).

    Returns
    -------
    Path
        ``output``: X and the scaler sliced, y and the window index copied byte for byte, its
        metadata.json naming the group (``ablation_of``).

    Raises
    ------
    InputError
        An unknown group, or a dataset without its columns.
    """
    source = Path(dataset)
    data = load_dataset(source)
    metadata = data.metadata
    columns = group_columns(metadata.feature_names, group)
    if not columns:
        raise InputError(f"{source.name} holds no {group} columns")
    output = Path(output)
    output.mkdir(parents=True, exist_ok=False)
    for split in SPLITS:
        np.save(output / f"X_{split}.npy", np.ascontiguousarray(np.asarray(data.X[split])[:, :, columns]))
        shutil.copyfile(source / f"y_{split}.npy", output / f"y_{split}.npy")
        index = source / f"windows_{split}.csv"
        if index.is_file():
            shutil.copyfile(index, output / index.name)
    if group != FUSED:
        groups = [group]
    else:
        groups = metadata.feature_groups if metadata.feature_groups is not None else list(FEATURE_GROUPS)
    sliced = replace(
        metadata,
        feature_names=[metadata.feature_names[i] for i in columns],
        num_features=len(columns),
        feature_groups=groups,
        scaler_mean=[metadata.scaler_mean[i] for i in columns],
        scaler_scale=[metadata.scaler_scale[i] for i in columns],
        ablation_of={"dataset": str(source), "group": group},
    )
    write_json(output / "metadata.json", sliced.to_dict())
    return output


def splits_digest(dataset: str | os.PathLike) -> str:
    """One digest of a dataset's labels and window index per split: equal digests, identical splits."""
    import hashlib

    path = Path(dataset)
    digest = hashlib.sha256()
    for split in SPLITS:
        for name in (f"y_{split}.npy", f"windows_{split}.csv"):
            file = path / name
            digest.update(name.encode())
            digest.update(sha256_file(file).encode() if file.is_file() else b"-")
    return digest.hexdigest()


def _skip_reason(data, group: str) -> str | None:
    columns = group_columns(data.metadata.feature_names, group)
    if not columns:
        return f"the dataset holds no {group} columns"
    train = np.asarray(data.X["train"])[:, :, columns]
    # Missing values are stored as 0 (the training mean) once scaled: a group never detected,
    # or not looked for, is constant throughout the train split and can teach nothing.
    if train.size and np.all(train == train[:1, :1, :]):
        return f"the {group} columns hold no values in the train split (never detected or not looked for)"
    return None


def _summary(metrics: TrainingMetrics) -> dict:
    per_class = (metrics.test.per_class if metrics.test is not None else None) or {}
    return {
        "accuracy": float(metrics.accuracy),
        "f1_macro": float(metrics.f1_macro),
        # Classes the test split does not hold (and nobody predicted) have no F1: left out, not 0.
        "per_class_f1": {name: float(v["f1"]) for name, v in per_class.items() if v.get("f1") is not None},
    }


def compare(results: dict[str, dict], reference: str = FUSED) -> dict[str, dict]:
    """Each group's figures with its deltas against ``reference`` (group − reference)."""
    base = results.get(reference)
    out = {}
    for group, figures in results.items():
        row = dict(figures)
        if base is not None:
            row["delta_accuracy"] = row["accuracy"] - base["accuracy"]
            row["delta_f1_macro"] = row["f1_macro"] - base["f1_macro"]
            row["delta_per_class_f1"] = {
                name: f1 - base["per_class_f1"].get(name, 0.0) for name, f1 in row["per_class_f1"].items()
            }
        out[group] = row
    return out


def _within(progress: ProgressCallback | None, step: int, steps: int) -> ProgressCallback | None:
    """Progress of step ``step`` of ``steps`` as progress of the whole (and its chance to stop)."""
    if progress is None:
        return None
    return lambda done, total: progress(step * total + done, steps * total) if total else None


def run_ablation(
    dataset: str | os.PathLike,
    *,
    spec: TrainSpec | None = None,
    groups: Sequence[str] | None = None,
    workdir: str | os.PathLike | None = None,
    progress: ProgressCallback | None = None,
) -> dict:
    """Train ``spec`` on each feature group of ``dataset`` (and on all, ``fused``) and compare them.

    Parameters
    ----------
    dataset : path-like
    spec : TrainSpec, optional
    groups : sequence of str, optional
        Default: every known group. ``fused`` always runs, last (the reference).
    workdir : path-like, optional
        Where the group datasets and models go (default: a temporary directory removed at the end).
    progress : callable, optional
        ``progress(done, total)`` through the runs; it may raise to stop.

    Returns
    -------
    dict
        Plain JSON: ``groups`` {group: {accuracy, f1_macro, per_class_f1, deltas vs fused,
        num_features, splits_digest, seconds}}, ``skipped`` {group: reason}, ``labels``, ``order``
        (the groups run, fused last), ``sizes``, ``splits_digest``, the training ``spec``, ``seconds``.

    Raises
    ------
    InputError
        Unknown groups, or a dataset without any feature values.
    """
    started = time.perf_counter()
    spec = spec or TrainSpec()
    source = Path(dataset)
    data = load_dataset(source)
    wanted = list(dict.fromkeys(groups or FEATURE_GROUPS))
    unknown = [g for g in wanted if g not in ABLATION_GROUPS]
    if unknown:
        raise InputError(f"feature groups {unknown} unknown; choose from {', '.join(ABLATION_GROUPS)}")
    wanted = [g for g in wanted if g != FUSED] + [FUSED]  # fused is the reference, always run, last
    skipped = {}
    runnable = []
    for group in wanted:
        reason = _skip_reason(data, group)
        if reason is None:
            runnable.append(group)
        else:
            skipped[group] = reason
    if FUSED not in runnable:
        raise InputError(f"{source.name} has no feature values to train on")
    reference_digest = splits_digest(source)
    results: dict[str, dict] = {}
    own = workdir is None
    work = Path(tempfile.mkdtemp(prefix="ablation-")) if own else Path(workdir)
    try:
        for step, group in enumerate(runnable):
            group_started = time.perf_counter()
            group_dir = source if group == FUSED else write_group_dataset(source, work / f"data_{group}", group)
            digest = splits_digest(group_dir)
            if digest != reference_digest:  # never compare groups trained on different windows
                raise InputError(f"the {group} copy of {source.name} does not hold the same splits")
            trained = train_model(
                group_dir, work / f"model_{group}.pkl", spec=spec, progress=_within(progress, step, len(runnable))
            )
            results[group] = {
                **_summary(trained.metrics),
                "num_features": len(group_columns(data.metadata.feature_names, group)),
                "splits_digest": digest,
                "seconds": round(time.perf_counter() - group_started, 3),
            }
            if progress is not None:
                progress(step + 1, len(runnable))
    finally:
        if own:
            shutil.rmtree(work, ignore_errors=True)
    meta = data.metadata
    return {
        "dataset": source.name,
        "labels": data.labels,
        "order": runnable,
        "groups": compare(results),
        "skipped": skipped,
        "sizes": {split: int(len(data.y[split])) for split in SPLITS},
        "splits_digest": reference_digest,
        "dataset_feature_groups": meta.feature_groups,
        "spec": {
            "model_type": spec.model_type,
            "aggregation": spec.aggregation,
            "params": spec.params.as_dict(),
            "seed": spec.seed,
        },
        "seconds": round(time.perf_counter() - started, 3),
    }


def format_table(report: dict) -> str:
    """A plain-text comparison table of a :func:`run_ablation` report."""
    labels = report["labels"]
    header = ["group", "features", "accuracy", "Δacc", "F1 macro", "ΔF1", *[f"F1 {name}" for name in labels]]
    rows = [header]
    for group in report["order"]:
        r = report["groups"][group]
        rows.append(
            [
                group,
                str(r["num_features"]),
                f"{r['accuracy']:.3f}",
                f"{r.get('delta_accuracy', 0.0):+.3f}",
                f"{r['f1_macro']:.3f}",
                f"{r.get('delta_f1_macro', 0.0):+.3f}",
                *[
                    f"{r['per_class_f1'].get(name, 0.0):.3f} ({r.get('delta_per_class_f1', {}).get(name, 0.0):+.3f})"
                    for name in labels
                ],
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    for group, reason in report["skipped"].items():
        lines.append(f"skipped {group}: {reason}")
    return "\n".join(lines)


def dumps(report: dict) -> str:
    return json.dumps(report, indent=2, sort_keys=False)
