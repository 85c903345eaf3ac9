"""Windowed dataset → trained model artifact + metrics JSON.

:func:`train_model` runs in named steps: load and check the dataset, cross-validate (when
asked), fit the window representation, fit the estimator, evaluate (window, video and segment
level), then write the artifact (a :class:`~taskml.pipeline.contracts.ModelBundle`) and its
metrics (:class:`~taskml.pipeline.contracts.TrainingMetrics`).
"""

from __future__ import annotations

import csv
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
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
from .contracts import DatasetMetadata, Evaluation, ModelBundle, TrainingMetrics, read_dataset_metadata
from .errors import InputError
from .estimators import (
    MODEL_ALIASES,
    SEQUENCE_MODELS,
    ModelParams,
    canonical_model_type,
    fit_estimator,
    make_estimator,
)
from .files import sha256_file, write_json
from .params import SEED, Param
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
CV_FOLDS = Param(
    "cv", 0, 0, MAX_CV_FOLDS, int,
    "K > 1: before the final fit, mean ± std of the test metrics over K group-aware folds (whole videos, "
    "or the dataset's time blocks); 0 = none",
)  # fmt: skip


def cv_folds_check(value) -> int:
    """The cv rule, in one place: 0 (none) or 2 to MAX_CV_FOLDS folds (one fold holds nothing out)."""
    folds = CV_FOLDS.check(value)  # a whole number, or InputError naming cv
    if folds == 1:
        raise InputError(f"cv must be between 2 and {MAX_CV_FOLDS} folds (or 0 for none), got 1", param="cv")
    return folds


def resolve_config(model_type: str | None, aggregation: str | None) -> tuple[str, str]:
    """(model, aggregation) for a request where either may be missing (None or empty).

    Neither: DEFAULT_MODEL/DEFAULT_AGGREGATION. A model alone: that model with the aggregation
    it always had (stats for rf and lgbm, sequence for the temporal networks). An aggregation
    alone: lgbm as before, or the default model where that aggregation is the default's.

    Parameters
    ----------
    model_type, aggregation : str or None

    Returns
    -------
    model_type, aggregation : str
        As given where given (canonicalised later, where an unknown one is an error).
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
        object.__setattr__(self, "cv_folds", cv_folds_check(self.cv_folds))
        object.__setattr__(self, "seed", SEED.check(self.seed))
        model_type, aggregation = resolve_config(self.model_type, self.aggregation)
        object.__setattr__(self, "model_type", model_type)
        object.__setattr__(self, "aggregation", aggregation)


@dataclass(frozen=True)
class LoadedDataset:
    """A built dataset opened for training: its arrays (memory-mapped) and its metadata.json."""

    path: Path
    X: dict[str, np.ndarray]
    y: dict[str, np.ndarray]
    metadata: DatasetMetadata

    @property
    def labels(self) -> list[str]:
        return self.metadata.labels


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train_model` wrote: the artifact, its sidecars, checksum and metrics."""

    model_path: Path
    metrics_path: Path
    meta_path: Path
    sha256: str
    metrics: TrainingMetrics
    seconds: float


def load_dataset(path: str | os.PathLike) -> LoadedDataset:
    """Open a built dataset: its metadata and each split's X/y arrays (memory-mapped, not read).

    Parameters
    ----------
    path : path-like
        The dataset directory (``metadata.json``, ``X_<split>.npy``, ``y_<split>.npy``).

    Returns
    -------
    LoadedDataset

    Raises
    ------
    InputError
        A file missing or unreadable, or X and y of a split with different row counts.
    """
    path = Path(path)
    metadata = read_dataset_metadata(path)
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


