"""Windowed dataset → trained model artifact + metrics JSON."""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .aggregation import (
    TABULAR_AGGREGATIONS,
    aggregate,
    aggregated_names,
    make_representation,
    minirocket_features,
)
from .artifacts import save_artifact, sidecar_paths
from .errors import InputError
from .estimators import (
    MODEL_ALIASES,
    SEQUENCE_MODELS,
    ModelParams,
    TorchSequenceClassifier,
    canonical_model_type,
    fit_estimator,
    make_estimator,
)
from .files import sha256_file, write_json
from .windows import SPLITS

ProgressCallback = Callable[[int, int], None]
PROGRESS_STEPS = 1000  # train_model reports progress(done, 1000) through its stages
IMPORTANCE_TOP = 200

# The configuration used when neither a model nor an aggregation is asked for (CLI, API, pages):
# the most accurate one that trains in under a minute on 10,000 windows on the reference machine
# (bench/train_speed.py for the time, bench/accuracy.py for the accuracy).
DEFAULT_MODEL = "ridge"
DEFAULT_AGGREGATION = "minirocket"
# A model asked for without an aggregation keeps the one it always had.
MODEL_DEFAULT_AGGREGATION = {"rf": "stats", "lgbm": "stats", "ridge": "minirocket"}
SEGMENT_IOU_THRESHOLDS = (0.1, 0.25, 0.5)


def resolve_config(model_type: str | None, aggregation: str | None) -> tuple[str, str]:
    """(model, aggregation) for a request where either may be missing (None or empty).

    Neither: DEFAULT_MODEL/DEFAULT_AGGREGATION. A model alone: that model with the aggregation
    it always had (stats for rf and lgbm, sequence for the temporal networks). An aggregation
    alone: lgbm as before, or the default model where that aggregation is the default's.
    Names are returned as given (canonicalised later, where an unknown one is an error).
    """
    model_type = (model_type or "").strip() or None
    aggregation = (aggregation or "").strip() or None
    if model_type is None and aggregation is None:
        return DEFAULT_MODEL, DEFAULT_AGGREGATION
    if model_type is None:
        if aggregation == "sequence":
            return "lstm", aggregation
        return (DEFAULT_MODEL if aggregation == DEFAULT_AGGREGATION else "lgbm"), aggregation
    if aggregation is None:
        canonical = MODEL_ALIASES.get(model_type.lower(), model_type.lower())
        if canonical in SEQUENCE_MODELS:
            return model_type, "sequence"
        return model_type, MODEL_DEFAULT_AGGREGATION.get(canonical, "stats")
    return model_type, aggregation


@dataclass(frozen=True)
class TrainSpec:
    """What to train. ``model_type``/``aggregation`` left out are filled by :func:`resolve_config`."""

    model_type: str | None = None
    aggregation: str | None = None
    params: ModelParams = field(default_factory=ModelParams)
    seed: int = 42

    def __post_init__(self) -> None:
        model_type, aggregation = resolve_config(self.model_type, self.aggregation)
        object.__setattr__(self, "model_type", model_type)
        object.__setattr__(self, "aggregation", aggregation)


@dataclass(frozen=True)
class LoadedDataset:
    path: Path
    X: dict[str, np.ndarray]
    y: dict[str, np.ndarray]
    metadata: dict

    @property
    def labels(self) -> list[str]:
        return [self.metadata["idx_to_label"][str(i)] for i in range(len(self.metadata["idx_to_label"]))]


@dataclass(frozen=True)
class TrainResult:
    model_path: Path
    metrics_path: Path
    meta_path: Path
    sha256: str
    metrics: dict
    seconds: float


