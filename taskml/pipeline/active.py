"""Active learning: find the stretches of a video a model is least sure about, for a person to label.

Input is what :func:`taskml.pipeline.online.predict_windows` gives for a video: window start
times and one probability vector per window. A window is *marked* when

- its confidence is low: the top probability ``p_max`` is below ``min_confidence``;
- its margin is small: ``p_max − p_second`` is below ``min_margin``; or
- it is unstable: within ``±neighbourhood`` windows around it the predicted label changes at
  least ``min_flips`` times (a prediction that flickers, A A B A A; a single clean change of
  task, A A A B B B, is one change and is not marked).

Marked windows closer than ``max_gap`` unmarked windows are merged into one span. A span's
*uncertainty* is the mean over its windows of the chosen score: ``least_confidence`` (1 − p_max,
the default), ``margin`` (1 − (p_max − p_second)) or ``entropy`` (Shannon entropy divided by
log(classes), so 0..1 whatever the number of classes). Spans are ranked most uncertain first.
The label a span suggests is the class with the highest mean probability over its windows, and
its confidence is that mean probability.

Windows overlap (a 1 s window every 0.25 s), so a window's prediction is placed on its central
slice, ``min(step, window)`` long: the slices tile the video, and two spans never share a frame.
A span runs from its first window's slice to its last window's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .errors import InputError
from .params import Param, params_table

SCORES = ("least_confidence", "margin", "entropy")
REASONS = ("low_confidence", "small_margin", "unstable")


SUGGESTION_PARAMS = params_table(
    Param("min_confidence", 0.6, 0.0, 1.0, float, "windows whose top probability is below"),
    Param("min_margin", 0.2, 0.0, 1.0, float, "windows whose top-2 margin is below"),
    Param("neighbourhood", 2, 1, 1_000, int, "windows either side checked for flips"),
    Param("min_flips", 2, 0, 1_000, int, "label changes there that mark a window (0: off)"),
    Param("max_gap", 1, 0, 100_000, int, "unmarked windows bridged inside one span"),
    Param("min_windows", 1, 1, 100_000, int, "shortest span kept, in windows"),
    Param("max_spans", 50, 0, 10_000, int, "spans kept after ranking (0: all)"),
)


@dataclass(frozen=True)
class SuggestionSpec:
    min_confidence: float = SUGGESTION_PARAMS["min_confidence"].default
    min_margin: float = SUGGESTION_PARAMS["min_margin"].default
    neighbourhood: int = SUGGESTION_PARAMS["neighbourhood"].default  # windows either side looked at for flips
    min_flips: int = SUGGESTION_PARAMS["min_flips"].default  # label changes that make a window unstable (0: off)
    max_gap: int = SUGGESTION_PARAMS["max_gap"].default  # unmarked windows allowed between two marked ones
    min_windows: int = SUGGESTION_PARAMS["min_windows"].default  # spans shorter than this are dropped
    score: str = "least_confidence"
    max_spans: int = SUGGESTION_PARAMS["max_spans"].default  # per round, after ranking (0: all)

    def __post_init__(self) -> None:
        for name, param in SUGGESTION_PARAMS.items():
            object.__setattr__(self, name, param.check(getattr(self, name)))
        if self.score not in SCORES:
            raise InputError(f"score {self.score!r} unknown; choose one of {', '.join(SCORES)}", param="score")

    def as_dict(self) -> dict:
        return {
            "min_confidence": self.min_confidence,
            "min_margin": self.min_margin,
            "neighbourhood": self.neighbourhood,
            "min_flips": self.min_flips,
            "max_gap": self.max_gap,
            "min_windows": self.min_windows,
            "score": self.score,
            "max_spans": self.max_spans,
        }


@dataclass(frozen=True)
class WindowScores:
    """Per-window figures of one video's predictions."""

    predicted: np.ndarray  # (n,) class index
    p_max: np.ndarray
    margin: np.ndarray  # p_max − p_second
    entropy: np.ndarray  # normalised to 0..1
    flips: np.ndarray  # label changes within the neighbourhood

    def score(self, name: str) -> np.ndarray:
        if name == "least_confidence":
            return 1.0 - self.p_max
        if name == "margin":
            return 1.0 - self.margin
        return self.entropy