def evaluate(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str]) -> Evaluation:
    """Accuracy, F1 (macro, weighted), per-class report and confusion matrix, by label name.

    Macro and weighted F1 follow F1_MACRO_DEFINITION: averaged over the classes that occur in
    the true labels or the predictions. ``classification_report`` is computed over the same
    classes, so its "macro avg" is ``f1_macro``. A class absent from this split's truth is listed
    in ``classes_absent``; in ``per_class`` its f1/precision/recall are null when it was not
    predicted either (not 0, which would read as a failure).

    Parameters
    ----------
    y_true, y_pred : array of int, shape (n,)
        Class codes (indexes into ``labels``).
    labels : list of str
        Class names in code order.

    Returns
    -------
    Evaluation
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
    return Evaluation(
        accuracy=float(accuracy_score(y_true, y_pred)),
        f1_macro=float(f1_score(y_true, y_pred, labels=scored, average="macro", zero_division=0)),
        f1_weighted=float(f1_score(y_true, y_pred, labels=scored, average="weighted", zero_division=0)),
        support=len(y_true),
        classes_scored=[labels[c] for c in scored],
        classes_absent=[labels[c] for c in codes if c not in truth],
        per_class=per_class,
        classification_report=report,
        confusion_matrix={"labels": labels, "matrix": matrix.tolist()},
    )


def evaluation_warnings(y_test: np.ndarray, labels: list[str]) -> list[str]:
    """Why the test figures may mean little: one class in the test split, classes absent, or too
    few windows per class.

    Parameters
    ----------
    y_test : array of int
    labels : list of str

    Returns
    -------
    list of str
        Sentences for people (empty when the split is healthy).
    """
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
    """The test windows' truth and prediction per video, in time order.

    Parameters
    ----------
    data : LoadedDataset
    estimator
        The fitted estimator.
    X_test : array
        The estimator's input for the test split.
    y_pred : array of int
        Its predictions.

    Returns
    -------
    dict of str to list of dict
        {video_id: [{start, end, true, pred, confidence}, ...]}; ``confidence`` is the probability
        of the predicted class (None for an estimator without probabilities). Empty when the
        dataset has no usable window index.
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
    window_sec = float(data.metadata.window_sec)
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

    Parameters
    ----------
    timeline : dict
        :func:`predicted_timeline`'s.

    Returns
    -------
    dict or None
        ``videos``, ``accuracy``, ``f1_macro`` and ``per_video`` {video: {true, pred}}; None when
        there is no timeline (a dataset without a window index).
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
    separately (see :func:`label_segments`).

    Parameters
    ----------
    timeline : dict
        :func:`predicted_timeline`'s.
    step_sec : float
        The dataset's hop: each window stands for its own hop.

    Returns
    -------
    dict or None
        ``f1@10``, ``f1@25``, ``f1@50``, ``tp@50``/``fp@50``/``fn@50``, ``edit`` and
        ``per_video``; None without a timeline.
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

    Parameters
    ----------
    data : LoadedDataset

    Returns
    -------
    groups : array of object
        One group name per window.
    kind : {"video", "time_block", "split"}
    """
    blocks = (data.metadata.split_method or {}).get("blocks") or {}
    out: list[str] = []
    kind = "time_block" if blocks or data.metadata.split_strategy == "temporal_blocks" else "video"
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
    maximum epochs (no val split inside a fold).

    Parameters
    ----------
    data : LoadedDataset
    spec : TrainSpec
        ``cv_folds`` (K), the seed and the model parameters.
    model_type, aggregation : str
        Canonical names (as :func:`train_model` resolves them).
    progress : callable, optional
        ``progress(done, total)`` between units of work of every fold; it may raise (a cancel
        stops the folds too).

    Returns
    -------
    dict
        ``k``, ``grouped_by``, ``groups``, ``folds_scored``, ``folds`` (each fold's sizes, test
        groups and figures, or why it was skipped), ``note``, and ``accuracy``/``f1_macro``/
        ``f1_weighted`` as ``{mean, std, min}`` over the scored folds (None when none was).

    Raises
    ------
    InputError
        Fewer groups than folds.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    k = spec.cv_folds
    groups, kind = window_groups(data)
    n_groups = _check_cv_groups(groups, kind, k)
    X = np.concatenate([np.asarray(data.X[split]) for split in SPLITS])
    y = np.concatenate([np.asarray(data.y[split]) for split in SPLITS])
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=spec.seed)
    folds = [
        _cv_fold(
            number,
            (X[train_rows], y[train_rows]),
            (X[test_rows], y[test_rows]),
            test_groups=sorted(set(groups[test_rows].tolist())),
            labels=data.labels,
            spec=spec,
            model_type=model_type,
            aggregation=aggregation,
            progress=_fold_progress(progress, number, k),
        )
        for number, (train_rows, test_rows) in enumerate(splitter.split(X, y, groups))
    ]
    return _cv_summary(folds, k=k, kind=kind, n_groups=n_groups)


_GROUP_UNITS = {"video": "videos", "time_block": "time blocks", "split": "splits"}
_GROUP_NAMES = {"video": "video", "time_block": "time block", "split": "dataset split"}


def _check_cv_groups(groups: np.ndarray, kind: str, k: int) -> int:
    """The number of groups, refused (InputError) when there are fewer than ``k`` folds."""
    n_groups = len(set(groups.tolist()))
    if n_groups < k:
        raise InputError(
            f"cv {k} needs at least {k} groups but this dataset has {n_groups} {_GROUP_UNITS[kind]}; "
            f"use cv ≤ {n_groups} or add videos"
        )
    return n_groups


def _fold_progress(progress: ProgressCallback | None, number: int, k: int) -> ProgressCallback | None:
    """Fold ``number``'s progress as its 1/k share of the cross-validation's."""
    if progress is None:
        return None

    def report(done: int, total: int) -> None:
        share = min(max(done / total, 0.0), 1.0) if total else 1.0
        progress(round(PROGRESS_STEPS * (number + share) / k), PROGRESS_STEPS)

    return report


def _cv_fold(
    number: int,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    *,
    test_groups: list[str],
    labels: list[str],
    spec: TrainSpec,
    model_type: str,
    aggregation: str,
    progress: ProgressCallback | None,
) -> dict:
    """One fold: fit a representation and an estimator on its train rows, score its test rows."""
    (X_train, y_train), (X_test, y_test) = train, test
    fold = {"fold": number, "train_windows": len(y_train), "test_windows": len(y_test), "test_groups": test_groups}
    if len(np.unique(y_train)) < 2:
        fold["skipped"] = "its train part holds one class"
        return fold
    representation = make_representation(
        aggregation,
        seed=spec.seed,
        num_features=minirocket_features(len(y_train), spec.params.rocket_features),
    )
    if representation is not None:
        representation.fit(X_train)
        f_train, f_test = representation.transform(X_train), representation.transform(X_test)
    else:
        f_train, f_test = aggregate(X_train, aggregation), aggregate(X_test, aggregation)
    estimator = make_estimator(model_type, spec.params, spec.seed)
    fit_estimator(estimator, f_train, y_train, progress=progress)
    result = evaluate(y_test, estimator.predict(f_test), labels)
    fold.update(
        {
            "accuracy": result.accuracy,
            "f1_macro": result.f1_macro,
            "f1_weighted": result.f1_weighted,
            "classes_absent": result.classes_absent,
        }
    )
    return fold


def _cv_summary(folds: list[dict], *, k: int, kind: str, n_groups: int) -> dict:
    """The folds with the mean, std and min of each figure over the scored ones."""
    scored = [f for f in folds if "skipped" not in f]
    summary = {
        "k": k,
        "grouped_by": kind,
        "groups": n_groups,
        "folds_scored": len(scored),
        "folds": folds,
        "note": "StratifiedGroupKFold over all windows (train, val and test), grouped by "
        + _GROUP_NAMES[kind]
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
    test: Evaluation,
    labels: list[str],
    *,
    model_type: str,
    aggregation: str,
    params: ModelParams,
    seed: int,
    train_size: int,
) -> dict:
    """The fields every metrics file starts with, as keyword arguments of :class:`TrainingMetrics`:
    the test figures at top level, where existing clients read them, and the configuration that
    produced them."""
    return {
        "accuracy": test.accuracy,
        "f1_macro": test.f1_macro,
        "f1_weighted": test.f1_weighted,
        "f1_macro_definition": F1_MACRO_DEFINITION,
        "classes_absent_from_test": test.classes_absent or [],
        "classification_report": test.classification_report,
        "confusion_matrix": test.confusion_matrix["matrix"],
        "labels": labels,
        "model_type": model_type,
        "aggregation": aggregation,
        "params": params.as_dict(),
        "params_used": params.used_by(model_type, aggregation),
        "seed": seed,
        "train_size": train_size,
    }


class _Stages:
    """:func:`train_model`'s progress bar, ``progress(done, PROGRESS_STEPS)`` through its stages.

    With cross-validation its folds fill the first k/(k+1) of the bar, the final fit the rest;
    within the final fit: representation 0–30 %, estimator 30–90 %, evaluation and writing the rest.
    """

    def __init__(self, progress: ProgressCallback | None, cv_folds: int) -> None:
        self.progress = progress
        self.cv_share = cv_folds / (cv_folds + 1) if cv_folds else 0.0

    def checkpoint(self, at: float = 0.0) -> None:
        """Report ``at`` of the bar, where it already is (it may raise: a job cancelled while it
        waited stops here)."""
        if self.progress is not None:
            self.progress(round(PROGRESS_STEPS * at), PROGRESS_STEPS)

    def part(self, lo: float, hi: float) -> ProgressCallback | None:
        """Progress of one stage (cv folds, representation, fit, evaluation) as a share of the whole."""
        progress = self.progress
        if progress is None:
            return None

        def report(done: int, total: int) -> None:
            share = min(max(done / total, 0.0), 1.0) if total else 1.0
            progress(round(PROGRESS_STEPS * (lo + (hi - lo) * share)), PROGRESS_STEPS)

        return report

    def final(self, lo: float, hi: float) -> ProgressCallback | None:
        """``part`` within the final fit's share of the bar."""
        return self.part(self.cv_share + (1 - self.cv_share) * lo, self.cv_share + (1 - self.cv_share) * hi)