def load_dataset(path: str | os.PathLike) -> LoadedDataset:
    path = Path(path)
    meta_file = path / "metadata.json"
    if not meta_file.is_file():
        raise InputError(f"{path} is not a dataset directory (no metadata.json); build one with build_task_dataset")
    try:
        metadata = json.loads(meta_file.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"{meta_file}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    X, y = {}, {}
    for split in SPLITS:
        for prefix, store in (("X", X), ("y", y)):
            file = path / f"{prefix}_{split}.npy"
            if not file.is_file():
                raise InputError(f"{path.name} lacks {file.name}")
            try:
                store[split] = np.load(file, allow_pickle=False, mmap_mode="r")
            except ValueError as exc:
                raise InputError(f"{file.name}: not a numeric array ({exc})") from None
        if len(X[split]) != len(y[split]):
            raise InputError(f"{path.name}: X_{split} has {len(X[split])} rows but y_{split} has {len(y[split])}")
    return LoadedDataset(path=path, X=X, y=y, metadata=metadata)


def evaluate(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str]) -> dict:
    """Accuracy, F1 (macro, weighted), per-class report and confusion matrix, by label name."""
    from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score

    codes = list(range(len(labels)))
    # Macro F1 over the classes that occur (in truth or prediction), as scikit-learn does by
    # default: a class absent from this split would otherwise count as an F1 of 0.
    present = sorted(set(np.unique(y_true).tolist()) | set(np.unique(y_pred).tolist()))
    report = classification_report(y_true, y_pred, labels=codes, target_names=labels, output_dict=True, zero_division=0)
    matrix = confusion_matrix(y_true, y_pred, labels=codes)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "f1_macro": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        "f1_weighted": float(f1_score(y_true, y_pred, labels=present, average="weighted", zero_division=0)),
        "support": len(y_true),
        "per_class": {
            name: {
                "precision": report[name]["precision"],
                "recall": report[name]["recall"],
                "f1": report[name]["f1-score"],
                "support": int(report[name]["support"]),
            }
            for name in labels
        },
        "classification_report": report,
        "confusion_matrix": {"labels": labels, "matrix": matrix.tolist()},
    }


def _importance(estimator, names: list[str]) -> list[dict]:
    values = getattr(estimator, "feature_importances_", None)
    if values is None:
        return []
    values = np.asarray(values, dtype=np.float64)
    if values.sum() > 0:
        values = values / values.sum()
    order = np.argsort(-values, kind="stable")[:IMPORTANCE_TOP]
    return [{"feature": names[i], "importance": float(values[i])} for i in order]


def read_window_index(data: LoadedDataset, split: str) -> list[dict] | None:
    """The rows of ``windows_<split>.csv`` (where each window came from), in X/y order.

    None when the file is missing (datasets from before it existed) or does not line up with
    ``y_<split>`` row for row, label for label: a timeline must never be drawn out of order.
    """
    file = data.path / f"windows_{split}.csv"
    if not file.is_file():
        return None
    with open(file, newline="") as handle:
        rows = list(csv.DictReader(handle))
    labels = data.labels
    y = np.asarray(data.y[split])
    if len(rows) != len(y) or any(row.get("label") != labels[int(c)] for row, c in zip(rows, y, strict=True)):
        return None
    return rows


def predicted_timeline(data: LoadedDataset, estimator, X_test: np.ndarray, y_pred: np.ndarray) -> dict[str, list[dict]]:
    """{video_id: [{start, end, true, pred, confidence}, ...]} over the test windows, in time order.

    ``confidence`` is the estimator's probability for the predicted class (None for an estimator
    without probabilities). Empty when the dataset has no usable window index.
    """
    rows = read_window_index(data, "test")
    if rows is None:
        return {}
    labels = data.labels
    confidence = [None] * len(rows)
    if hasattr(estimator, "predict_proba") and len(rows):
        proba = np.asarray(estimator.predict_proba(X_test), dtype=np.float64)
        column = {int(c): i for i, c in enumerate(getattr(estimator, "classes_", range(proba.shape[1])))}
        confidence = [round(float(proba[i, column[int(p)]]), 4) for i, p in enumerate(y_pred)]
    window_sec = float(data.metadata["window_sec"])
    timeline: dict[str, list[dict]] = {}
    for row, true, pred, conf in zip(rows, np.asarray(data.y["test"]), y_pred, confidence, strict=True):
        start = float(row["start_t"])
        timeline.setdefault(row["video_id"], []).append(
            {
                "start": round(start, 4),
                "end": round(start + window_sec, 4),
                "true": labels[int(true)],
                "pred": labels[int(pred)],
                "confidence": conf,
            }
        )
    for windows in timeline.values():
        windows.sort(key=lambda w: w["start"])
    return timeline


