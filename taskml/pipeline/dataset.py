"""Feature files → windowed dataset (X/y npy per split + metadata.json), leakage-safe.

Two passes keep memory at about the size of the output arrays: the first reads only the
timestamps and labels to place windows and splits, the second fills preallocated arrays.
"""

from __future__ import annotations

import csv
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .contracts import DatasetMetadata
from .errors import InputError
from .estimates import check_dataset_size, estimate_dataset
from .extraction import read_features_metadata
from .features import ALL_FEATURE_COLUMNS, DATASET_GROUPS, FEATURE_GROUPS, OTHER_GROUP, RESERVED_COLUMNS
from .files import atomic_dir, sha256_file, write_json
from .leakage import leakage_audit
from .params import SEED, Param, params_table
from .windows import (
    BALANCE_METHODS,
    SPLITS,
    WINDOW_PARAMS,
    BlockTimeline,
    VideoWindows,
    WindowSpec,
    apply_scaler,
    balance_indices,
    block_edges,
    block_split_search,
    fit_scaler,
    make_windows,
    median_interval,
    video_level_splits,
)

DATASET_FORMAT_VERSION = 1
ProgressCallback = Callable[[int, int], None]
DEFAULT_GROUPS = ("pose", "hands", "objects")
# Shorter windows a refused build tries, longest first, to say what would work.
SUGGESTED_WINDOWS = (60.0, 30.0, 20.0, 10.0, 5.0, 3.0, 2.0, 1.5, 1.0, 0.75, 0.5, 0.25)
# Up to this many videos, a split by whole videos that leaves a split without a class gives way to
# time blocks when they do better; beyond it, whole videos are kept (an honest test of new videos).
FEW_VIDEOS = 5
SPLIT_NOTES = {
    "video": "whole videos assigned to splits by a seeded search (every split holding every class where possible)",
    "explicit": "whole videos assigned to splits by the splits file",
    "temporal_blocks": "one recording or a few: each video is cut into time blocks (at least two windows long) "
    "assigned to train/val/test by a seeded search so that every split holds every class where the data allows "
    f"(used with fewer videos than splits, or with at most {FEW_VIDEOS} videos when whole videos would leave a split "
    "without a class); windows of different splits are separated by a gap of at least one window",
}


class PlanRefused(InputError):
    """A build that cannot be made as asked, with the parameters that would work (or None)."""

    def __init__(self, message: str, suggestion: dict | None = None, *, param: str | None = None) -> None:
        super().__init__(message, param=param)
        self.suggestion = suggestion


PROGRESS_STEPS = 1000  # build_dataset reports progress(done, 1000)
FILL_CHUNK_VALUES = 16_000_000  # windows copied per step × frames × features: ~64 MB, well under a second


RATIO_PARAMS = params_table(
    Param("train_ratio", 0.7, 0.0, 1.0, float, "share of the windows (or videos) for training"),
    Param("val_ratio", 0.15, 0.0, 1.0, float, "share for validation"),
    Param("test_ratio", 0.15, 0.0, 1.0, float, "share for the test"),
)
# Every numeric parameter of a dataset build, by the name the API, /backend/ and the CLI give it.
DATASET_PARAMS = {**WINDOW_PARAMS, **RATIO_PARAMS, "seed": SEED}
DEFAULT_BALANCE = "none"


@dataclass(frozen=True)
class DatasetSpec:
    window: WindowSpec = field(default_factory=WindowSpec)
    balance: str = DEFAULT_BALANCE
    ratios: tuple[float, float, float] = tuple(p.default for p in RATIO_PARAMS.values())
    seed: int = SEED.default
    groups: tuple[str, ...] = DEFAULT_GROUPS
    splits: dict[str, str] | None = None  # explicit video_id → split, overrides the ratios

    def __post_init__(self) -> None:
        if self.balance not in BALANCE_METHODS:
            raise InputError(
                f"balance_method {self.balance!r} unknown; choose one of {', '.join(BALANCE_METHODS)}",
                param="balance_method",
            )
        if len(self.ratios) != 3:
            raise InputError(f"give three ratios (train, val, test), got {self.ratios}", param="train_ratio")
        ratios = tuple(param.check(r) for param, r in zip(RATIO_PARAMS.values(), self.ratios, strict=True))
        object.__setattr__(self, "ratios", ratios)
        if abs(sum(self.ratios) - 1) > 1e-6:
            raise InputError(f"train/val/test ratios must sum to 1, got {sum(self.ratios):g}", param="train_ratio")
        if self.ratios[0] <= 0:
            raise InputError("train_ratio must be positive", param="train_ratio")
        object.__setattr__(self, "seed", SEED.check(self.seed))
        if self.splits is not None:
            bad = sorted({s for s in self.splits.values() if s not in SPLITS})
            if bad:
                raise InputError(
                    f"split names {', '.join(map(repr, bad))} unknown; use train, val or test", param="splits"
                )
        unknown = [g for g in self.groups if g not in DATASET_GROUPS]
        if unknown or not self.groups:
            raise InputError(
                f"feature groups {unknown or '(none)'} unknown; choose from {', '.join(DATASET_GROUPS)}", param="groups"
            )

    @classmethod
    def defaults(cls) -> dict:
        """The build parameters a request leaves out, by the names requests give them."""
        return {
            **{name: param.default for name, param in DATASET_PARAMS.items()},
            "balance_method": DEFAULT_BALANCE,
            "groups": None,  # the known groups (``FEATURE_GROUPS``)
        }

    @property
    def feature_names(self) -> list[str]:
        """The columns of the known groups (``other`` depends on the files: see resolve_feature_names)."""
        return [c for g in FEATURE_GROUPS if g in self.groups for c in FEATURE_GROUPS[g]]


