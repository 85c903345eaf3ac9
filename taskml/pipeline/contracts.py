"""The typed contracts the pipeline's modules share.

- :class:`DatasetMetadata`: a built dataset's ``metadata.json`` (written by ``dataset.build_dataset``,
  read by training, ablations, incremental boosting, the export and the datasets app).
- :class:`ModelBundle`: what a model artifact holds (built by ``training.train_model`` and
  ``incremental.continue_boosting``, read by ``online.ModelRunner``, ``incremental``,
  ``onnx_export`` and the models, streaming and retraining apps), with its :class:`WindowSettings`.
- :class:`Evaluation` and :class:`TrainingMetrics`: a split's figures (``training.evaluate``) and
  the metrics JSON written beside every model (read by the API, the /backend/ contract, the pages).

Each is a frozen dataclass with an explicit ``to_dict``, which gives the very dict the files hold
(key for key, in the order they were always written, so the JSON and the pickle are unchanged),
and ``from_dict``, which also reads what older code wrote: a field added since then takes its
default, and a key this code does not know is kept in ``extra`` and written back by ``to_dict``.
The files stay plain JSON and a pickled plain dict: an artifact written now loads in code that
predates these classes, and one written before them loads here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from .errors import InputError
from .windows import WindowSpec


class _Record:
    """``to_dict``/``from_dict`` over a dataclass's fields, in their declared order.

    ``_omit_when_none``: fields left out of ``to_dict`` while None (keys some writers never
    wrote). ``_nested``: fields holding another record (converted both ways). ``_what``: the
    name a refusal gives the thing (``from_dict`` of a dict lacking a required key).
    """

    _omit_when_none: ClassVar[frozenset[str]] = frozenset()
    _nested: ClassVar[dict[str, type[_Record]]] = {}
    _what: ClassVar[str] = "record"

    def to_dict(self) -> dict[str, Any]:
        """The plain dict this record stands for (JSON types, or the pickled payload's objects)."""
        out: dict[str, Any] = {}
        for f in fields(self):  # type: ignore[arg-type]
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            if value is None and f.name in self._omit_when_none:
                continue
            out[f.name] = value.to_dict() if isinstance(value, _Record) else value
        out.update(getattr(self, "extra", None) or {})
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]):
        """The record of a dict as ``to_dict`` writes it, or as older code wrote it (see the module doc).

        Raises
        ------
        InputError
            ``data`` is not a mapping, or lacks a key every version wrote.
        """
        if not isinstance(data, Mapping):
            raise InputError(f"not a {cls._what}: expected a JSON object, got {type(data).__name__}")
        known = {f.name: f for f in fields(cls) if f.name != "extra"}  # type: ignore[arg-type]
        required = [name for name, f in known.items() if f.default is MISSING and f.default_factory is MISSING]
        missing = [name for name in required if name not in data]
        if missing:
            raise InputError(f"not a {cls._what}: it lacks {', '.join(missing)}")
        values = {}
        for name in known:
            if name in data:
                nested = cls._nested.get(name)
                value = data[name]
                values[name] = nested.from_dict(value) if nested is not None and value is not None else value
        extra = {key: value for key, value in data.items() if key not in known and key not in cls._ignored()}
        if "extra" in {f.name for f in fields(cls)}:  # type: ignore[arg-type]
            values["extra"] = extra
        return cls(**values)

    @classmethod
    def _ignored(cls) -> frozenset[str]:
        """Keys read by someone else (the artifact's ``format_version``): neither fields nor extra."""
        return frozenset()


@dataclass(frozen=True, kw_only=True)
class WindowSettings(_Record):
    """A model's window: what a live or offline predictor must cut from the feature rows.

    Parameters
    ----------
    window_sec, step_sec : float
        Window length and hop, seconds.
    fps : float
        The rate the window's frames are sampled at (``WindowSpec.resample_fps``).
    frames : int or None
        Frames per window (None in bundles from before it was recorded: ``window_sec × fps``).
    min_purity : float or None
        The share of a window's frames its label needed (None in older bundles: the default).
    """

    _what: ClassVar[str] = "model window"

    window_sec: float
    step_sec: float
    fps: float
    frames: int | None = None
    min_purity: float | None = None

    def spec(self) -> WindowSpec:
        """The :class:`~taskml.pipeline.windows.WindowSpec` these settings describe."""
        purity = {"min_purity": self.min_purity} if self.min_purity else {}
        return WindowSpec(window_sec=self.window_sec, step_sec=self.step_sec, resample_fps=self.fps, **purity)