def train_model(
    dataset: str | os.PathLike,
    output: str | os.PathLike,
    *,
    spec: TrainSpec | None = None,
    progress: ProgressCallback | None = None,
) -> TrainResult:
    """Train one model on a built dataset; write its artifact, metadata and metrics.

    The steps, each a function of its own: check the dataset (:func:`_check_trainable`),
    cross-validate when ``spec.cv_folds`` asks (:func:`cross_validate`), fit the window
    representation on the train split and transform every split (:func:`_represent`), fit the
    estimator (early stopping on val for the networks), evaluate on val and test at window,
    video and segment level (:func:`_measure`), then write the artifact and the metrics JSON
    (:func:`_write`). The same dataset, spec and seed give the same files, bit for bit.

    Parameters
    ----------
    dataset : path-like
        A dataset directory written by ``build_dataset``.
    output : path-like
        The model file (``.pkl``); ``<stem>_metrics.json`` and ``<stem>_meta.json`` go beside it.
    spec : TrainSpec, optional
        Model type, aggregation, parameters, seed and cross-validation folds (default: the
        default configuration, ``DEFAULT_MODEL``/``DEFAULT_AGGREGATION``).
    progress : callable, optional
        ``progress(done, 1000)`` through the stages; it may raise (a cancel, a time limit) to
        stop training, and nothing is written until the last call.

    Returns
    -------
    TrainResult
        Paths, the artifact's sha256, the :class:`TrainingMetrics` as written, and the seconds taken.

    Raises
    ------
    InputError
        An unknown model type or aggregation, an unreadable dataset, a train split without two
        classes, no test windows, or too few groups for ``cv_folds``.
    """
    started = time.perf_counter()
    spec = spec or TrainSpec()
    model_type, aggregation = _model_and_aggregation(spec)
    data = load_dataset(dataset)
    _check_trainable(data)
    stages = _Stages(progress, spec.cv_folds)
    cv = None
    if spec.cv_folds:
        stages.checkpoint()
        cv = cross_validate(data, spec, model_type, aggregation, progress=stages.part(0.0, stages.cv_share))
    stages.checkpoint(stages.cv_share)
    representation, features = _represent(data, aggregation, spec, stages)
    estimator = make_estimator(model_type, spec.params, spec.seed)
    fit_estimator(
        estimator,
        features["train"],
        data.y["train"],
        X_val=features["val"],
        y_val=data.y["val"],
        progress=stages.final(0.3, 0.9),
    )
    names = aggregated_names(data.metadata.feature_names, aggregation, data.metadata.window_frames or 0, representation)
    metrics = _measure(
        data, estimator, features, names, model_type=model_type, aggregation=aggregation, spec=spec, cv=cv
    )
    metrics = replace(metrics, training_seconds=round(time.perf_counter() - started, 3))
    bundle = _bundle(
        data, estimator, representation, model_type=model_type, aggregation=aggregation, spec=spec, test=metrics.test
    )
    last = stages.final(0.9, 1.0)
    if last is not None:
        last(1, 1)  # the last chance to stop: nothing is written yet
    return _write(bundle, metrics, Path(output), started)


