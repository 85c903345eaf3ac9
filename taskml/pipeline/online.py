"""Live inference: a rolling feature buffer, window predictions and label smoothing.

The live path reuses the offline code: per-frame features come from the same
``numeric_features`` the extractor writes, windows start at ``t0 + k × step`` and are sampled
with the same ``window_grid``/``nearest_rows`` as dataset building, and normalisation and
aggregation are the dataset's scaler and ``aggregate`` (or the representation fitted at
training time and stored in the bundle, such as MiniRocket's kernels and biases). So a video streamed through
:class:`LivePredictor` gives the same window predictions as :func:`predict_windows` on its
extracted features (tests/pipeline/test_online.py proves it on a real video).

A window is predicted as soon as the first frame at or after its last sample time arrives
(the nearest frame to every sample is then known), exactly as offline.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from .aggregation import aggregate
from .contracts import ModelBundle
from .detectors import FrameDetections
from .errors import InputError
from .features import COLUMN_INDEX, feature_matrix, stack_detections
from .params import Param, params_table
from .windows import WindowSpec, median_interval, nearest_rows, window_grid, window_starts

SMOOTHING_METHODS = ("none", "median", "ema", "hysteresis")
SMOOTHING_PARAMS = params_table(
    Param("k", 5, 1, 1_000, int, "median: windows"),
    Param("alpha", 0.3, 0.001, 1.0, float, "ema: weight of the newest window"),
    Param("min_duration", 1.0, 0.0, 3600.0, float, "hysteresis: seconds a new label must hold", "s"),
)
# Probabilities closer than this are a tie: the same model computed in float32 (its ONNX export)
# and in float64 (here) may order them either way, e.g. a forest's 12/30 against 12/30. A tie
# goes to the first class, on every path that names a label (taskml.pipeline.onnx_export too).
TIE_TOLERANCE = 1e-6


def top_class(probabilities: np.ndarray) -> int:
    """The index of the most probable class; among classes tied within TIE_TOLERANCE, the first."""
    p = np.asarray(probabilities)
    return int(np.flatnonzero(p >= p.max() - TIE_TOLERANCE)[0])


@dataclass(frozen=True)
class SmoothingSpec:
    """How the emitted label is smoothed across window predictions.

    none: the window's own prediction. median: per-class median of the last ``k`` windows'
    probabilities. ema: exponential moving average of probabilities with weight ``alpha``.
    hysteresis: the label changes only after a new label has won for ``min_duration`` seconds.
    """

    method: str = "none"
    k: int = SMOOTHING_PARAMS["k"].default
    alpha: float = SMOOTHING_PARAMS["alpha"].default
    min_duration: float = SMOOTHING_PARAMS["min_duration"].default

    def __post_init__(self) -> None:
        if self.method not in SMOOTHING_METHODS:
            raise InputError(f"smoothing {self.method!r} unknown; choose one of {', '.join(SMOOTHING_METHODS)}")
        for name, param in SMOOTHING_PARAMS.items():
            object.__setattr__(self, name, param.check(getattr(self, name)))


class Smoother:
    """Turns a stream of window probability vectors into a steadier label."""

    def __init__(self, spec: SmoothingSpec, n_classes: int):
        self.spec = spec
        self._history: deque[np.ndarray] = deque(maxlen=spec.k)
        self._ema: np.ndarray | None = None
        self._label: int | None = None
        self._candidate: int | None = None
        self._candidate_since = 0.0

    def update(self, probabilities: np.ndarray, t: float) -> tuple[int, np.ndarray]:
        """(label index, probabilities) to emit after the window ending at time ``t``."""
        method = self.spec.method
        if method == "median":
            self._history.append(probabilities)
            smoothed = np.median(np.stack(self._history), axis=0)
            total = smoothed.sum()
            smoothed = smoothed / total if total > 0 else probabilities
            return top_class(smoothed), smoothed
        if method == "ema":
            a = self.spec.alpha
            self._ema = probabilities.copy() if self._ema is None else a * probabilities + (1 - a) * self._ema
            return top_class(self._ema), self._ema
        winner = top_class(probabilities)
        if method == "none" or self._label is None:
            self._label = winner
            self._candidate = None
            return winner, probabilities
        # hysteresis: keep the current label until another has won continuously for min_duration
        if winner == self._label:
            self._candidate = None
        elif winner != self._candidate:
            self._candidate, self._candidate_since = winner, t
        if self._candidate is not None and t - self._candidate_since >= self.spec.min_duration:
            self._label, self._candidate = self._candidate, None
        return self._label, probabilities


@dataclass(frozen=True)
class WindowPrediction:
    start: float  # window start, seconds
    end: float
    probabilities: np.ndarray  # over ``labels``, the raw window prediction
    label: str  # the raw prediction
    smoothed_label: str
    smoothed_probabilities: np.ndarray
    seconds: float = 0.0  # time spent aggregating and predicting


class PackedForest:
    """A fitted scikit-learn forest as flat arrays, predicted a few rows at a time without
    scikit-learn's per-tree overhead (about 10 ms for one row and 200 trees here, against well
    under 1 ms packed). Same comparisons, same leaf values: the same probabilities.
    """

    def __init__(self, forest):
        trees = [est.tree_ for est in forest.estimators_]
        offsets = np.cumsum([0] + [t.node_count for t in trees[:-1]])
        self.roots = offsets.astype(np.int64)
        left = np.concatenate(
            [np.where(t.children_left >= 0, t.children_left + o, -1) for t, o in zip(trees, offsets, strict=True)]
        )
        right = np.concatenate(
            [np.where(t.children_right >= 0, t.children_right + o, -1) for t, o in zip(trees, offsets, strict=True)]
        )
        self.leaf = left < 0
        self.left = np.where(self.leaf, np.arange(len(left)), left)  # a leaf points at itself
        self.right = np.where(self.leaf, np.arange(len(right)), right)
        self.feature = np.concatenate([np.maximum(t.feature, 0) for t in trees]).astype(np.int64)
        self.threshold = np.concatenate([t.threshold for t in trees])
        values = np.concatenate([t.value[:, 0, :] for t in trees]).astype(np.float64)
        sums = values.sum(axis=1, keepdims=True)
        self.proba = np.divide(values, sums, out=np.zeros_like(values), where=sums > 0)
        self.classes_ = forest.classes_
        self.n_trees = len(trees)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, np.float32)
        rows = np.arange(len(X))[:, None]
        node = np.broadcast_to(self.roots, (len(X), self.n_trees)).copy()
        while True:
            active = ~self.leaf[node]
            if not active.any():
                break
            go_left = X[rows, self.feature[node]] <= self.threshold[node]
            node = np.where(go_left, self.left[node], self.right[node])
        return self.proba[node].mean(axis=1)


@dataclass
class ModelRunner:
    """What a trained bundle needs to turn (frames × features) windows into probabilities.

    Parameters
    ----------
    bundle : ModelBundle
        The model (``artifacts.load_artifact``); a bundle in its dict shape is read with
        ``ModelBundle.from_dict``.
    """

    bundle: ModelBundle
    labels: list[str] = field(init=False)
    spec: WindowSpec = field(init=False)

    def __post_init__(self) -> None:
        from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier

        if not isinstance(self.bundle, ModelBundle):
            self.bundle = ModelBundle.from_dict(self.bundle)
        b = self.bundle
        self.labels = b.labels
        self.spec = b.window.spec()
        self.feature_names: list[str] = list(b.feature_names)
        self.mean = np.asarray(b.scaler_mean, np.float32)
        self.scale = np.asarray(b.scaler_scale, np.float32)
        self.estimator = b.estimator
        self.aggregation = b.aggregation
        # A representation fitted at training time (minirocket); None: the stateless aggregate().
        self.representation = b.representation
        classes = np.asarray(getattr(self.estimator, "classes_", np.arange(len(self.labels))))
        self._columns = classes.astype(int)  # estimator column → label index
        if isinstance(self.estimator, RandomForestClassifier | ExtraTreesClassifier):
            self.estimator = PackedForest(self.estimator)
        elif hasattr(self.estimator, "n_jobs"):
            self.estimator.n_jobs = 1  # one window at a time: thread start-up costs more than it saves

    def predict(self, windows: np.ndarray) -> np.ndarray:
        """(n, frames, features) raw feature windows → (n, labels) probabilities."""
        x = (windows.astype(np.float32) - self.mean) / self.scale
        np.nan_to_num(x, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
        if self.representation is not None:
            features = self.representation.transform(x)
        else:
            features = aggregate(x, self.aggregation)
        raw = self.estimator.predict_proba(features)
        out = np.zeros((len(x), len(self.labels)), np.float64)
        out[:, self._columns] = raw
        return out


def predict_windows(t: np.ndarray, values: np.ndarray, runner: ModelRunner) -> tuple[np.ndarray, np.ndarray]:
    """Offline: every window of a whole video's feature rows, predicted as live inference would.

    Parameters
    ----------
    t : array of shape (rows,)
        The rows' times, sorted (seconds).
    values : array of shape (rows, features)
        The rows in ``runner.feature_names`` order, NaN where missing.
    runner : ModelRunner

    Returns
    -------
    starts : array of shape (n,)
        Window start times (``windows.window_starts``).
    probabilities : array of shape (n, classes)
        Over ``runner.labels``.
    """
    starts = window_starts(t, runner.spec)
    if not len(starts):
        return starts, np.zeros((0, len(runner.labels)))
    rows = nearest_rows(t, window_grid(starts, runner.spec))
    return starts, runner.predict(values[rows])


class LivePredictor:
    """Frames in, window predictions out, with a buffer just long enough for one window."""

    def __init__(self, runner: ModelRunner, *, width: int, height: int, with_objects: bool, smoothing=None):
        self.runner = runner
        self.width, self.height, self.with_objects = width, height, with_objects
        self.smoother = Smoother(smoothing or SmoothingSpec(), len(runner.labels))
        self._t: deque[float] = deque()
        self._rows: deque[np.ndarray] = deque()
        self._previous: tuple[float, FrameDetections] | None = None
        self._t0: float | None = None
        self._k = 0  # index of the next window: it starts at t0 + k × step, as offline
        self.latest: WindowPrediction | None = None
        self._rows_of_features: np.ndarray | None = None

    def features(self, t: float, detections: FrameDetections) -> np.ndarray:
        """This frame's feature row; speeds need the previous frame, as offline."""
        frames = [detections] if self._previous is None else [self._previous[1], detections]
        times = [t] if self._previous is None else [self._previous[0], t]
        arrays = stack_detections(np.asarray(times), frames, self.width, self.height)
        matrix = feature_matrix(arrays, with_objects=self.with_objects)
        self._previous = (t, detections)
        if self._rows_of_features is None:  # the model's features, in its order, as rows of the matrix
            self._rows_of_features = np.array([COLUMN_INDEX[name] for name in self.runner.feature_names], np.intp)
        row = matrix[self._rows_of_features, -1]
        row[~np.isfinite(row)] = np.nan
        return row

    def push(self, t: float, detections: FrameDetections) -> list[WindowPrediction]:
        """Add one frame; returns the windows it completed (usually none or one)."""
        return self.push_row(t, self.features(t, detections))

    def push_row(self, t: float, row: np.ndarray) -> list[WindowPrediction]:
        if self._t and t <= self._t[-1]:
            return []  # a frame out of order or repeated: offline keeps the first
        self._t.append(t)
        self._rows.append(row)
        if self._t0 is None:
            self._t0 = t
        completed = []
        while True:
            start = self._next_start
            grid = window_grid(np.array([start]), self.runner.spec)[0]
            if t < grid[-1]:
                break
            completed.append(self._predict(start, grid))
            self._k += 1
        self._trim()
        return completed

    @property
    def _next_start(self) -> float:
        return self._t0 + self.runner.spec.step_sec * self._k

    def finish(self) -> list[WindowPrediction]:
        """At the end of the stream: the windows offline would still place (see window_starts)."""
        if len(self._t) < 2:
            return []
        spec = self.runner.spec
        t = np.asarray(self._t)
        last_start = t[-1] + median_interval(t) - spec.window_sec
        completed = []
        while self._next_start <= last_start + 1e-9:
            completed.append(self._predict(self._next_start, window_grid(np.array([self._next_start]), spec)[0]))
            self._k += 1
        return completed

    def _predict(self, start: float, grid: np.ndarray) -> WindowPrediction:
        began = time.perf_counter()
        t = np.asarray(self._t)
        rows = np.asarray(self._rows)
        window = rows[nearest_rows(t, grid)][None]
        probabilities = self.runner.predict(window)[0]
        index, smoothed = self.smoother.update(probabilities, start + self.runner.spec.window_sec)
        labels = self.runner.labels
        self.latest = WindowPrediction(
            start=start,
            end=start + self.runner.spec.window_sec,
            probabilities=probabilities,
            label=labels[top_class(probabilities)],
            smoothed_label=labels[index],
            smoothed_probabilities=smoothed,
            seconds=time.perf_counter() - began,
        )
        return self.latest

    def _trim(self) -> None:
        """Drop frames no future window can reach (keep one before the next window's start)."""
        while len(self._t) > 2 and self._t[1] < self._next_start:
            self._t.popleft()
            self._rows.popleft()