@dataclass(frozen=True)
class SuggestedSpan:
    """Windows ``first..last`` (inclusive) of one video, merged because they were marked."""

    source: str  # which video (the caller's key)
    first: int
    last: int
    start: float  # seconds: where the first window's central slice starts
    end: float  # where the last window's central slice ends
    label: str
    label_index: int
    confidence: float  # mean probability of ``label`` over the span's windows
    uncertainty: float  # mean score over the span's windows (higher: less sure)
    entropy: float  # mean normalised entropy, whatever the score
    reasons: tuple[str, ...]  # which tests marked at least one of its windows
    rank: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def windows(self) -> int:
        return self.last - self.first + 1


def _check_probabilities(probabilities: np.ndarray) -> np.ndarray:
    p = np.asarray(probabilities, np.float64)
    if p.ndim != 2 or p.shape[1] < 2:
        raise InputError(f"expected (windows, classes) probabilities with at least two classes, got {p.shape}")
    if len(p) and (not np.isfinite(p).all() or (p < -1e-9).any()):
        raise InputError("probabilities must be finite and non-negative")
    return p


def label_flips(predicted: np.ndarray, neighbourhood: int) -> np.ndarray:
    """For each window, how often the predicted label changes within ``±neighbourhood`` windows."""
    n = len(predicted)
    if n == 0:
        return np.zeros(0, np.int64)
    changes = np.concatenate([[0], (predicted[1:] != predicted[:-1]).astype(np.int64)])  # change into window i
    cumulative = np.cumsum(changes)
    low = np.clip(np.arange(n) - neighbourhood, 0, n - 1)
    high = np.clip(np.arange(n) + neighbourhood, 0, n - 1)
    # changes strictly inside the neighbourhood: into windows low+1 .. high
    return cumulative[high] - cumulative[low]


