"""Sliding windows by time, window labels, leakage-safe splits, z-scoring and balancing.

Pure functions over arrays; ``dataset.py`` strings them together into a dataset build.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .errors import InputError
from .params import Param, params_table

SPLITS = ("train", "val", "test")
UNLABELLED = -1
MAX_WINDOW_FRAMES = 10_000  # window_sec × resample_fps: frames sampled per window

WINDOW_PARAMS = params_table(
    Param("window_sec", 2.0, 0.01, 3600.0, float, "window length", "s"),
    Param("step_sec", 0.5, 0.001, 3600.0, float, "hop between window starts", "s"),
    Param("resample_fps", 15.0, 0.01, 1000.0, float, "frames per second sampled inside a window"),
    Param("min_purity", 0.6, 0.01, 1.0, float, "share of a window's frames its majority label must cover"),
)


@dataclass(frozen=True)
class WindowSpec:
    window_sec: float = WINDOW_PARAMS["window_sec"].default
    step_sec: float = WINDOW_PARAMS["step_sec"].default
    resample_fps: float = WINDOW_PARAMS["resample_fps"].default  # whatever each source's frame rate
    min_purity: float = WINDOW_PARAMS["min_purity"].default
    max_gap_factor: float = 2.5  # a hole longer than this × the usual frame interval breaks a window

    def __post_init__(self) -> None:
        for name, param in WINDOW_PARAMS.items():
            object.__setattr__(self, name, param.check(getattr(self, name)))
        if self.window_sec * self.resample_fps > MAX_WINDOW_FRAMES:
            raise InputError(
                f"window_sec: {self.window_sec:g} s at resample_fps {self.resample_fps:g} is "
                f"{self.window_sec * self.resample_fps:,.0f} frames per window; at most {MAX_WINDOW_FRAMES:,}",
                param="window_sec",
            )

    @property
    def frames(self) -> int:
        return max(2, round(self.window_sec * self.resample_fps))


@dataclass
class VideoWindows:
    """The kept windows of one feature file and what was dropped, with why."""

    video_id: str
    starts: np.ndarray  # (n,) window start times, seconds
    codes: np.ndarray  # (n,) label codes into the label list passed in
    rows: np.ndarray  # (n, frames) row of the source table sampled at each window frame
    dropped: dict[str, int] = field(default_factory=dict)


def median_interval(t: np.ndarray) -> float:
    d = np.diff(t)
    d = d[d > 0]
    return float(np.median(d)) if len(d) else 0.0


def make_windows(t: np.ndarray, codes: np.ndarray, n_classes: int, spec: WindowSpec, video_id: str) -> VideoWindows:
    """Windows over one video's timeline ``t`` (sorted) with frame label ``codes`` (-1 unlabelled).

    A window covers [start, start + window_sec). It is dropped when it has a hole in time
    (``gap``), when most of its frames are unlabelled (``unlabelled``), or when its majority
    label covers less than ``min_purity`` of its frames (``ambiguous``).
    """
    dropped = {"gap": 0, "unlabelled": 0, "ambiguous": 0}
    empty = VideoWindows(video_id, np.zeros(0), np.zeros(0, np.int64), np.zeros((0, spec.frames), np.int64), dropped)
    starts = window_starts(t, spec)
    if not len(starts):
        return empty
    max_gap = spec.max_gap_factor * median_interval(t)
    ends = starts + spec.window_sec
    lo = np.searchsorted(t, starts, side="left")
    hi = np.searchsorted(t, ends, side="left")  # frames lo..hi-1 lie in the window

    # Holes: before the first frame, between frames, after the last frame of each window.
    gaps = np.diff(t)
    ok = hi > lo
    ok &= np.where(ok, t[np.minimum(lo, len(t) - 1)] - starts <= max_gap, False)
    ok &= np.where(ok, ends - t[np.maximum(hi - 1, 0)] <= max_gap, False)
    # A hole between frames lo..hi-1: a large gap among gaps[lo : hi - 1], counted from a running sum.
    holes = np.concatenate([[0], np.cumsum(gaps > max_gap)])
    inner = np.where(ok, holes[np.maximum(hi - 1, lo)] - holes[lo], 0)
    ok &= inner == 0
    dropped["gap"] = int((~ok).sum())

    # Label counts per window from cumulative counts per class (unlabelled as its own column).
    onehot = np.zeros((len(t) + 1, n_classes + 1), np.int64)
    onehot[np.arange(1, len(t) + 1), np.where(codes >= 0, codes, n_classes)] = 1
    cumulative = np.cumsum(onehot, axis=0)
    counts = cumulative[hi] - cumulative[lo]  # (windows, classes + 1)
    totals = np.maximum(counts.sum(axis=1), 1)
    labelled = counts[:, :n_classes]
    majority = labelled.argmax(axis=1) if n_classes else np.zeros(len(starts), np.int64)
    majority_share = labelled.max(axis=1) / totals if n_classes else np.zeros(len(starts))
    unlabelled = counts[:, n_classes] * 2 > totals
    dropped["unlabelled"] = int((ok & unlabelled).sum())
    ambiguous = ~unlabelled & (majority_share < spec.min_purity)
    dropped["ambiguous"] = int((ok & ambiguous).sum())
    keep = ok & ~unlabelled & ~ambiguous

    starts = starts[keep]
    return VideoWindows(
        video_id, starts, majority[keep].astype(np.int64), nearest_rows(t, window_grid(starts, spec)), dropped
    )


def window_starts(t: np.ndarray, spec: WindowSpec) -> np.ndarray:
    """Starts ``t0 + k × step`` of every window that fits a timeline ``t`` (sorted).

    The last window may end up to one frame interval after the last frame.
    """
    if len(t) < 2:
        return np.zeros(0)
    dt = median_interval(t)
    last_start = t[-1] + dt - spec.window_sec
    if dt <= 0 or last_start < t[0]:
        return np.zeros(0)
    return t[0] + spec.step_sec * np.arange(int(np.floor((last_start - t[0]) / spec.step_sec + 1e-9)) + 1)


def window_grid(starts: np.ndarray, spec: WindowSpec) -> np.ndarray:
    """(n, frames) sample times of windows starting at ``starts``: the centres of equal slots."""
    return np.asarray(starts, np.float64)[..., None] + (np.arange(spec.frames) + 0.5) * (spec.window_sec / spec.frames)


def nearest_rows(t: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Index of the frame nearest in time to each entry of ``times`` (any shape)."""
    right = np.clip(np.searchsorted(t, times), 1, len(t) - 1)
    left = right - 1
    return np.where(times - t[left] <= t[right] - times, left, right)