def timeline_summary(timeline: dict[str, list[dict]]) -> dict[str, dict]:
    """{video_id: {windows, accuracy}}: how well each test video was recognised."""
    return {
        video_id: {
            "windows": len(windows),
            "accuracy": sum(w["true"] == w["pred"] for w in windows) / len(windows) if windows else None,
        }
        for video_id, windows in timeline.items()
    }


def _majority(labels: list[str]) -> str:
    values, counts = np.unique(np.asarray(labels, dtype=object).astype(str), return_counts=True)
    return str(values[counts.argmax()])  # ties: the first label in sorted order


def video_level_metrics(timeline: dict[str, list[dict]]) -> dict | None:
    """Majority vote of each test video's predicted windows against its majority true label.

    None when there is no timeline (a dataset without a window index).
    """
    if not timeline:
        return None
    from sklearn.metrics import accuracy_score, f1_score

    per_video = {
        video: {"true": _majority([w["true"] for w in windows]), "pred": _majority([w["pred"] for w in windows])}
        for video, windows in sorted(timeline.items())
        if windows
    }
    true = [v["true"] for v in per_video.values()]
    pred = [v["pred"] for v in per_video.values()]
    return {
        "videos": len(per_video),
        "accuracy": float(accuracy_score(true, pred)),
        "f1_macro": float(f1_score(true, pred, average="macro", zero_division=0)),
        "per_video": per_video,
    }


def label_segments(windows: list[dict], key: str, step_sec: float) -> list[tuple[str, float, float]]:
    """Consecutive windows with the same ``key`` label merged into (label, start, end) segments.

    Window i stands for its own hop, [start_i, start_i + step): the hops of consecutive windows
    tile the timeline. A hole (windows dropped in between: more than 1.5 steps) ends a segment.
    """
    segments: list[list] = []
    for w in windows:
        start, label = float(w["start"]), w[key]
        last = segments[-1] if segments else None
        if last is not None and last[0] == label and start - (last[2] - step_sec) <= 1.5 * step_sec + 1e-9:
            last[2] = start + step_sec
        else:
            segments.append([label, start, start + step_sec])
    return [tuple(seg) for seg in segments]


def segment_f1(true: list[tuple], pred: list[tuple], threshold: float) -> tuple[int, int, int]:
    """(TP, FP, FN) of predicted segments against true ones at IoU >= threshold (F1@k as in
    action segmentation: each true segment matches at most one prediction of the same label)."""
    matched = [False] * len(true)
    tp = fp = 0
    for label, start, end in pred:
        best, best_iou = None, 0.0
        for i, (t_label, t_start, t_end) in enumerate(true):
            if t_label != label or matched[i]:
                continue
            inter = max(0.0, min(end, t_end) - max(start, t_start))
            union = max(end, t_end) - min(start, t_start)
            iou = inter / union if union > 0 else 0.0
            if iou > best_iou:
                best, best_iou = i, iou
        if best is not None and best_iou >= threshold:
            matched[best] = True
            tp += 1
        else:
            fp += 1
    return tp, fp, len(true) - sum(matched)


def edit_score(true: list[str], pred: list[str]) -> float:
    """1 − normalised Levenshtein distance between two label sequences (1 = same order of segments)."""
    if not true and not pred:
        return 1.0
    previous = list(range(len(pred) + 1))
    for i, a in enumerate(true, start=1):
        current = [i] + [0] * len(pred)
        for j, b in enumerate(pred, start=1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a != b))
        previous = current
    return 1.0 - previous[-1] / max(len(true), len(pred))