@dataclass(frozen=True, kw_only=True)
class ModelBundle(_Record):
    """Everything inference needs, as one model artifact holds it (``artifacts.save_artifact``).

    The artifact pickles ``to_dict()`` (a plain dict) with its ``format_version``; loading builds
    the bundle back with ``from_dict``. Fitted objects (``estimator``, ``representation``) are the
    only non-JSON values; ``artifacts`` writes the rest beside the pickle as ``<stem>_meta.json``.

    Parameters
    ----------
    estimator : object
        The fitted classifier (scikit-learn API: ``predict``, ``predict_proba``, ``classes_``).
    model_type : str or None
        One of ``estimators.MODEL_TYPES`` (every trained bundle names it; ONNX export and
        continued boosting need it, live prediction does not).
    aggregation : str
        How a window becomes the estimator's input (``aggregation.AGGREGATIONS``).
    representation : object or None
        The fitted window transform for a fitted aggregation (minirocket); None: ``aggregate``.
    feature_names : list of str
        The per-frame feature columns, in the order the windows hold them.
    feature_groups : list of str or None
        The dataset's feature groups (None in bundles from before they were recorded).
    window : WindowSettings
    scaler_mean, scaler_scale : list of float
        The train split's per-feature z-score, applied before anything else.
    label_to_idx : dict of str to int
    idx_to_label : dict of str to str
        The class codes both ways (JSON keys: the codes as strings); ``label_to_idx`` left out
        is ``idx_to_label`` inverted.
    params : dict
        ``ModelParams.as_dict()`` of the fit.
    seed : int or None
    continued_from : dict or None
        Continued boosting only: the champion's headline metrics and tree count.
    dataset : dict or None
        ``{"path", "metadata_sha256"}`` of the dataset it was trained on.
    metrics : dict or None
        ``{"accuracy", "f1_macro"}`` on the test split.
    extra : dict
        Keys this code does not know, kept as they were.
    """

    _nested: ClassVar[dict[str, type[_Record]]] = {"window": WindowSettings}
    _omit_when_none: ClassVar[frozenset[str]] = frozenset({"continued_from"})
    _what: ClassVar[str] = "model bundle"

    estimator: Any
    model_type: str | None = None
    aggregation: str
    representation: Any = None
    feature_names: list[str]
    feature_groups: list[str] | None = None
    window: WindowSettings
    scaler_mean: list[float]
    scaler_scale: list[float]
    label_to_idx: dict[str, int] | None = None
    idx_to_label: dict[str, str]
    params: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    continued_from: dict[str, Any] | None = None
    dataset: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.label_to_idx is None:  # a hand-made bundle: the codes of idx_to_label
            object.__setattr__(self, "label_to_idx", {name: int(code) for code, name in self.idx_to_label.items()})

    @classmethod
    def _ignored(cls) -> frozenset[str]:
        return frozenset({"format_version"})

    @property
    def labels(self) -> list[str]:
        """Class names in code order."""
        return [self.idx_to_label[str(i)] for i in range(len(self.idx_to_label))]