def other_columns(path: Path) -> list[str]:
    """Numeric columns of a features file outside the known groups and the identifying columns."""
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError):
        raise InputError(f"{path.name} is not a Parquet features file") from None
    known = set(ALL_FEATURE_COLUMNS) | RESERVED_COLUMNS
    return [
        f.name for f in schema if f.name not in known and (pa.types.is_floating(f.type) or pa.types.is_integer(f.type))
    ]


def with_groups_for(spec: DatasetSpec, paths: Sequence[Path]) -> tuple[DatasetSpec, str | None]:
    """The spec with ``groups=("other",)`` when the first file holds none of the known feature
    columns but numeric columns of its own (someone's sensor channels), and a note saying so.

    Only the default groups are replaced; groups asked for by name that the file lacks are an
    error that says to use ``other``.

    Parameters
    ----------
    spec : DatasetSpec
    paths : sequence of Path
        The feature files (the first one decides).

    Returns
    -------
    spec : DatasetSpec
        ``spec``, or ``spec`` with ``groups=("other",)``.
    note : str or None
        Why the groups were replaced (None when they were not).

    Raises
    ------
    InputError
        Groups asked for by name that the file lacks, while it has numeric columns of its own.
    """
    if not paths or not Path(paths[0]).is_file() or OTHER_GROUP in spec.groups:
        return spec, None
    try:
        names = set(pq.read_schema(paths[0]).names)
    except (pa.ArrowInvalid, OSError):
        return spec, None  # _open_source says what is wrong with the file
    if names & set(spec.feature_names):
        return spec, None
    extra = other_columns(Path(paths[0]))
    if not extra:
        return spec, None
    if tuple(spec.groups) != DEFAULT_GROUPS:
        raise InputError(
            f"{Path(paths[0]).name} has none of the {', '.join(spec.groups)} columns but {len(extra)} numeric "
            f"column(s) of its own ({', '.join(extra[:3])}{'…' if len(extra) > 3 else ''}); use --groups other"
        )
    note = (
        f"{Path(paths[0]).name} has none of the pose/hands/objects columns: its own {len(extra)} numeric "
        "column(s) were used (--groups other)"
    )
    return replace(spec, groups=(OTHER_GROUP,)), note


def resolve_feature_names(spec: DatasetSpec, paths: Sequence[Path]) -> list[str]:
    """The dataset's columns: the known groups', then (group ``other``) the numeric columns of the
    first file outside them, in file order; every file must hold them all (checked when opened).

    Parameters
    ----------
    spec : DatasetSpec
    paths : sequence of Path

    Returns
    -------
    list of str

    Raises
    ------
    InputError
        Group ``other`` asked for and the first file is missing or has no column of its own.
    """
    names = spec.feature_names
    if OTHER_GROUP in spec.groups and paths:
        if not Path(paths[0]).is_file():
            raise InputError(f"features file not found: {paths[0]}")
        extra = other_columns(Path(paths[0]))
        if not extra:
            raise InputError(f"{Path(paths[0]).name} has no numeric columns outside the known feature groups")
        names = names + extra
    return names


@dataclass(frozen=True)
class DatasetResult:
    """What :func:`build_dataset` wrote: the directory and its metadata.json."""

    output: Path
    metadata: DatasetMetadata
    seconds: float