# --------------------------------------------------------------------------- splits


def temporal_block_splits(
    starts: np.ndarray, t_first: float, t_end: float, window_sec: float, ratios: tuple[float, float, float]
) -> np.ndarray:
    """Split one video's windows into contiguous time blocks train | val | test.

    Blocks are separated by a gap of at least one window, so no frame and no neighbouring
    moment is shared across splits. Windows in the gaps get split ``""`` (dropped).
    """
    duration = t_end - t_first
    bounds = t_first + duration * np.cumsum(ratios)[:2]
    out = np.full(len(starts), "", dtype=object)
    ends = starts + window_sec
    out[ends <= bounds[0]] = "train"
    val_from = bounds[0] + window_sec if ratios[0] > 0 else t_first
    out[(starts >= val_from) & (ends <= bounds[1]) & (ratios[1] > 0)] = "val"
    test_from = (bounds[1] if ratios[1] > 0 else bounds[0]) + window_sec
    out[(starts >= test_from) & (ratios[2] > 0)] = "test"
    return out


def video_level_splits(
    video_classes: dict[str, np.ndarray], ratios: tuple[float, float, float], seed: int, candidates: int = 200
) -> dict[str, str]:
    """Assign whole videos to splits: seeded, and among ``candidates`` shuffles the one whose
    train split holds every class and whose val/test hold the most classes, with window
    shares closest to the ratios."""
    videos = sorted(video_classes)
    n = len(videos)
    want = [r > 0 for r in ratios]
    counts = [0, 0, 0]
    for i in (2, 1):
        counts[i] = max(1, round(ratios[i] * n)) if want[i] else 0
    counts[0] = n - counts[1] - counts[2]
    if counts[0] < 1:
        raise InputError(f"{n} videos are too few for a video-level split with ratios {ratios}")
    all_classes = set().union(*(set(c.tolist()) for c in video_classes.values()))
    sizes = {v: len(video_classes[v]) for v in videos}
    total = max(sum(sizes.values()), 1)
    rng = np.random.default_rng(seed)
    best, best_score = None, None
    for _ in range(candidates):
        order = rng.permutation(n)
        assignment: dict[str, str] = {}
        pos = 0
        for split, count in zip(SPLITS, counts, strict=True):
            for j in order[pos : pos + count]:
                assignment[videos[j]] = split
            pos += count
        classes = {s: set() for s in SPLITS}
        share = dict.fromkeys(SPLITS, 0)
        for v, split in assignment.items():
            classes[split] |= set(video_classes[v].tolist())
            share[split] += sizes[v]
        score = (
            len(all_classes - classes["train"]),
            sum(len(all_classes - classes[s]) for s in ("val", "test") if want[SPLITS.index(s)]),
            sum(abs(share[s] / total - r) for s, r in zip(SPLITS, ratios, strict=True)),
        )
        if best_score is None or score < best_score:
            best, best_score = assignment, score
    return best