@dataclass(frozen=True, kw_only=True)
class DatasetMetadata(_Record):
    """A built dataset's ``metadata.json``: how its windows were made, scaled, labelled and split.

    Parameters
    ----------
    feature_names : list of str
        The per-frame columns of ``X_<split>.npy`` (its last axis), in order.
    window_sec, step_sec, fps : float
        Window length, hop and sampling rate (``WindowSpec``).
    window_frames : int or None
        Frames per window (``X``'s middle axis).
    scaler_mean, scaler_scale : list of float
        The z-score fitted on the train split and applied to every split.
    label_to_idx, idx_to_label : dict
        The class codes of ``y_<split>.npy`` both ways.
    train_size, val_size, test_size : int or None
        Windows per split (train after balancing).
    split_strategy, split_method, splits, sources, leakage, ... :
        How the build went (see ``dataset.build_dataset``); None in files from before each existed.
    ablation_of : dict or None
        Only in an ablation's group copy: ``{"dataset", "group"}``.
    extra : dict
        Keys this code does not know, kept as they were.
    """

    _omit_when_none: ClassVar[frozenset[str]] = frozenset({"ablation_of"})
    _what: ClassVar[str] = "dataset's metadata.json"

    format_version: int | None = None
    created: str | None = None
    feature_names: list[str]
    num_features: int | None = None
    feature_groups: list[str] | None = None
    window_sec: float
    step_sec: float
    fps: float
    window_frames: int | None = None
    min_purity: float | None = None
    scaler_mean: Any
    scaler_scale: Any
    label_to_idx: dict[str, int]
    idx_to_label: dict[str, str]
    train_size: int | None = None
    val_size: int | None = None
    test_size: int | None = None
    train_label_dist: dict[str, int] | None = None
    val_label_dist: dict[str, int] | None = None
    test_label_dist: dict[str, int] | None = None
    train_label_dist_before_balance: dict[str, int] | None = None
    balance_method: str | None = None
    seed: int | None = None
    ratios: dict[str, float] | None = None
    split_strategy: str | None = None
    split_note: str | None = None
    split_method: dict[str, Any] | None = None
    classes_missing: dict[str, list[str]] | None = None
    groups_note: str | None = None
    splits: dict[str, list[str]] | None = None
    dropped_windows: dict[str, int] | None = None
    sources: list[dict[str, Any]] | None = None
    leakage: dict[str, Any] | None = None
    ablation_of: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def labels(self) -> list[str]:
        """Class names in code order."""
        return [self.idx_to_label[str(i)] for i in range(len(self.idx_to_label))]

    def label_dist(self, split: str) -> dict[str, int] | None:
        """{label: windows} of one split (``train``, ``val`` or ``test``)."""
        return {"train": self.train_label_dist, "val": self.val_label_dist, "test": self.test_label_dist}[split]

    def window_settings(self) -> WindowSettings:
        """The window a model trained on this dataset records in its bundle."""
        return WindowSettings(
            window_sec=self.window_sec,
            step_sec=self.step_sec,
            fps=self.fps,
            frames=self.window_frames,
            min_purity=self.min_purity,
        )