def segment_metrics(timeline: dict[str, list[dict]], step_sec: float) -> dict | None:
    """Segmental F1@10/25/50 (summed over the test videos) and the mean edit score.

    Consecutive windows with the same label become one segment, for truth and prediction
    separately (see :func:`label_segments`). None without a timeline.
    """
    if not timeline:
        return None
    counts = {th: [0, 0, 0] for th in SEGMENT_IOU_THRESHOLDS}
    edits, per_video = [], {}
    for video, windows in sorted(timeline.items()):
        true = label_segments(windows, "true", step_sec)
        pred = label_segments(windows, "pred", step_sec)
        for th in SEGMENT_IOU_THRESHOLDS:
            for i, value in enumerate(segment_f1(true, pred, th)):
                counts[th][i] += value
        edit = edit_score([s[0] for s in true], [s[0] for s in pred])
        edits.append(edit)
        per_video[video] = {"true_segments": len(true), "pred_segments": len(pred), "edit": round(edit, 4)}
    out: dict = {}
    for th, (tp, fp, fn) in counts.items():
        out[f"f1@{round(th * 100)}"] = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0
    tp, fp, fn = counts[0.5]
    out.update({"tp@50": tp, "fp@50": fp, "fn@50": fn, "edit": float(np.mean(edits)), "per_video": per_video})
    return out


def headline_metrics(
    test: dict, labels: list[str], *, model_type: str, aggregation: str, params: ModelParams, seed: int, train_size: int
) -> dict:
    """The keys every metrics file starts with: the test figures at top level, where existing
    clients read them, and the configuration that produced them."""
    return {
        "accuracy": test["accuracy"],
        "f1_macro": test["f1_macro"],
        "f1_weighted": test["f1_weighted"],
        "classification_report": test["classification_report"],
        "confusion_matrix": test["confusion_matrix"]["matrix"],
        "labels": labels,
        "model_type": model_type,
        "aggregation": aggregation,
        "params": params.as_dict(),
        "seed": seed,
        "train_size": train_size,
    }


