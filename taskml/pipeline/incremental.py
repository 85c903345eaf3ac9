"""Retraining: evaluate a model on held-out feature files, and continue boosting from a champion.

Both use only the pipeline's public pieces (``load_dataset``, artifact bundles, ``ModelRunner``,
``predict_windows``, ``make_windows``, ``make_estimator``, ``aggregate``, ``evaluate``), so the
retraining service can compare a champion and a challenger exactly as live inference would
run them: a held-out video's feature rows are windowed as a dataset build windows them, the
windows whose label a build would keep are predicted through the model's own scaler and
aggregation, and the predictions are scored against those window labels.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .aggregation import aggregate
from .artifacts import save_artifact, sidecar_paths
from .contracts import DatasetMetadata, ModelBundle, TrainingMetrics
from .errors import InputError
from .estimators import ModelParams, ProgressCallback, fit_estimator, make_estimator
from .files import sha256_file, write_json
from .online import ModelRunner, predict_windows
from .training import evaluate, headline_metrics, load_dataset
from .windows import SPLITS, make_windows


@dataclass(frozen=True)
class _Holdout:
    video_id: str
    t: np.ndarray
    values: np.ndarray  # (rows, features) in the runner's feature order, NaN where missing
    labels: list  # per row: label string or None


def _read_holdout(path: Path, feature_names: list[str]) -> _Holdout:
    if not path.is_file():
        raise InputError(f"held-out features file not found: {path}")
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError):
        raise InputError(f"{path.name} is not a Parquet features file") from None
    missing = [c for c in ("video_id", "t", "label", *feature_names) if c not in schema.names]
    if missing:
        raise InputError(f"held-out file {path.name} lacks columns the model needs: {', '.join(missing[:5])}")
    table = pq.read_table(path, columns=["video_id", "t", "label", *feature_names])
    t = table.column("t").to_numpy(zero_copy_only=False).astype(np.float64)
    finite = np.isfinite(t)
    order = np.argsort(np.where(finite, t, np.inf), kind="stable")[: int(finite.sum())]
    keep = np.concatenate([[True], np.diff(t[order]) > 0]) if len(order) else np.zeros(0, bool)
    order = order[keep]  # duplicate timestamps keep their first row, as a dataset build does
    values = np.column_stack(
        [table.column(c).to_numpy(zero_copy_only=False).astype(np.float32, copy=False) for c in feature_names]
    )[order]
    values[~np.isfinite(values)] = np.nan
    labels = np.array(table.column("label").to_pylist(), dtype=object)[order].tolist()
    video_ids = table.column("video_id").unique().to_pylist()
    return _Holdout(video_id=str(video_ids[0]) if video_ids else path.stem, t=t[order], values=values, labels=labels)


def holdout_evaluate(feature_paths: Sequence[str | os.PathLike], bundle: ModelBundle) -> dict:
    """A model's metrics on held-out feature files: window level, as training reports them.

    Windows are those a dataset build with the model's window settings would keep (no gaps,
    labelled, pure enough); their true label is the window's majority label. A label the model
    never learnt counts as a miss.

    Parameters
    ----------
    feature_paths : sequence of path-like
        Labelled feature files (``extract_features`` output) of videos the model never saw.
    bundle : ModelBundle
        The model (``load_artifact``).

    Returns
    -------
    dict
        ``accuracy``, ``f1_macro``, ``f1_weighted``, ``windows``, ``per_class``,
        ``confusion_matrix``, ``per_video`` {video_id: {windows, accuracy}} and ``unknown_labels``
        (labels of the files the model never learnt).

    Raises
    ------
    InputError
        No files, a file without the model's columns, or no window the model's settings can place.
    """
    runner = ModelRunner(bundle)
    if not feature_paths:
        raise InputError("no held-out feature files")
    holdouts = [_read_holdout(Path(p), runner.feature_names) for p in feature_paths]
    extra = sorted({v for h in holdouts for v in h.labels if v is not None} - set(runner.labels))
    names = [*runner.labels, *extra]
    code_of = {name: i for i, name in enumerate(names)}
    y_true, y_pred, per_video = [], [], {}
    for h in holdouts:
        codes = np.array([code_of[v] if v is not None else -1 for v in h.labels], np.int64)
        windows = make_windows(h.t, codes, len(names), runner.spec, h.video_id)
        if not len(windows.starts):
            per_video[h.video_id] = {"windows": 0, "accuracy": None}
            continue
        starts, probabilities = predict_windows(h.t, h.values, runner)
        at = np.searchsorted(starts, windows.starts - 1e-9)  # kept windows are some of all windows, same starts
        predicted = probabilities[at].argmax(axis=1)
        y_true.append(windows.codes)
        y_pred.append(predicted)
        per_video[h.video_id] = {
            "windows": int(len(predicted)),
            "accuracy": float((predicted == windows.codes).mean()),
        }
    if not y_true:
        raise InputError("the held-out files hold no labelled window the model's window settings can place")
    y_true_all, y_pred_all = np.concatenate(y_true), np.concatenate(y_pred)
    result = evaluate(y_true_all, y_pred_all, names)
    return {
        "accuracy": result.accuracy,
        "f1_macro": result.f1_macro,
        "f1_weighted": result.f1_weighted,
        "windows": int(len(y_true_all)),
        "per_class": result.per_class,
        "confusion_matrix": result.confusion_matrix,
        "per_video": per_video,
        "unknown_labels": extra,
    }


def incremental_check(bundle: ModelBundle, dataset: str | os.PathLike) -> str | None:
    """Why boosting cannot continue from ``bundle`` on ``dataset`` (None: it can).

    Parameters
    ----------
    bundle : ModelBundle
        The champion.
    dataset : path-like
        The new dataset directory.

    Returns
    -------
    str or None
        The reason, in words, or None when :func:`continue_boosting` can run.
    """
    from lightgbm import LGBMClassifier

    estimator = bundle.estimator
    if bundle.model_type != "lgbm" or not isinstance(estimator, LGBMClassifier) or not hasattr(estimator, "booster_"):
        return f"the champion is a {bundle.model_type} model; only LightGBM continues boosting"
    data = load_dataset(dataset)
    meta = data.metadata
    if list(meta.feature_names) != list(bundle.feature_names):
        return "the new dataset's features differ from the champion's"
    if dict(meta.label_to_idx) != dict(bundle.label_to_idx):
        return (
            f"the label set changed ({', '.join(sorted(meta.label_to_idx))} now, "
            f"{', '.join(sorted(bundle.label_to_idx))} for the champion)"
        )
    window = bundle.window
    if (float(meta.window_sec), float(meta.fps)) != (float(window.window_sec), float(window.fps)):
        return "the window length or sampling rate changed"
    present = set(np.unique(np.asarray(data.y["train"])).tolist())
    learnt = {int(c) for c in np.asarray(estimator.classes_)}
    if present != learnt:
        return "the new training split does not hold every class the champion learnt"
    return None


def _rescale(x: np.ndarray, meta: DatasetMetadata, bundle: ModelBundle) -> np.ndarray:
    """Windows z-scored with the new dataset's scaler → z-scored with the champion's.

    The champion's trees split on values in its own scaled space. Missing values are 0 after
    either scaling (the dataset build sets them to the train mean), so they stay 0.
    """
    new_mean = np.asarray(meta.scaler_mean, np.float32)
    new_scale = np.asarray(meta.scaler_scale, np.float32)
    old_mean = np.asarray(bundle.scaler_mean, np.float32)
    old_scale = np.asarray(bundle.scaler_scale, np.float32)
    x = np.asarray(x, np.float32)
    missing = x == 0
    out = (x * new_scale + new_mean - old_mean) / old_scale
    out[missing] = 0.0
    return out.astype(np.float32, copy=False)


@dataclass(frozen=True)
class IncrementalResult:
    """What :func:`continue_boosting` wrote."""

    model_path: Path
    sha256: str
    metrics: TrainingMetrics
    seconds: float
    trees_before: int
    trees_after: int


def continue_boosting(
    dataset: str | os.PathLike,
    output: str | os.PathLike,
    *,
    champion: ModelBundle,
    params: ModelParams | None = None,
    seed: int = 42,
    progress: ProgressCallback | None = None,
) -> IncrementalResult:
    """Add ``params.n_estimators`` boosting rounds to the champion's LightGBM on the new dataset's train split.

    The result keeps the champion's scaler, window and label map (its old trees need them), and
    is written as a normal artifact with metrics on the new dataset's test split.

    Parameters
    ----------
    dataset : path-like
        The new dataset directory (same features, labels and window as the champion's).
    output : path-like
        The new model file; its ``_metrics.json`` and ``_meta.json`` go beside it.
    champion : ModelBundle
        A LightGBM model (``load_artifact``).
    params : ModelParams, optional
        ``n_estimators`` (the rounds added), ``learning_rate``, ``max_depth``.
    seed : int
    progress : callable, optional
        ``progress(done, total)`` after each boosting round; it may raise to stop.

    Returns
    -------
    IncrementalResult
        The path, checksum, :class:`TrainingMetrics` and tree counts before and after.

    Raises
    ------
    InputError
        When :func:`incremental_check` says it cannot be done.
    """
    started = time.perf_counter()
    reason = incremental_check(champion, dataset)
    if reason is not None:
        raise InputError(f"cannot continue boosting: {reason}")
    params = params or ModelParams()
    data = load_dataset(dataset)
    aggregation = champion.aggregation
    features = {
        split: aggregate(_rescale(np.asarray(data.X[split]), data.metadata, champion), aggregation) for split in SPLITS
    }
    estimator = make_estimator("lgbm", params, seed)
    booster = champion.estimator.booster_
    fit_estimator(estimator, features["train"], np.asarray(data.y["train"]), init_model=booster, progress=progress)
    labels = data.labels
    test = evaluate(np.asarray(data.y["test"]), estimator.predict(features["test"]), labels)
    trees_before = booster.num_trees()
    trees_after = estimator.booster_.num_trees()
    metrics = TrainingMetrics(
        **headline_metrics(
            test,
            labels,
            model_type="lgbm",
            aggregation=aggregation,
            params=params,
            seed=seed,
            train_size=len(data.y["train"]),
        ),
        test=test,
        incremental={"trees_before": trees_before, "trees_after": trees_after},
        dataset=str(data.path),
    )
    bundle = replace(
        champion,
        estimator=estimator,
        params=params.as_dict(),
        seed=seed,
        continued_from={"metrics": champion.metrics, "trees": trees_before},
        dataset={"path": str(data.path), "metadata_sha256": sha256_file(data.path / "metadata.json")},
        metrics={"accuracy": test.accuracy, "f1_macro": test.f1_macro},
    )
    output = Path(output)
    digest, _ = save_artifact(bundle, output)
    metrics = replace(metrics, model_sha256=digest, training_seconds=round(time.perf_counter() - started, 3))
    write_json(sidecar_paths(output)[0], metrics.to_dict())
    return IncrementalResult(
        model_path=output,
        sha256=digest,
        metrics=metrics,
        seconds=time.perf_counter() - started,
        trees_before=trees_before,
        trees_after=trees_after,
    )
