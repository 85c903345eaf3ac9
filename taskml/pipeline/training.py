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
# One definition of macro F1 for every figure that carries the name (top level, val/test blocks,
# classification_report's "macro avg", cross-validation folds, ablations).
F1_MACRO_DEFINITION = (
    "unweighted mean of the per-class F1 over the classes that occur in the evaluated split's true labels "
    "or predictions; classes with neither are listed in classes_absent and not scored"
)
# Below this many test windows in a class, per-class figures move by whole tenths with one window.
MIN_WINDOWS_PER_CLASS = 10
MAX_CV_FOLDS = 20


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
    cv_folds: int = 0  # K > 1: K group-aware folds evaluated before the final fit

    def __post_init__(self) -> None:
        if self.cv_folds and not 2 <= self.cv_folds <= MAX_CV_FOLDS:
            raise InputError(f"cv must be between 2 and {MAX_CV_FOLDS} folds (or 0 for none), got {self.cv_folds}")
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
    """Accuracy, F1 (macro, weighted), per-class report and confusion matrix, by label name.

    Macro and weighted F1 follow F1_MACRO_DEFINITION: averaged over the classes that occur in
    the true labels or the predictions. ``classification_report`` is computed over the same
    classes, so its "macro avg" is ``f1_macro``. A class absent from this split's truth is listed
    in ``classes_absent``; in ``per_class`` its f1/precision/recall are null when it was not
    predicted either (not 0, which would read as a failure).
    """
    from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score

    codes = list(range(len(labels)))
    truth = set(np.unique(y_true).tolist())
    scored = sorted(truth | set(np.unique(y_pred).tolist()))
    report = classification_report(
        y_true, y_pred, labels=scored, target_names=[labels[c] for c in scored], output_dict=True, zero_division=0
    )
    matrix = confusion_matrix(y_true, y_pred, labels=codes)
    per_class = {}
    for code, name in enumerate(labels):
        if code in scored:
            row = report[name]
            per_class[name] = {
                "precision": row["precision"],
                "recall": row["recall"],
                "f1": row["f1-score"],
                "support": int(row["support"]),
            }
        else:
            per_class[name] = {"precision": None, "recall": None, "f1": None, "support": 0}
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "f1_macro": float(f1_score(y_true, y_pred, labels=scored, average="macro", zero_division=0)),
        "f1_weighted": float(f1_score(y_true, y_pred, labels=scored, average="weighted", zero_division=0)),
        "support": len(y_true),
        "classes_scored": [labels[c] for c in scored],
        "classes_absent": [labels[c] for c in codes if c not in truth],
        "per_class": per_class,
        "classification_report": report,
        "confusion_matrix": {"labels": labels, "matrix": matrix.tolist()},
    }


def evaluation_warnings(y_test: np.ndarray, labels: list[str]) -> list[str]:
    """Why the test figures may mean little: one class in the test split, or too few windows per class."""
    warnings = []
    codes, counts = np.unique(np.asarray(y_test), return_counts=True)
    absent = [labels[c] for c in range(len(labels)) if c not in set(codes.tolist())]
    if len(codes) < 2:
        only = labels[int(codes[0])] if len(codes) else "none"
        warnings.append(
            f"the test split holds one class ({only}): accuracy and F1 only say how often that class was "
            "recognised, not whether the model tells the tasks apart"
        )
    elif absent:
        warnings.append(f"the test split lacks {', '.join(absent)}: those classes are not evaluated")
    few = [f"{labels[int(c)]} ({int(n)})" for c, n in zip(codes, counts, strict=True) if n < MIN_WINDOWS_PER_CLASS]
    if few:
        warnings.append(
            f"fewer than {MIN_WINDOWS_PER_CLASS} test windows for {', '.join(few)}: one window more or less "
            "moves that class's figures by a tenth or more; add videos or cross-validate (--cv, API cv)"
        )
    return warnings


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