# --------------------------------------------------------------------------- scaling, balance


def fit_scaler(x: np.ndarray, chunk: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and std over windows and frames of ``x`` (n, T, F), ignoring NaN.

    Chunked so that memory stays flat however large ``x`` is. Constant or all-missing
    features get scale 1 (and mean 0 when all missing).
    """
    n_features = x.shape[-1]
    total = np.zeros(n_features)
    squares = np.zeros(n_features)
    count = np.zeros(n_features)
    for i in range(0, len(x), chunk):
        block = x[i : i + chunk].reshape(-1, n_features).astype(np.float64)
        present = ~np.isnan(block)
        block = np.where(present, block, 0.0)
        total += block.sum(axis=0)
        squares += (block * block).sum(axis=0)
        count += present.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / count, 0.0)
        var = np.where(count > 0, squares / count - mean * mean, 0.0)
    scale = np.sqrt(np.maximum(var, 0.0))
    scale = np.where(scale > 1e-8, scale, 1.0)
    return mean.astype(np.float32), scale.astype(np.float32)


def apply_scaler(x: np.ndarray, mean: np.ndarray, scale: np.ndarray, chunk: int = 4096) -> None:
    """Z-score ``x`` in place; missing values become 0 (the training mean) after scaling."""
    for i in range(0, len(x), chunk):
        block = x[i : i + chunk]
        block -= mean
        block /= scale
        np.nan_to_num(block, copy=False, nan=0.0, posinf=0.0, neginf=0.0)


def balance_indices(y: np.ndarray, method: str, seed: int) -> np.ndarray:
    """Row indices of a class-balanced version of ``y`` (seeded; for the train split only)."""
    if method == "none" or len(y) == 0:
        return np.arange(len(y))
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(y, return_counts=True)
    target = counts.min() if method == "downsample" else counts.max()
    parts = []
    for c in classes:
        members = np.flatnonzero(y == c)
        if method == "downsample":
            parts.append(rng.choice(members, size=target, replace=False))
        else:
            extra = rng.choice(members, size=target - len(members), replace=True)
            parts.append(np.concatenate([members, extra]))
    return np.sort(np.concatenate(parts))


BALANCE_METHODS = ("none", "downsample", "upsample")
