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
    """The kept windows of one video's timeline, and what was dropped and why.

    A window covers [start, start + window_sec). It is dropped when it has a hole in time
    (``gap``), when most of its frames are unlabelled (``unlabelled``), or when its majority
    label covers less than ``min_purity`` of its frames (``ambiguous``).

    Parameters
    ----------
    t : array of shape (rows,)
        The rows' times, sorted (seconds).
    codes : array of shape (rows,)
        Each row's label code (-1 unlabelled).
    n_classes : int
    spec : WindowSpec
    video_id : str

    Returns
    -------
    VideoWindows
        Starts, window label codes, the row sampled at each window frame, and the drop counts.
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
    """Starts ``t0 + k × step`` of every window that fits a timeline (the last may end up to one
    frame interval after the last frame).

    Parameters
    ----------
    t : array of shape (rows,)
        Sorted times (seconds).
    spec : WindowSpec

    Returns
    -------
    array of shape (n,)
    """
    if len(t) < 2:
        return np.zeros(0)
    dt = median_interval(t)
    last_start = t[-1] + dt - spec.window_sec
    if dt <= 0 or last_start < t[0]:
        return np.zeros(0)
    return t[0] + spec.step_sec * np.arange(int(np.floor((last_start - t[0]) / spec.step_sec + 1e-9)) + 1)


def window_grid(starts: np.ndarray, spec: WindowSpec) -> np.ndarray:
    """The sample times of windows: the centres of ``spec.frames`` equal slots of each.

    Parameters
    ----------
    starts : array of shape (n,)
    spec : WindowSpec

    Returns
    -------
    array of shape (n, spec.frames)
    """
    return np.asarray(starts, np.float64)[..., None] + (np.arange(spec.frames) + 0.5) * (spec.window_sec / spec.frames)


def nearest_rows(t: np.ndarray, times: np.ndarray) -> np.ndarray:
    """The index of the row nearest in time to each requested time.

    Parameters
    ----------
    t : array of shape (rows,)
        Sorted row times.
    times : array of any shape

    Returns
    -------
    array of int, the shape of ``times``
    """
    right = np.clip(np.searchsorted(t, times), 1, len(t) - 1)
    left = right - 1
    return np.where(times - t[left] <= t[right] - times, left, right)


# --------------------------------------------------------------------------- splits


# A video is cut into blocks of at least this many windows' length; at most this many blocks each.
MIN_BLOCK_WINDOWS = 2.0
MAX_BLOCKS_PER_VIDEO = 20


@dataclass(frozen=True)
class BlockTimeline:
    """One video's windows for a block split: their starts, label codes and the block edges."""

    video_id: str
    starts: np.ndarray
    codes: np.ndarray
    edges: np.ndarray  # (blocks + 1,) block boundaries in seconds, first = the video's start


def block_edges(t_first: float, t_end: float, window_sec: float) -> np.ndarray:
    """Equal blocks over [t_first, t_end], each at least MIN_BLOCK_WINDOWS windows long."""
    duration = max(t_end - t_first, 0.0)
    count = int(min(MAX_BLOCKS_PER_VIDEO, max(1, np.floor(duration / (MIN_BLOCK_WINDOWS * window_sec) + 1e-9))))
    return t_first + duration * np.arange(count + 1) / count


def _block_window_splits(video: BlockTimeline, block_split: np.ndarray, window_sec: float) -> np.ndarray:
    """Each window's split under one assignment of blocks to splits ("" = dropped).

    Neighbouring blocks of the same split form one run. A window is kept when it lies inside one
    run and, unless its run opens the video, starts at least one window after the run begins:
    windows of different splits are separated by a gap of at least one window.
    """
    edges = video.edges
    n_blocks = len(edges) - 1
    first = np.clip(np.searchsorted(edges, video.starts, side="right") - 1, 0, n_blocks - 1)
    last = np.clip(np.searchsorted(edges, video.starts + window_sec - 1e-9, side="right") - 1, 0, n_blocks - 1)
    change = np.concatenate([[True], block_split[1:] != block_split[:-1]])
    run = np.cumsum(change) - 1
    run_start = edges[:-1][change][run]  # start time of each block's run
    ok = run[first] == run[last]
    ok &= (run[first] == 0) | (video.starts >= run_start[first] + window_sec - 1e-9)
    return np.where(ok, block_split[first], "").astype(object)