def _model_and_aggregation(spec: TrainSpec) -> tuple[str, str]:
    """The canonical model type and the aggregation it trains with (``sequence`` for the networks)."""
    model_type = canonical_model_type(spec.model_type)
    aggregation = "sequence" if model_type in SEQUENCE_MODELS else spec.aggregation
    if aggregation not in TABULAR_AGGREGATIONS and model_type not in SEQUENCE_MODELS:
        raise InputError(
            f"aggregation {spec.aggregation!r} unknown for {model_type}; use {', '.join(TABULAR_AGGREGATIONS)}"
        )
    return model_type, aggregation


def _check_trainable(data: LoadedDataset) -> None:
    """Refuse a dataset without two classes in train or without test windows (InputError)."""
    if len(data.y["train"]) == 0:
        raise InputError(f"{data.path.name} has no training windows")
    if len(np.unique(data.y["train"])) < 2:
        raise InputError(f"{data.path.name}: the train split holds one class; need at least two")
    if not len(data.y["test"]):
        raise InputError(f"{data.path.name} has no test windows to evaluate on; rebuild with a test ratio above 0")


def _represent(data: LoadedDataset, aggregation: str, spec: TrainSpec, stages: _Stages):
    """(the fitted representation or None, {split: estimator input}).

    A fitted representation (minirocket) sees the train split only; it travels in the bundle.
    A stateless aggregation is applied to each split as it is.
    """
    representation = make_representation(
        aggregation,
        seed=spec.seed,
        num_features=minirocket_features(len(data.y["train"]), spec.params.rocket_features),
    )
    if representation is None:
        return None, {split: aggregate(np.asarray(data.X[split]), aggregation) for split in SPLITS}
    representation.fit(np.asarray(data.X["train"]), progress=stages.final(0.0, 0.05))
    features = {
        split: representation.transform(
            np.asarray(data.X[split]), progress=stages.final(0.05 + 0.25 * i / 3, 0.05 + 0.25 * (i + 1) / 3)
        )
        for i, split in enumerate(SPLITS)
    }
    return representation, features