def window_groups(data: LoadedDataset) -> tuple[np.ndarray, str]:
    """A group per window of all splits (train, val, test order) for group-aware folds, and its kind.

    Datasets split by time blocks group windows by the block run they came from (runs of
    different splits are a window apart, so no fold shares a moment with another); others by
    video. Without a window index, each split of the dataset is one group.
    """
    blocks = (data.metadata.get("split_method") or {}).get("blocks") or {}
    out: list[str] = []
    kind = "time_block" if blocks or data.metadata.get("split_strategy") == "temporal_blocks" else "video"
    for split in SPLITS:
        rows = read_window_index(data, split)
        if rows is None:
            out += [f"split:{split}"] * len(data.y[split])
            kind = "split"
            continue
        for row in rows:
            video = row["video_id"]
            if kind == "video":
                out.append(video)
                continue
            start = float(row["start_t"])
            runs = blocks.get(video) or []
            index = next((i for i, b in enumerate(runs) if b["start"] - 1e-3 <= start < b["end"]), None)
            out.append(f"{video}#{index}" if index is not None else f"{video}:{split}")
    return np.asarray(out, dtype=object), kind


def cross_validate(
    data: LoadedDataset,
    spec: TrainSpec,
    model_type: str,
    aggregation: str,
    *,
    progress: ProgressCallback | None = None,
) -> dict:
    """Mean ± std of the test metrics over ``spec.cv_folds`` group-aware folds of every window.

    Folds are scikit-learn's StratifiedGroupKFold (seeded) over all windows of the dataset,
    grouped by video or time block (see :func:`window_groups`), so a fold never tests on a video
    or block it trained on. Each fold fits its own representation and estimator; the windows
    keep the dataset's scaling (fitted on its train split). Sequence models train for their
    maximum epochs (no val split inside a fold). ``progress(done, total)`` is called between
    units of work of every fold (it may raise: a cancel stops the folds too).
    """
    from sklearn.model_selection import StratifiedGroupKFold

    k = spec.cv_folds
    labels = data.labels
    groups, kind = window_groups(data)
    n_groups = len(set(groups.tolist()))
    if n_groups < k:
        unit = {"video": "videos", "time_block": "time blocks", "split": "splits"}[kind]
        raise InputError(
            f"cv {k} needs at least {k} groups but this dataset has {n_groups} {unit}; "
            f"use cv ≤ {n_groups} or add videos"
        )
    X = np.concatenate([np.asarray(data.X[split]) for split in SPLITS])
    y = np.concatenate([np.asarray(data.y[split]) for split in SPLITS])
    folds = []

    def fold_progress(number: int) -> ProgressCallback | None:
        if progress is None:
            return None

        def report(done: int, total: int) -> None:
            share = min(max(done / total, 0.0), 1.0) if total else 1.0
            progress(round(PROGRESS_STEPS * (number + share) / k), PROGRESS_STEPS)

        return report

    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=spec.seed)
    for number, (train_rows, test_rows) in enumerate(splitter.split(X, y, groups)):
        fold = {
            "fold": number,
            "train_windows": len(train_rows),
            "test_windows": len(test_rows),
            "test_groups": sorted(set(groups[test_rows].tolist())),
        }
        if len(np.unique(y[train_rows])) < 2:
            fold["skipped"] = "its train part holds one class"
            folds.append(fold)
            continue
        representation = make_representation(
            aggregation,
            seed=spec.seed,
            num_features=minirocket_features(len(train_rows), spec.params.rocket_features),
        )
        if representation is not None:
            representation.fit(X[train_rows])
            f_train, f_test = representation.transform(X[train_rows]), representation.transform(X[test_rows])
        else:
            f_train, f_test = aggregate(X[train_rows], aggregation), aggregate(X[test_rows], aggregation)
        estimator = make_estimator(model_type, spec.params, spec.seed)
        fit_estimator(estimator, f_train, y[train_rows], progress=fold_progress(number))
        result = evaluate(y[test_rows], estimator.predict(f_test), labels)
        fold.update(
            {
                "accuracy": result["accuracy"],
                "f1_macro": result["f1_macro"],
                "f1_weighted": result["f1_weighted"],
                "classes_absent": result["classes_absent"],
            }
        )
        folds.append(fold)
    scored = [f for f in folds if "skipped" not in f]
    summary = {
        "k": k,
        "grouped_by": kind,
        "groups": n_groups,
        "folds_scored": len(scored),
        "folds": folds,
        "note": "StratifiedGroupKFold over all windows (train, val and test), grouped by "
        + {"video": "video", "time_block": "time block", "split": "dataset split"}[kind]
        + "; the final model is then trained on the train split as without cv",
    }
    for metric in ("accuracy", "f1_macro", "f1_weighted"):
        values = np.array([f[metric] for f in scored], np.float64)
        summary[metric] = (
            {"mean": float(values.mean()), "std": float(values.std()), "min": float(values.min())}
            if len(values)
            else None
        )
    return summary