def block_split_search(
    videos: list[BlockTimeline],
    ratios: tuple[float, float, float],
    window_sec: float,
    seed: int,
    candidates: int = 400,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Assign every video's time blocks to train/val/test by a seeded search.

    Among ``candidates`` seeded random assignments (and the plain ordered train | val | test
    layout) it keeps the one whose train split holds the most classes, then val and test the
    most classes, then whose window shares are closest to the ratios and lose the fewest
    windows at split boundaries.

    Parameters
    ----------
    videos : list of BlockTimeline
        Each video's window starts and codes, and its block edges.
    ratios : (float, float, float)
        Train, val and test shares.
    window_sec : float
    seed : int
    candidates : int

    Returns
    -------
    by_window : dict of str to array
        {video_id: split of each window} ("" for a window dropped at a split boundary).
    by_block : dict of str to array
        {video_id: split of each block}.

    Raises
    ------
    InputError
        Fewer blocks than the splits wanted.
    """
    want = [s for s, r in zip(SPLITS, ratios, strict=True) if r > 0]
    total_blocks = sum(len(v.edges) - 1 for v in videos)
    if total_blocks < len(want):
        raise InputError(f"{total_blocks} block(s) of time are too few for {len(want)} splits")
    all_classes = set().union(*(set(v.codes.tolist()) for v in videos))
    total_windows = max(sum(len(v.starts) for v in videos), 1)
    probabilities = np.array([r for r in ratios if r > 0], np.float64)
    probabilities /= probabilities.sum()
    rng = np.random.default_rng(seed)

    def ordered() -> list[np.ndarray]:
        out = []
        for v in videos:
            n = len(v.edges) - 1
            bounds = np.cumsum(ratios)[:2] * n
            index = np.arange(n) + 0.5
            names = np.where(index < bounds[0], "train", np.where(index < bounds[1], "val", "test"))
            out.append(names.astype(object))
        return out

    def random_layout() -> list[np.ndarray]:
        drawn = rng.choice(len(want), size=total_blocks, p=probabilities)
        # Every wanted split gets at least one block: overwrite distinct random blocks.
        forced = rng.permutation(total_blocks)[: len(want)]
        drawn[forced] = np.arange(len(want))
        names = np.array(want, dtype=object)[drawn]
        out, pos = [], 0
        for v in videos:
            n = len(v.edges) - 1
            out.append(names[pos : pos + n])
            pos += n
        return out

    best, best_score = None, None
    for i in range(candidates + 1):
        layout = ordered() if i == 0 else random_layout()
        windows = [_block_window_splits(v, blocks, window_sec) for v, blocks in zip(videos, layout, strict=True)]
        classes = {s: set() for s in SPLITS}
        count = dict.fromkeys(SPLITS, 0)
        for v, split in zip(videos, windows, strict=True):
            for s in want:
                chosen = split == s
                classes[s] |= set(v.codes[chosen].tolist())
                count[s] += int(chosen.sum())
        kept = max(sum(count.values()), 1)
        score = (
            any(count[s] == 0 for s in want),
            len(all_classes - classes["train"]),
            sum(len(all_classes - classes[s]) for s in want if s != "train"),
            sum(abs(count[s] / kept - r) for s, r in zip(SPLITS, ratios, strict=True))
            + (total_windows - kept) / total_windows,
        )
        if best_score is None or score < best_score:
            best, best_score = (windows, layout), score
    windows, layout = best
    return (
        {v.video_id: w for v, w in zip(videos, windows, strict=True)},
        {v.video_id: b for v, b in zip(videos, layout, strict=True)},
    )


def video_level_splits(
    video_classes: dict[str, np.ndarray], ratios: tuple[float, float, float], seed: int, candidates: int = 200
) -> dict[str, str]:
    """Assign whole videos to splits: seeded, and among ``candidates`` shuffles the one whose
    train split holds every class and whose val/test hold the most classes, with window
    shares closest to the ratios.

    Parameters
    ----------
    video_classes : dict of str to array
        {video_id: the label codes of its kept windows}.
    ratios : (float, float, float)
    seed : int
    candidates : int

    Returns
    -------
    dict of str to str
        {video_id: "train" | "val" | "test"}.
    """
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
    """Per-feature mean and std over windows and frames, ignoring NaN.

    Chunked so that memory stays flat however large ``x`` is. Constant or all-missing
    features get scale 1 (and mean 0 when all missing).

    Parameters
    ----------
    x : array of shape (n, T, F)
    chunk : int
        Windows per step.

    Returns
    -------
    mean, scale : arrays of shape (F,), float32
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
    """Z-score windows in place; missing values become 0 (the training mean) after scaling.

    Parameters
    ----------
    x : array of shape (n, T, F), float32
        Changed in place.
    mean, scale : arrays of shape (F,)
        From :func:`fit_scaler` on the train split.
    chunk : int
        Windows per step.
    """
    for i in range(0, len(x), chunk):
        block = x[i : i + chunk]
        block -= mean
        block /= scale
        np.nan_to_num(block, copy=False, nan=0.0, posinf=0.0, neginf=0.0)


def balance_indices(y: np.ndarray, method: str, seed: int) -> np.ndarray:
    """Row indices of a class-balanced version of ``y`` (seeded; for the train split only).

    Parameters
    ----------
    y : array of int
    method : {"none", "downsample", "upsample"}
        ``downsample`` keeps the smallest class's count of each class, ``upsample`` repeats rows
        up to the largest's.
    seed : int

    Returns
    -------
    array of int
        Sorted indexes into ``y`` (repeated ones with ``upsample``; all of them for ``none``).
    """
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
