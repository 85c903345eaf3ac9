"""The leakage audit of a built dataset: how close evaluation windows sit to training data.

Windows a few frames apart in one recording are near copies of each other; a val or test
window next to (or overlapping) a train window of the same video measures memory, not
recognition. The same recording uploaded twice is the same leak across videos. The audit
reports, for every val and test window, the gap in seconds to the nearest train window of the
same video (0 when they overlap or touch; ``None`` when that video has no train window), the
share of windows closer than one window length, and sources whose video sha256 or first-frame
hash appears in more than one split. More than ``WARN_SHARE`` of the test windows within one
window of training data, or a duplicated recording across splits, gives a ``warning``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np

WARN_SHARE = 0.05
EVALUATED = ("val", "test")


def _gaps(starts: np.ndarray, train: np.ndarray, window_sec: float) -> np.ndarray:
    """Gap between each window ``[s, s + w)`` and the nearest train window (0 when they overlap)."""
    train = np.sort(train)
    i = np.searchsorted(train, starts)
    left = train[np.clip(i - 1, 0, len(train) - 1)]
    right = train[np.clip(i, 0, len(train) - 1)]
    nearest = np.minimum(np.abs(starts - left), np.abs(right - starts))
    return np.maximum(nearest - window_sec, 0.0)


def leakage_audit(
    windows: dict[str, Sequence[tuple]],
    *,
    window_sec: float,
    sources: Iterable[dict],
) -> dict:
    """How close the evaluation windows sit to training data (see the module doc).

    Parameters
    ----------
    windows : dict of str to sequence of tuple
        {split: rows ``(video_id, source, start_t, ...)``} as the dataset's window index holds them.
    window_sec : float
    sources : iterable of dict
        Each with ``name``, ``video_id``, ``splits`` and, when known, ``source_sha256`` and
        ``first_frame_hash`` (``build_dataset``'s records).

    Returns
    -------
    dict
        The audit, as metadata.json's ``leakage`` holds it (plain JSON): per evaluated split
        the gaps to the nearest train window of the same video and the share within one
        window, recordings found in more than one split, and a ``warning`` when either is too much.
    """
    train_by_video: dict[str, list[float]] = defaultdict(list)
    for video_id, _source, start, *_ in windows.get("train", ()):
        train_by_video[str(video_id)].append(float(start))
    report: dict = {"window_sec": window_sec, "threshold_share": WARN_SHARE}
    for split in EVALUATED:
        rows = list(windows.get(split, ()))
        distances: list[float | None] = [None] * len(rows)
        by_video: dict[str, list[int]] = defaultdict(list)
        for i, (video_id, _source, _start, *_) in enumerate(rows):
            by_video[str(video_id)].append(i)
        for video_id, members in by_video.items():
            train = train_by_video.get(video_id)
            if not train:
                continue
            starts = np.array([float(rows[i][2]) for i in members])
            for i, gap in zip(members, _gaps(starts, np.array(train), window_sec), strict=True):
                distances[i] = round(float(gap), 4)
        known = np.array([d for d in distances if d is not None], np.float64)
        near = int((known < window_sec).sum()) if len(known) else 0
        report[split] = {
            "windows": len(rows),
            "with_train_in_same_video": len(known),
            "within_one_window": near,
            "share_within_one_window": round(near / len(rows), 4) if rows else 0.0,
            "min_distance": round(float(known.min()), 4) if len(known) else None,
            "median_distance": round(float(np.median(known)), 4) if len(known) else None,
            "distances": distances,
        }
    report["duplicate_sources"] = _duplicates(list(sources))
    warnings = []
    test = report["test"]
    if test["windows"] and test["share_within_one_window"] > WARN_SHARE:
        warnings.append(
            f"{test['share_within_one_window']:.0%} of the test windows ({test['within_one_window']} of "
            f"{test['windows']}) lie within one window ({window_sec:g} s) of training data from the same video: "
            "test scores will be optimistic; split by whole videos (more recordings) to measure recognition"
        )
    for duplicate in report["duplicate_sources"]:
        warnings.append(
            f"the same recording ({duplicate['by']}) is in more than one split: "
            + ", ".join(f"{s['name']} ({'/'.join(s['splits'])})" for s in duplicate["sources"])
        )
    report["warning"] = "; ".join(warnings) or None
    return report


def _duplicates(sources: list[dict]) -> list[dict]:
    found = []
    seen_groups: set[tuple[str, ...]] = set()
    for key, label in (("source_sha256", "sha256"), ("first_frame_hash", "first-frame hash")):
        groups: dict[str, list[dict]] = defaultdict(list)
        for source in sources:
            if source.get(key):
                groups[str(source[key])].append(source)
        for value, members in groups.items():
            names = tuple(sorted(m["name"] for m in members))
            if len(members) < 2 or names in seen_groups:
                continue
            splits = {s for m in members for s in m.get("splits", ())}
            if len(splits) < 2:
                continue
            seen_groups.add(names)
            found.append(
                {
                    "by": f"{label} {value[:16]}",
                    "sources": [
                        {"name": m["name"], "video_id": m.get("video_id"), "splits": list(m.get("splits", ()))}
                        for m in members
                    ],
                }
            )
    return found


def first_frame_hash(bgr: np.ndarray) -> str:
    """A 64-bit difference hash of a frame (survives re-encoding and resizing), as 16 hex digits."""
    import cv2

    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY) if bgr.ndim == 3 else bgr
    small = cv2.resize(grey, (9, 8), interpolation=cv2.INTER_AREA).astype(np.int16)
    bits = (small[:, 1:] > small[:, :-1]).flatten()
    return f"{int(''.join('1' if b else '0' for b in bits), 2):016x}"