def window_scores(probabilities: np.ndarray, *, neighbourhood: int = 2) -> WindowScores:
    p = _check_probabilities(probabilities)
    n, k = p.shape
    if n == 0:
        empty = np.zeros(0)
        return WindowScores(np.zeros(0, np.int64), empty, empty, empty, np.zeros(0, np.int64))
    totals = p.sum(axis=1, keepdims=True)
    p = np.divide(p, totals, out=np.full_like(p, 1.0 / k), where=totals > 0)
    ordered = np.sort(p, axis=1)
    predicted = p.argmax(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(p > 0, np.log(p), 0.0)
    entropy = -(p * logs).sum(axis=1) / np.log(k)
    return WindowScores(
        predicted=predicted,
        p_max=ordered[:, -1],
        margin=ordered[:, -1] - ordered[:, -2],
        entropy=np.clip(entropy, 0.0, 1.0),
        flips=label_flips(predicted, neighbourhood),
    )


def mark_windows(scores: WindowScores, spec: SuggestionSpec) -> dict[str, np.ndarray]:
    """{reason: (n,) bool} for each test; a window is marked when any is true."""
    unstable = scores.flips >= spec.min_flips if spec.min_flips > 0 else np.zeros(len(scores.p_max), bool)
    return {
        "low_confidence": scores.p_max < spec.min_confidence,
        "small_margin": scores.margin < spec.min_margin,
        "unstable": unstable,
    }


def merge_marked(marked: np.ndarray, *, max_gap: int = 0) -> list[tuple[int, int]]:
    """Inclusive (first, last) runs of marked windows, bridging up to ``max_gap`` unmarked ones."""
    runs: list[tuple[int, int]] = []
    for i in np.flatnonzero(np.asarray(marked, bool)).tolist():
        if runs and i - runs[-1][1] - 1 <= max_gap:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs


def find_spans(
    starts: np.ndarray,
    probabilities: np.ndarray,
    labels: Sequence[str],
    *,
    window_sec: float,
    step_sec: float | None = None,
    spec: SuggestionSpec | None = None,
    source: str = "",
) -> list[SuggestedSpan]:
    """The uncertain spans of one video's window predictions, in time order (not yet ranked).

    Parameters
    ----------
    starts : array of shape (n,)
        Window start times (seconds).
    probabilities : array of shape (n, classes)
    labels : sequence of str
        Class names in column order.
    window_sec : float
    step_sec : float, optional
        Defaults to the spacing of ``starts`` (``window_sec`` for a single window).
    spec : SuggestionSpec, optional
        Thresholds and span lengths (the defaults when left out).
    source : str
        The feature file or video the predictions came from, recorded on each span.

    Returns
    -------
    list of SuggestedSpan
    """
    spec = spec or SuggestionSpec()
    p = _check_probabilities(probabilities)
    starts = np.asarray(starts, np.float64)
    if len(starts) != len(p):
        raise InputError(f"{len(starts)} window starts but {len(p)} probability rows")
    if p.shape[1] != len(labels):
        raise InputError(f"{p.shape[1]} probability columns but {len(labels)} labels")
    scores = window_scores(p, neighbourhood=spec.neighbourhood)
    marks = mark_windows(scores, spec)
    marked = np.logical_or.reduce(list(marks.values())) if len(p) else np.zeros(0, bool)
    score = scores.score(spec.score)
    if step_sec is None:
        step_sec = float(np.median(np.diff(starts))) if len(starts) > 1 else window_sec
    half = min(step_sec, window_sec) / 2
    centres = starts + window_sec / 2
    totals = p.sum(axis=1, keepdims=True)
    p = np.divide(p, totals, out=np.full_like(p, 1.0 / p.shape[1]), where=totals > 0)
    spans = []
    for first, last in merge_marked(marked, max_gap=spec.max_gap):
        if last - first + 1 < spec.min_windows:
            continue
        inside = slice(first, last + 1)
        mean_p = p[inside].mean(axis=0)
        best = int(mean_p.argmax())
        spans.append(
            SuggestedSpan(
                source=source,
                first=first,
                last=last,
                start=float(centres[first] - half),
                end=float(centres[last] + half),
                label=str(labels[best]),
                label_index=best,
                confidence=float(mean_p[best]),
                uncertainty=float(score[inside].mean()),
                entropy=float(scores.entropy[inside].mean()),
                reasons=tuple(r for r in REASONS if marks[r][inside].any()),
            )
        )
    return spans


def rank_spans(spans: Sequence[SuggestedSpan], *, max_spans: int = 0) -> list[SuggestedSpan]:
    """Most uncertain first (ties: longer first, then earlier); ranks 1..n; the top ``max_spans``."""
    from dataclasses import replace

    ordered = sorted(spans, key=lambda s: (-round(s.uncertainty, 12), -s.windows, s.source, s.start))
    if max_spans:
        ordered = ordered[:max_spans]
    return [replace(span, rank=i) for i, span in enumerate(ordered, start=1)]


def span_frames(start: float, end: float, t: np.ndarray, frame_index: np.ndarray) -> tuple[int, int]:
    """Inclusive (first, last) frame numbers of the feature rows with ``start <= t < end``.

    ``t`` sorted; when no row falls inside (a gap), the rows nearest to ``start`` and ``end``.
    """
    t = np.asarray(t, np.float64)
    frame_index = np.asarray(frame_index)
    if not len(t):
        raise InputError("no feature rows to place the span on")
    lo = int(np.searchsorted(t, start - 1e-9, side="left"))
    hi = int(np.searchsorted(t, end - 1e-9, side="left")) - 1
    lo = min(lo, len(t) - 1)
    hi = max(min(hi, len(t) - 1), lo)
    return int(frame_index[lo]), int(frame_index[hi])