def read_splits_csv(path: str | os.PathLike) -> dict[str, str]:
    """``video_id,split`` rows: an explicit assignment of whole videos to train/val/test.

    Parameters
    ----------
    path : path-like
        A UTF-8 CSV with the header ``video_id,split``.

    Returns
    -------
    dict of str to str
        {video_id: "train" | "val" | "test"}, for ``DatasetSpec(splits=...)``.

    Raises
    ------
    InputError
        Naming the file and line: a missing file, another header, an unknown split, a video
        assigned twice, no rows.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"splits file not found: {path}")
    try:
        rows = list(csv.reader(path.read_text(encoding="utf-8-sig").splitlines()))
    except UnicodeDecodeError:
        raise InputError(f"{path.name}: not UTF-8 text") from None
    if not rows or [h.strip().lower() for h in rows[0]] != ["video_id", "split"]:
        raise InputError(f"{path.name} line 1: expected the header video_id,split")
    splits: dict[str, str] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not row or not "".join(row).strip():
            continue
        if len(row) != 2 or row[1].strip().lower() not in SPLITS:
            raise InputError(f"{path.name} line {line}: expected video_id,train|val|test")
        video_id, split = row[0].strip(), row[1].strip().lower()
        if splits.get(video_id, split) != split:
            raise InputError(f"{path.name} line {line}: video {video_id!r} assigned to two splits")
        splits[video_id] = split
    if not splits:
        raise InputError(f"{path.name}: no rows")
    return splits


@dataclass
class _Source:
    path: Path
    video_id: str
    t: np.ndarray
    order: np.ndarray  # sorted row order of the file
    label_strings: np.ndarray
    windows: VideoWindows | None = None
    split_of_window: np.ndarray | None = None


def _open_source(path: Path, feature_names: list[str]) -> _Source:
    if not path.is_file():
        raise InputError(f"features file not found: {path}")
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError):
        raise InputError(f"{path.name} is not a Parquet features file") from None
    missing = [c for c in ("video_id", "t", *feature_names) if c not in schema.names]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise InputError(f"{path.name} lacks columns {shown}; was it written by extract_features?")
    if "label" not in schema.names:
        raise InputError(f"{path.name} has no label column; extract it with --labels")
    table = pq.read_table(path, columns=["video_id", "t", "label"])
    if table.num_rows == 0:
        raise InputError(f"{path.name} has no rows")
    t = table.column("t").to_numpy(zero_copy_only=False).astype(np.float64)
    finite = np.isfinite(t)
    order = np.argsort(np.where(finite, t, np.inf), kind="stable")[: int(finite.sum())]
    # Duplicate timestamps (a frame written twice) keep their first row.
    t_sorted = t[order]
    unique = np.concatenate([[True], np.diff(t_sorted) > 0]) if len(order) else np.zeros(0, bool)
    order = order[unique]
    ids = pc.unique(table.column("video_id")).to_pylist()
    if len(ids) != 1 or not ids[0]:
        raise InputError(f"{path.name}: expected one video_id, found {ids[:3]}")
    labels = np.array(table.column("label").to_pylist(), dtype=object)[order]
    return _Source(path=path, video_id=str(ids[0]), t=t[order], order=order, label_strings=labels)


@dataclass(frozen=True)
class DatasetPlan:
    """Pass 1 of a build: where every window lies, its label and its split, before any feature is read.

    ``build_dataset`` fills its arrays from a plan, and a preview reports one, so the two agree
    by construction. Window codes per split are in output order (sources in the order given,
    windows in time order); ``train_keep`` are the train rows kept by the seeded balancing.
    """

    spec: DatasetSpec
    sources: tuple[_Source, ...]
    label_names: tuple[str, ...]
    strategy: str
    video_ids: tuple[str, ...]
    y_by_split: dict[str, np.ndarray]
    train_keep: np.ndarray
    boundary_dropped: int
    feature_names: tuple[str, ...] = ()
    blocks: dict[str, list[dict]] = field(default_factory=dict)  # temporal_blocks: video_id → blocks
    groups_note: str | None = None

    @property
    def code_of(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.label_names)}

    @property
    def train_balanced(self) -> np.ndarray:
        return self.y_by_split["train"][self.train_keep]

    def distribution(self, y: np.ndarray) -> dict[str, int]:
        """{label: windows} for the labels present in ``y``, in label order."""
        counts = np.bincount(y, minlength=len(self.label_names)) if len(y) else np.zeros(len(self.label_names), int)
        return {name: int(counts[c]) for c, name in enumerate(self.label_names) if counts[c]}

    @property
    def class_counts(self) -> dict[str, dict[str, int]]:
        """{split: {label: windows}} as the built dataset holds them (train after balancing)."""
        return {
            name: self.distribution(self.train_balanced if name == "train" else self.y_by_split[name])
            for name in SPLITS
        }

    @property
    def sizes(self) -> dict[str, int]:
        return {name: sum(counts.values()) for name, counts in self.class_counts.items()}

    @property
    def dropped(self) -> dict[str, int]:
        dropped = {"gap": 0, "unlabelled": 0, "ambiguous": 0}
        for s in self.sources:
            for key, value in s.windows.dropped.items():
                dropped[key] = dropped.get(key, 0) + value
        dropped["split_boundary"] = self.boundary_dropped
        return dropped

    @property
    def split_members(self) -> dict[str, list[str]]:
        members: dict[str, list[str]] = {name: [] for name in SPLITS}
        for s in self.sources:
            for name in SPLITS:
                if (s.split_of_window == name).any() and s.video_id not in members[name]:
                    members[name].append(s.video_id)
        return members

    @property
    def wanted_splits(self) -> list[str]:
        if self.spec.splits is not None:
            return [s for s in SPLITS if s in self.spec.splits.values()]
        return [s for s, r in zip(SPLITS, self.spec.ratios, strict=True) if r > 0]

    @property
    def classes_missing(self) -> dict[str, list[str]]:
        """{split: [labels it holds no window of]} for each split the build makes (empty lists: none lack)."""
        return {
            name: [self.label_names[c] for c in range(len(self.label_names)) if c not in set(y.tolist())]
            for name, y in self.y_by_split.items()
            if name in self.wanted_splits
        }

    @property
    def split_method(self) -> dict:
        """How the windows were split, for metadata.json, the API and the dataset page."""
        method = {
            "strategy": self.strategy,
            "note": SPLIT_NOTES[self.strategy],
            "seed": self.spec.seed,
            "ratios": dict(zip(SPLITS, self.spec.ratios, strict=True)),
        }
        if self.blocks:
            method["blocks"] = self.blocks
        warnings = [
            f"the {name} split lacks {', '.join(missing)}" for name, missing in self.classes_missing.items() if missing
        ]
        if warnings:
            method["warning"] = "; ".join(warnings) + " (the data does not allow every class in every split)"
        return method

    def summary(self) -> dict:
        """What the build would produce, as plain JSON types (a dataset preview)."""
        sizes = self.sizes
        return {
            "labels": list(self.label_names),
            "counts": self.class_counts,
            "counts_before_balance": {name: self.distribution(y) for name, y in self.y_by_split.items()},
            "sizes": sizes,
            "windows": sum(sizes.values()),
            "balance_method": self.spec.balance,
            "split_strategy": self.strategy,
            "split_method": self.split_method,
            "classes_missing": self.classes_missing,
            "feature_groups": list(self.spec.groups),
            "groups_note": self.groups_note,
            "splits": self.split_members,
            "dropped": self.dropped,
            "sources": [
                {
                    "name": s.path.name,
                    "video_id": s.video_id,
                    "rows": len(s.t),
                    "windows_kept": len(s.windows.starts),
                    "windows_dropped": dict(s.windows.dropped),
                }
                for s in self.sources
            ],
        }


def plan_dataset(
    feature_paths: Sequence[str | os.PathLike],
    spec: DatasetSpec | None = None,
    *,
    on_source_read: Callable[[], None] | None = None,
    max_bytes: int | None = None,
    limit_name: str = "the size limit",
) -> DatasetPlan:
    """Pass 1 of a build: read only timestamps and labels, place windows, assign splits, balance train.

    Writes nothing. :func:`build_dataset` fills its arrays from this plan, and a preview reports
    it (``DatasetPlan.summary()``), so the two agree by construction.

    Parameters
    ----------
    feature_paths : sequence of path-like
        Labelled feature files, one video each.
    spec : DatasetSpec, optional
    on_source_read : callable, optional
        Called after each file's timeline is read (a build's progress).
    max_bytes : int, optional
        Refuse (TooLarge) before any window is placed when the X arrays could exceed this
        (counted from each source's duration, see ``estimates.estimate_dataset``).
    limit_name : str
        The name the refusal gives that limit.

    Returns
    -------
    DatasetPlan

    Raises
    ------
    InputError
        For anything the build would refuse (unreadable files, a file given twice, fewer than two
        classes, an incomplete splits file).
    PlanRefused
        Too little data for the splits asked, with the longest shorter window that would work
        (``suggestion``) where there is one.
    TooLarge
        The arrays could exceed ``max_bytes``.
    """
    spec = spec or DatasetSpec()
    paths = [Path(p) for p in feature_paths]
    if not paths:
        raise InputError("no feature files given")
    spec, groups_note = with_groups_for(spec, paths)
    feature_names = resolve_feature_names(spec, paths)
    if len(set(map(os.path.realpath, paths))) != len(paths):
        raise InputError("the same features file is given twice")

    sources = []
    for path in paths:
        sources.append(_open_source(path, feature_names))
        if on_source_read is not None:
            on_source_read()
    if max_bytes is not None:
        durations = [s.t[-1] - s.t[0] + median_interval(s.t) if len(s.t) else 0.0 for s in sources]
        estimate = estimate_dataset(durations, spec.window, len(feature_names))
        check_dataset_size(estimate, spec.window, max_bytes=max_bytes, limit_name=limit_name)
    label_names = sorted({str(v) for s in sources for v in s.label_strings if v is not None})
    if len(label_names) < 2:
        raise InputError(
            f"the labels hold {len(label_names)} class(es) ({', '.join(label_names) or 'none'}); need at least two"
        )
    try:
        plan = _plan_sources(sources, label_names, spec, feature_names)
    except PlanRefused as exc:
        suggestion = _suggest_window(sources, label_names, spec, feature_names)
        if suggestion is None:
            advice = "add videos, or set the val/test ratios to 0"
        else:
            w, step = suggestion["window_sec"], suggestion["step_sec"]
            advice = f"try window_sec ≤ {w:g} (step_sec {step:g}) or add videos"
        raise PlanRefused(f"{exc}: {advice}", suggestion) from None
    return replace(plan, groups_note=groups_note)


def _suggest_window(sources, label_names, spec: DatasetSpec, feature_names) -> dict | None:
    """The longest of SUGGESTED_WINDOWS (shorter than asked) with which the build would succeed."""
    for window_sec in SUGGESTED_WINDOWS:
        if window_sec >= spec.window.window_sec - 1e-9:
            continue
        step_sec = min(spec.window.step_sec, window_sec / 2)
        trial = replace(spec, window=replace(spec.window, window_sec=window_sec, step_sec=step_sec))
        try:
            _plan_sources(sources, label_names, trial, feature_names)
        except InputError:
            continue
        return {"window_sec": window_sec, "step_sec": step_sec}
    return None


def _describe_clip(sources, window: WindowSpec) -> str:
    if len(sources) != 1:
        return f"{len(sources)} videos hold {sum(len(s.windows.starts) for s in sources)} labelled windows"
    s = sources[0]
    duration = float(s.t[-1] - s.t[0]) if len(s.t) else 0.0
    blocks = len(block_edges(s.t[0], s.t[-1], window.window_sec)) - 1 if len(s.t) else 0
    return (
        f"this {duration:.0f} s video holds {len(s.windows.starts)} labelled {window.window_sec:g} s windows "
        f"in {blocks} time block(s)"
    )


def _plan_sources(sources, label_names, spec: DatasetSpec, feature_names) -> DatasetPlan:
    """Windows and splits of sources already read (copies: the sources are not changed).

    Steps: place each source's windows (:func:`make_windows`), assign splits (explicit, by
    whole video, or by time blocks when there are too few videos: :func:`_assign_splits`),
    refuse a split left empty or a train split without two classes (:func:`_check_splits`),
    then draw the seeded balancing of train.
    """
    code_of = {name: i for i, name in enumerate(label_names)}
    sources = [replace(s) for s in sources]
    for s in sources:
        codes = np.array([code_of[v] if v is not None else -1 for v in s.label_strings], np.int64)
        s.windows = make_windows(s.t, codes, len(label_names), spec.window, s.video_id)
    video_ids = sorted({s.video_id for s in sources})
    splits = _assign_splits(sources, video_ids, spec)
    y_by_split = {
        name: np.concatenate([s.windows.codes[s.split_of_window == name] for s in sources]) for name in SPLITS
    }
    _check_splits(y_by_split, splits.wanted, splits.strategy, label_names, sources, spec.window)
    return DatasetPlan(
        spec=spec,
        sources=tuple(sources),
        label_names=tuple(label_names),
        strategy=splits.strategy,
        video_ids=tuple(video_ids),
        y_by_split=y_by_split,
        train_keep=balance_indices(y_by_split["train"], spec.balance, spec.seed),
        boundary_dropped=splits.boundary_dropped,
        feature_names=tuple(feature_names),
        blocks=splits.blocks,
    )


@dataclass(frozen=True)
class _Splits:
    """How :func:`_assign_splits` split the sources (each source's ``split_of_window`` is set)."""

    strategy: str
    wanted: list[str]
    blocks: dict[str, list[dict]]
    boundary_dropped: int


def _assign_splits(sources: list[_Source], video_ids: list[str], spec: DatasetSpec) -> _Splits:
    """Set every source's ``split_of_window``: by the splits file, by whole video, or by time blocks."""
    wanted = [name for name, r in zip(SPLITS, spec.ratios, strict=True) if r > 0]
    if spec.splits is not None:
        missing = [v for v in video_ids if v not in spec.splits]
        if missing:
            raise InputError(f"splits file does not assign video(s) {', '.join(missing[:5])}")
        _split_whole_videos(sources, {v: spec.splits[v] for v in video_ids})
        return _Splits("explicit", [name for name in SPLITS if name in spec.splits.values()], {}, 0)
    if len(video_ids) >= len(wanted):
        per_video: dict[str, list[np.ndarray]] = {v: [] for v in video_ids}
        for s in sources:
            per_video[s.video_id].append(s.windows.codes)
        assignment = video_level_splits({v: np.concatenate(c) for v, c in per_video.items()}, spec.ratios, spec.seed)
        _split_whole_videos(sources, assignment)
        lacking = _classes_lacking(sources, wanted)
        if len(video_ids) > FEW_VIDEOS or lacking == (0, 0):
            return _Splits("video", wanted, {}, 0)
        try:  # a few videos that whole cannot give every split every class: time blocks may
            blocks = _split_time_blocks(sources, spec, wanted)
            if _classes_lacking(sources, wanted) < lacking:
                return blocks
        except PlanRefused:
            pass
        _split_whole_videos(sources, assignment)  # the blocks did no better: whole videos again
        return _Splits("video", wanted, {}, 0)
    return _split_time_blocks(sources, spec, wanted)


def _classes_lacking(sources: list[_Source], wanted: list[str]) -> tuple[int, int]:
    """(classes the train split lacks, classes the other wanted splits lack in all), of those the
    sources' windows hold: how far a split is from every split holding every class."""
    codes = np.concatenate([s.windows.codes for s in sources])
    splits = np.concatenate([s.split_of_window for s in sources])
    every = set(np.unique(codes).tolist())
    lacking = {name: len(every - set(np.unique(codes[splits == name]).tolist())) for name in wanted}
    return lacking.get("train", 0), sum(n for name, n in lacking.items() if name != "train")


def _split_whole_videos(sources: list[_Source], assignment: dict[str, str]) -> None:
    for s in sources:
        s.split_of_window = np.full(len(s.windows.starts), assignment[s.video_id], dtype=object)


def _split_time_blocks(sources: list[_Source], spec: DatasetSpec, wanted: list[str]) -> _Splits:
    """Too few videos for a split each: cut each into time blocks assigned by a seeded search."""
    window = spec.window
    timelines = [
        BlockTimeline(s.video_id, s.windows.starts, s.windows.codes, block_edges(s.t[0], s.t[-1], window.window_sec))
        for s in sources
    ]
    try:
        by_window, by_block = block_split_search(timelines, spec.ratios, window.window_sec, spec.seed)
    except InputError:
        raise PlanRefused(f"{_describe_clip(sources, window)}, too few for {len(wanted)} splits") from None
    blocks = {timeline.video_id: _block_runs(timeline.edges, by_block[timeline.video_id]) for timeline in timelines}
    boundary_dropped = 0
    for s in sources:
        s.split_of_window = by_window[s.video_id]
        boundary_dropped += int((s.split_of_window == "").sum())
    return _Splits("temporal_blocks", wanted, blocks, boundary_dropped)


def _block_runs(edges: np.ndarray, splits: Sequence[str]) -> list[dict]:
    """Consecutive blocks of one split merged: [{start, end, split}] (for metadata and cv groups)."""
    runs: list[dict] = []
    for i, split in enumerate(splits):
        start, end = float(edges[i]), float(edges[i + 1])
        if runs and runs[-1]["split"] == split:
            runs[-1]["end"] = round(end, 4)
        else:
            runs.append({"start": round(start, 4), "end": round(end, 4), "split": str(split)})
    return runs


def _check_splits(y_by_split, wanted, strategy: str, label_names, sources, window: WindowSpec) -> None:
    """PlanRefused for a wanted split without windows, or a train split without two classes."""
    for name in wanted:
        if len(y_by_split[name]) == 0:
            raise PlanRefused(
                f"the {name} split would hold no windows ({strategy} split, {window.window_sec:g} s windows; "
                f"{_describe_clip(sources, window)})"
            )
    train_classes = np.unique(y_by_split["train"])
    if len(train_classes) < 2:
        only = ", ".join(label_names[c] for c in train_classes) or "none"
        raise PlanRefused(f"the train split holds {len(train_classes)} class(es) ({only}); need at least two")


class _BuildProgress:
    """``progress(done, 1000)`` of a build: sources read 0–10 %, windows copied 10–90 %, then
    scaling and writing; never 1000 (the job reports that once it has recorded the dataset)."""

    def __init__(self, progress: ProgressCallback | None, sources: int) -> None:
        self.progress = progress
        self.sources = sources
        self.read = 0

    def __call__(self, share: float) -> None:
        if self.progress is not None:
            self.progress(min(round(PROGRESS_STEPS * share), PROGRESS_STEPS - 1), PROGRESS_STEPS)

    def source_read(self) -> None:
        self.read += 1
        self(0.1 * self.read / self.sources)

    def copied(self, windows: int, total: int) -> None:
        self(0.1 + 0.8 * windows / total)


def build_dataset(
    feature_paths: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    *,
    spec: DatasetSpec | None = None,
    progress: ProgressCallback | None = None,
    max_bytes: int | None = None,
    limit_name: str = "the size limit",
) -> DatasetResult:
    """Build a windowed dataset from feature files, leakage-safe, in two passes.

    Pass 1 (:func:`plan_dataset`) reads only timestamps and labels: it places the windows,
    assigns the splits and draws the balancing. Pass 2 (:func:`_fill_windows`) reads each
    file's feature columns once and copies its windows into preallocated arrays. Then the
    scaler is fitted on train and applied to every split (:func:`_scale`), train is balanced,
    and the directory is written atomically (:func:`_write_dataset`). The same files, spec and
    seed give the same arrays and metadata, bit for bit (but ``created``).

    Parameters
    ----------
    feature_paths : sequence of path-like
        Parquet feature files written by ``extract_features`` (with a ``label`` column), one
        video each; windows are stored in this order.
    output : path-like
        The dataset directory; an existing one is replaced only once the new one is complete.
    spec : DatasetSpec, optional
        Window, ratios or explicit splits, balancing, feature groups and seed (default: the defaults).
    progress : callable, optional
        ``progress(done, 1000)`` after each source read and each chunk of windows copied; it may
        raise to stop the build (nothing is written then).
    max_bytes : int, optional
        Refuse (TooLarge) a build whose arrays could exceed this, before they exist.
    limit_name : str
        The name the refusal gives that limit (a setting's name).

    Returns
    -------
    DatasetResult
        The directory, its :class:`~taskml.pipeline.contracts.DatasetMetadata` and the seconds taken.

    Raises
    ------
    InputError
        Unreadable or mismatched feature files, fewer than two classes, bad splits.
    PlanRefused
        Too little data for the splits asked, with a shorter window that would work.
    TooLarge
        The arrays could exceed ``max_bytes``.
    """
    started = time.perf_counter()
    feature_paths = list(feature_paths)
    report = _BuildProgress(progress, len(feature_paths))
    report(0.0)  # a build cancelled while it waited stops here
    plan = plan_dataset(
        feature_paths,
        spec or DatasetSpec(),
        on_source_read=report.source_read,
        max_bytes=max_bytes,
        limit_name=limit_name,
    )
    filled = _fill_windows(plan, report)
    mean, scale = _scale(filled.arrays, report)
    before_balance = filled.y["train"]
    if plan.spec.balance != "none":
        keep = plan.train_keep
        filled.arrays["train"] = filled.arrays["train"][keep]
        filled.y["train"] = before_balance[keep]
        filled.index_rows["train"] = [filled.index_rows["train"][i] for i in keep]
    metadata = _dataset_metadata(plan, filled, mean=mean, scale=scale, before_balance=before_balance)
    output = Path(output)
    _write_dataset(output, filled, metadata, report)
    return DatasetResult(output=output, metadata=metadata, seconds=time.perf_counter() - started)


@dataclass
class _Filled:
    """Pass 2's output: X per split (float32, frames × features), y, the window index rows, and
    each source's record for metadata.json."""

    arrays: dict[str, np.ndarray]
    y: dict[str, np.ndarray]
    index_rows: dict[str, list[tuple]]
    sources: list[dict]


def _fill_windows(plan: DatasetPlan, report: _BuildProgress) -> _Filled:
    """Pass 2: each source's feature columns read once, its windows copied into preallocated arrays
    a bounded chunk at a time (memory stays about the size of the output)."""
    window = plan.spec.window
    feature_names = list(plan.feature_names)
    y_by_split = dict(plan.y_by_split)
    n_features = len(feature_names)
    filled = _Filled(
        arrays={name: np.empty((len(y_by_split[name]), window.frames, n_features), np.float32) for name in SPLITS},
        y=y_by_split,
        index_rows={name: [] for name in SPLITS},
        sources=[],
    )
    total_windows = max(sum(len(y) for y in y_by_split.values()), 1)
    chunk = max(1, FILL_CHUNK_VALUES // max(window.frames * n_features, 1))
    done = dict.fromkeys(SPLITS, 0)
    for s in plan.sources:
        values = _source_values(s, feature_names)
        for name in SPLITS:
            chosen = np.flatnonzero(s.split_of_window == name)
            for lo in range(0, len(chosen), chunk):
                part = chosen[lo : lo + chunk]
                start = done[name]
                filled.arrays[name][start : start + len(part)] = values[s.windows.rows[part]]
                done[name] += len(part)
                report.copied(sum(done.values()), total_windows)
            filled.index_rows[name] += [
                (s.video_id, s.path.name, round(float(s.windows.starts[i]), 4), plan.label_names[s.windows.codes[i]])
                for i in chosen
            ]
        filled.sources.append(_source_record(s))
        del values
        report.copied(sum(done.values()), total_windows)
    return filled


def _source_values(s: _Source, feature_names: list[str]) -> np.ndarray:
    """(rows, features) float32 of one source in its sorted row order, NaN where not finite."""
    table = pq.read_table(s.path, columns=feature_names)
    values = np.column_stack(
        [table.column(c).to_numpy(zero_copy_only=False).astype(np.float32, copy=False) for c in feature_names]
    )[s.order]
    del table
    values[~np.isfinite(values)] = np.nan
    return values


def _source_record(s: _Source) -> dict:
    """One source as metadata.json lists it: file, checksum, video, rows, extraction, windows, splits."""
    meta = read_features_metadata(s.path)
    return {
        "name": s.path.name,
        "path": str(s.path),
        "sha256": sha256_file(s.path),
        "video_id": s.video_id,
        "rows": len(s.t),
        "fps": meta.get("fps"),
        "sample_rate": meta.get("sample_rate"),
        "detector": meta.get("detector"),
        "windows_kept": len(s.windows.starts),
        "windows_dropped": s.windows.dropped,
        "source_sha256": meta.get("source_sha256"),
        "first_frame_hash": meta.get("first_frame_hash"),
        "splits": [name for name in SPLITS if (s.split_of_window == name).any()],
    }


def _scale(arrays: dict[str, np.ndarray], report: _BuildProgress) -> tuple[np.ndarray, np.ndarray]:
    """Fit the z-score on train (NaN ignored) and apply it to every split in place (NaN → 0)."""
    mean, scale = fit_scaler(arrays["train"])
    report(0.92)
    for name in SPLITS:
        apply_scaler(arrays[name], mean, scale)
    report(0.95)
    return mean, scale


def _dataset_metadata(
    plan: DatasetPlan, filled: _Filled, *, mean: np.ndarray, scale: np.ndarray, before_balance: np.ndarray
) -> DatasetMetadata:
    """metadata.json of a filled, scaled and balanced build."""
    spec, window, y = plan.spec, plan.spec.window, filled.y
    distribution = plan.distribution
    return DatasetMetadata(
        format_version=DATASET_FORMAT_VERSION,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        feature_names=list(plan.feature_names),
        num_features=len(plan.feature_names),
        feature_groups=list(spec.groups),
        window_sec=window.window_sec,
        step_sec=window.step_sec,
        fps=window.resample_fps,
        window_frames=window.frames,
        min_purity=window.min_purity,
        scaler_mean=mean,
        scaler_scale=scale,
        label_to_idx=plan.code_of,
        idx_to_label={str(i): name for i, name in enumerate(plan.label_names)},
        train_size=len(y["train"]),
        val_size=len(y["val"]),
        test_size=len(y["test"]),
        train_label_dist=distribution(y["train"]),
        val_label_dist=distribution(y["val"]),
        test_label_dist=distribution(y["test"]),
        train_label_dist_before_balance=distribution(before_balance),
        balance_method=spec.balance,
        seed=spec.seed,
        ratios=dict(zip(SPLITS, spec.ratios, strict=True)),
        split_strategy=plan.strategy,
        split_note=SPLIT_NOTES[plan.strategy],
        split_method=plan.split_method,
        classes_missing=plan.classes_missing,
        groups_note=plan.groups_note,
        splits=plan.split_members,
        dropped_windows=plan.dropped,
        sources=filled.sources,
        leakage=leakage_audit(filled.index_rows, window_sec=window.window_sec, sources=filled.sources),
    )


def _write_dataset(output: Path, filled: _Filled, metadata: DatasetMetadata, report: _BuildProgress) -> None:
    """X/y .npy and the window index per split, and metadata.json, swapped in at ``output`` at once."""
    with atomic_dir(output) as tmp:
        for name in SPLITS:
            np.save(tmp / f"X_{name}.npy", filled.arrays[name])
            np.save(tmp / f"y_{name}.npy", filled.y[name].astype(np.int64))
            with open(tmp / f"windows_{name}.csv", "w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(["video_id", "source", "start_t", "label"])
                writer.writerows(filled.index_rows[name])
        write_json(tmp / "metadata.json", metadata.to_dict())
        report(0.99)  # the last chance to stop: nothing is in place yet