def headline_metrics(
    test: dict, labels: list[str], *, model_type: str, aggregation: str, params: ModelParams, seed: int, train_size: int
) -> dict:
    """The keys every metrics file starts with: the test figures at top level, where existing
    clients read them, and the configuration that produced them."""
    return {
        "accuracy": test["accuracy"],
        "f1_macro": test["f1_macro"],
        "f1_weighted": test["f1_weighted"],
        "f1_macro_definition": F1_MACRO_DEFINITION,
        "classes_absent_from_test": test.get("classes_absent", []),
        "classification_report": test["classification_report"],
        "confusion_matrix": test["confusion_matrix"]["matrix"],
        "labels": labels,
        "model_type": model_type,
        "aggregation": aggregation,
        "params": params.as_dict(),
        "params_used": params.used_by(model_type, aggregation),
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

    # With cross-validation, its folds fill the first k/(k+1) of the progress bar, the final fit the rest.
    cv_share = spec.cv_folds / (spec.cv_folds + 1) if spec.cv_folds else 0.0

    def part(lo: float, hi: float) -> ProgressCallback | None:
        """Progress of one stage (cv folds, representation, fit, evaluation) as a share of the whole."""
        if progress is None:
            return None

        def report(done: int, total: int) -> None:
            share = min(max(done / total, 0.0), 1.0) if total else 1.0
            progress(round(PROGRESS_STEPS * (lo + (hi - lo) * share)), PROGRESS_STEPS)

        return report

    def final(lo: float, hi: float) -> ProgressCallback | None:
        """``part`` within the final fit's share of the bar."""
        return part(cv_share + (1 - cv_share) * lo, cv_share + (1 - cv_share) * hi)

    cv = None
    if spec.cv_folds:
        if progress is not None:
            progress(0, PROGRESS_STEPS)  # may raise: a job cancelled while it waited stops here
        cv = cross_validate(data, spec, model_type, aggregation, progress=part(0.0, cv_share))

    # A fitted representation (minirocket) sees the train split only; it travels in the bundle.
    representation = make_representation(
        aggregation,
        seed=spec.seed,
        num_features=minirocket_features(len(data.y["train"]), spec.params.rocket_features),
    )
    if progress is not None:
        progress(round(PROGRESS_STEPS * cv_share), PROGRESS_STEPS)  # may raise: a cancelled job stops here
    if representation is not None:
        representation.fit(np.asarray(data.X["train"]), progress=final(0.0, 0.05))
        features = {
            split: representation.transform(
                np.asarray(data.X[split]), progress=final(0.05 + 0.25 * i / 3, 0.05 + 0.25 * (i + 1) / 3)
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
        progress=final(0.3, 0.9),
    )
    report = final(0.9, 1.0) or (lambda done, total: None)

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
        "warnings": evaluation_warnings(data.y["test"], labels),
        "cv": cv,
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