def train_model(
    dataset: str | os.PathLike,
    output: str | os.PathLike,
    *,
    spec: TrainSpec | None = None,
    progress: ProgressCallback | None = None,
) -> TrainResult:
    started = time.perf_counter()
    spec = spec or TrainSpec()
    model_type = canonical_model_type(spec.model_type)
    aggregation = "sequence" if model_type in SEQUENCE_MODELS else spec.aggregation
    if aggregation not in TABULAR_AGGREGATIONS and model_type not in SEQUENCE_MODELS:
        raise InputError(
            f"aggregation {spec.aggregation!r} unknown for {model_type}; use {', '.join(TABULAR_AGGREGATIONS)}"
        )
    output = Path(output)
    metrics_path, meta_path = sidecar_paths(output)
    data = load_dataset(dataset)
    labels = data.labels
    if len(data.y["train"]) == 0:
        raise InputError(f"{data.path.name} has no training windows")
    if len(np.unique(data.y["train"])) < 2:
        raise InputError(f"{data.path.name}: the train split holds one class; need at least two")
    eval_split = "test" if len(data.y["test"]) else None
    if eval_split is None:
        raise InputError(f"{data.path.name} has no test windows to evaluate on; rebuild with a test ratio above 0")

    def part(lo: float, hi: float) -> ProgressCallback | None:
        """Progress of one stage (representation, fit, evaluation) as a share of the whole."""
        if progress is None:
            return None

        def report(done: int, total: int) -> None:
            share = min(max(done / total, 0.0), 1.0) if total else 1.0
            progress(round(PROGRESS_STEPS * (lo + (hi - lo) * share)), PROGRESS_STEPS)

        return report

    # A fitted representation (minirocket) sees the train split only; it travels in the bundle.
    representation = make_representation(
        aggregation,
        seed=spec.seed,
        num_features=minirocket_features(len(data.y["train"]), spec.params.rocket_features),
    )
    if progress is not None:
        progress(0, PROGRESS_STEPS)  # may raise: a job cancelled while it waited stops here
    if representation is not None:
        representation.fit(np.asarray(data.X["train"]), progress=part(0.0, 0.05))
        features = {
            split: representation.transform(
                np.asarray(data.X[split]), progress=part(0.05 + 0.25 * i / 3, 0.05 + 0.25 * (i + 1) / 3)
            )
            for i, split in enumerate(SPLITS)
        }
    else:
        features = {split: aggregate(np.asarray(data.X[split]), aggregation) for split in SPLITS}
    names = aggregated_names(
        data.metadata["feature_names"], aggregation, data.metadata.get("window_frames", 0), representation
    )
    estimator = make_estimator(model_type, spec.params, spec.seed)
    fit_estimator(
        estimator,
        features["train"],
        data.y["train"],
        X_val=features["val"],
        y_val=data.y["val"],
        progress=part(0.3, 0.9),
    )
    report = part(0.9, 1.0) or (lambda done, total: None)

    results, predictions = {}, {}
    for split in ("val", "test"):
        if len(data.y[split]):
            predictions[split] = estimator.predict(features[split])
            results[split] = evaluate(data.y[split], predictions[split], labels)
    test = results["test"]
    timeline = predicted_timeline(data, estimator, features["test"], predictions["test"])
    metrics = {
        **headline_metrics(
            test,
            labels,
            model_type=model_type,
            aggregation=aggregation,
            params=spec.params,
            seed=spec.seed,
            train_size=len(data.y["train"]),
        ),
        "val": results.get("val"),
        "test": test,
        "feature_importance": _importance(estimator, names),
        "dataset": str(data.path),
        "test_timeline": timeline,
        "test_videos": timeline_summary(timeline),
        "video_level": video_level_metrics(timeline),
        "segment": segment_metrics(timeline, float(data.metadata["step_sec"])),
        "training_seconds": round(time.perf_counter() - started, 3),
    }
    if isinstance(estimator, TorchSequenceClassifier):
        metrics["epochs_run"] = estimator.n_epochs_
        metrics["best_epoch"] = estimator.best_epoch_
        metrics["stopped_early"] = estimator.stopped_early_
        metrics["history"] = estimator.history_

    dataset_meta = data.metadata
    bundle = {
        "estimator": estimator,
        "model_type": model_type,
        "aggregation": aggregation,
        "representation": representation,  # the fitted transform (None: aggregate(x, aggregation))
        "feature_names": dataset_meta["feature_names"],
        "feature_groups": dataset_meta.get("feature_groups"),
        "window": {
            "window_sec": dataset_meta["window_sec"],
            "step_sec": dataset_meta["step_sec"],
            "fps": dataset_meta["fps"],
            "frames": dataset_meta.get("window_frames"),
            "min_purity": dataset_meta.get("min_purity"),
        },
        "scaler_mean": dataset_meta["scaler_mean"],
        "scaler_scale": dataset_meta["scaler_scale"],
        "label_to_idx": dataset_meta["label_to_idx"],
        "idx_to_label": dataset_meta["idx_to_label"],
        "params": spec.params.as_dict(),
        "seed": spec.seed,
        "dataset": {"path": str(data.path), "metadata_sha256": sha256_file(data.path / "metadata.json")},
        "metrics": {"accuracy": test["accuracy"], "f1_macro": test["f1_macro"]},
    }
    report(1, 1)  # the last chance to stop: nothing is written yet
    digest, _ = save_artifact(bundle, output)
    metrics["model_sha256"] = digest
    write_json(metrics_path, metrics)
    return TrainResult(
        model_path=output,
        metrics_path=metrics_path,
        meta_path=meta_path,
        sha256=digest,
        metrics=metrics,
        seconds=time.perf_counter() - started,
    )