def _measure(
    data: LoadedDataset,
    estimator,
    features: dict[str, np.ndarray],
    names: list[str],
    *,
    model_type: str,
    aggregation: str,
    spec: TrainSpec,
    cv: dict | None,
) -> TrainingMetrics:
    """The metrics of a fitted estimator: val and test figures, test timeline and its video and
    segment scores, feature importance, and a network's training history."""
    labels = data.labels
    results: dict[str, Evaluation] = {}
    predictions: dict[str, np.ndarray] = {}
    for split in ("val", "test"):
        if len(data.y[split]):
            predictions[split] = estimator.predict(features[split])
            results[split] = evaluate(data.y[split], predictions[split], labels)
    test = results["test"]
    timeline = predicted_timeline(data, estimator, features["test"], predictions["test"])
    return TrainingMetrics(
        **headline_metrics(
            test,
            labels,
            model_type=model_type,
            aggregation=aggregation,
            params=spec.params,
            seed=spec.seed,
            train_size=len(data.y["train"]),
        ),
        warnings=evaluation_warnings(data.y["test"], labels),
        cv=cv,
        val=results.get("val"),
        test=test,
        feature_importance=_importance(estimator, names),
        dataset=str(data.path),
        test_timeline=timeline,
        test_videos=timeline_summary(timeline),
        video_level=video_level_metrics(timeline),
        segment=segment_metrics(timeline, float(data.metadata.step_sec)),
        **_training_history(estimator),
    )


def _training_history(estimator) -> dict:
    """A temporal network's epochs (run, best, stopped early) and loss history; nothing for others."""
    from .classifiers import TorchSequenceClassifier

    if not isinstance(estimator, TorchSequenceClassifier):
        return {}
    return {
        "epochs_run": estimator.n_epochs_,
        "best_epoch": estimator.best_epoch_,
        "stopped_early": estimator.stopped_early_,
        "history": estimator.history_,
    }


def _bundle(
    data: LoadedDataset,
    estimator,
    representation,
    *,
    model_type: str,
    aggregation: str,
    spec: TrainSpec,
    test: Evaluation,
) -> ModelBundle:
    """What the artifact holds: the fitted objects and everything inference needs around them."""
    meta = data.metadata
    return ModelBundle(
        estimator=estimator,
        model_type=model_type,
        aggregation=aggregation,
        representation=representation,  # the fitted transform (None: aggregate(x, aggregation))
        feature_names=meta.feature_names,
        feature_groups=meta.feature_groups,
        window=meta.window_settings(),
        scaler_mean=meta.scaler_mean,
        scaler_scale=meta.scaler_scale,
        label_to_idx=meta.label_to_idx,
        idx_to_label=meta.idx_to_label,
        params=spec.params.as_dict(),
        seed=spec.seed,
        dataset={"path": str(data.path), "metadata_sha256": sha256_file(data.path / "metadata.json")},
        metrics={"accuracy": test.accuracy, "f1_macro": test.f1_macro},
    )


def _write(bundle: ModelBundle, metrics: TrainingMetrics, output: Path, started: float) -> TrainResult:
    """The artifact (and its ``_meta.json``), then the metrics JSON naming the artifact's checksum."""
    metrics_path, meta_path = sidecar_paths(output)
    digest, _ = save_artifact(bundle, output)
    metrics = replace(metrics, model_sha256=digest)
    write_json(metrics_path, metrics.to_dict())
    return TrainResult(
        model_path=output,
        metrics_path=metrics_path,
        meta_path=meta_path,
        sha256=digest,
        metrics=metrics,
        seconds=time.perf_counter() - started,
    )