def read_dataset_metadata(path: str | os.PathLike) -> DatasetMetadata:
    """A dataset directory's ``metadata.json``, written now or by older code.

    Parameters
    ----------
    path : path-like
        The dataset directory (``build_dataset``'s output).

    Returns
    -------
    DatasetMetadata

    Raises
    ------
    InputError
        No metadata.json, not JSON, or not a dataset's metadata (a required key missing).
    """
    path = Path(path)
    meta_file = path / "metadata.json"
    if not meta_file.is_file():
        raise InputError(f"{path} is not a dataset directory (no metadata.json); build one with build_task_dataset")
    try:
        raw = json.loads(meta_file.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"{meta_file}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    try:
        return DatasetMetadata.from_dict(raw)
    except InputError as exc:
        raise InputError(f"{meta_file}: {exc}") from None


@dataclass(frozen=True, kw_only=True)
class Evaluation(_Record):
    """One split's figures (``training.evaluate``): the ``val`` and ``test`` blocks of the metrics.

    Parameters
    ----------
    accuracy, f1_macro, f1_weighted : float
        F1 averaged over ``classes_scored`` (``training.F1_MACRO_DEFINITION``).
    support : int
        Windows evaluated.
    classes_scored : list of str
        Classes in the split's truth or predictions.
    classes_absent : list of str
        Classes absent from the split's truth.
    per_class : dict
        {label: {precision, recall, f1, support}}; null figures for a class neither present nor predicted.
    classification_report : dict
        scikit-learn's ``classification_report(output_dict=True)`` over ``classes_scored``.
    confusion_matrix : dict
        ``{"labels": [...], "matrix": [[...]]}`` over every class, rows true, columns predicted.
    """

    _what: ClassVar[str] = "split evaluation"

    accuracy: float
    f1_macro: float
    f1_weighted: float | None = None
    support: int | None = None
    classes_scored: list[str] | None = None
    classes_absent: list[str] | None = None
    per_class: dict[str, dict[str, Any]] | None = None
    classification_report: dict[str, Any] | None = None
    confusion_matrix: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class TrainingMetrics(_Record):
    """A model's metrics JSON (``<stem>_metrics.json`` and ``TrainedModel.metrics``).

    The test figures come first, at top level, where existing clients read them (the /backend/
    contract: ``accuracy``, ``f1_macro``, ``classification_report``, ``confusion_matrix`` as a
    bare matrix, ``labels``...), then the configuration, then each block. ``to_dict`` writes
    ``cv``, ``val``, ``video_level`` and ``segment`` as null when there are none; the other
    optional blocks only when present (the networks' training history, continued boosting's
    tree counts).

    Parameters
    ----------
    accuracy, f1_macro, f1_weighted : float
        The test split's figures (``test``'s, repeated).
    classes_absent_from_test : list of str
    classification_report : dict
    confusion_matrix : list of list of int
        The test confusion matrix (rows true, columns predicted, in ``labels`` order).
    labels : list of str
    model_type, aggregation : str
    params : dict
        ``ModelParams.as_dict()``; ``params_used`` the ones this model type reads.
    seed, train_size : int
    warnings : list of str or None
        Why the test figures may mean little (``training.evaluation_warnings``).
    cv : dict or None
        Cross-validation folds and their mean/std/min (``training.cross_validate``).
    val, test : Evaluation or None
    feature_importance : list of dict or None
    dataset : str or None
    test_timeline, test_videos, video_level, segment : dict or None
        Per-video predicted timelines and their video-level and segmental scores.
    training_seconds : float or None
    epochs_run, best_epoch, stopped_early, history :
        The temporal networks only.
    incremental : dict or None
        Continued boosting only: ``{"trees_before", "trees_after"}``.
    model_sha256 : str or None
        The artifact's checksum, once it is written.
    extra : dict
        Keys this code does not know (a service's additions), kept as they were.
    """

    _nested: ClassVar[dict[str, type[_Record]]] = {"val": Evaluation, "test": Evaluation}
    _omit_when_none: ClassVar[frozenset[str]] = frozenset(
        {
            "warnings",
            "feature_importance",
            "dataset",
            "test_timeline",
            "test_videos",
            "training_seconds",
            "epochs_run",
            "best_epoch",
            "stopped_early",
            "history",
            "incremental",
            "model_sha256",
        }
    )
    _what: ClassVar[str] = "model's metrics"

    accuracy: float
    f1_macro: float
    f1_weighted: float | None = None
    f1_macro_definition: str | None = None
    classes_absent_from_test: list[str] | None = None
    classification_report: dict[str, Any] | None = None
    confusion_matrix: list[list[int]] | None = None
    labels: list[str] | None = None
    model_type: str | None = None
    aggregation: str | None = None
    params: dict[str, Any] | None = None
    params_used: dict[str, Any] | None = None
    seed: int | None = None
    train_size: int | None = None
    warnings: list[str] | None = None
    cv: dict[str, Any] | None = None
    val: Evaluation | None = None
    test: Evaluation | None = None
    feature_importance: list[dict[str, Any]] | None = None
    dataset: str | None = None
    test_timeline: dict[str, list[dict[str, Any]]] | None = None
    test_videos: dict[str, dict[str, Any]] | None = None
    video_level: dict[str, Any] | None = None
    segment: dict[str, Any] | None = None
    training_seconds: float | None = None
    epochs_run: int | None = None
    best_epoch: int | None = None
    stopped_early: bool | None = None
    history: list[dict[str, Any]] | None = None
    incremental: dict[str, Any] | None = None
    model_sha256: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
