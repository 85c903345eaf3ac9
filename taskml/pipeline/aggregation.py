"""Window (frames × features) → one vector per window, for the tree models."""

from __future__ import annotations

import numpy as np

from .errors import InputError

STATS = ("mean", "std", "min", "max", "delta")  # delta = last - first: the direction of a motion
AGGREGATIONS = ("stats", "flatten", "sequence")


def aggregate(x: np.ndarray, method: str) -> np.ndarray:
    """(n, T, F) → (n, D). ``sequence`` keeps the window as it is (for temporal models)."""
    if method == "stats":
        return np.concatenate(
            [x.mean(axis=1), x.std(axis=1), x.min(axis=1), x.max(axis=1), x[:, -1] - x[:, 0]], axis=1
        ).astype(np.float32, copy=False)
    if method == "flatten":
        return x.reshape(len(x), -1)
    if method == "sequence":
        return x
    raise InputError(f"aggregation {method!r} unknown; choose one of {', '.join(AGGREGATIONS)}")


def aggregated_names(feature_names: list[str], method: str, frames: int) -> list[str]:
    """Names of the aggregated columns, e.g. ``right_elbow_angle__mean`` or ``..._t03``."""
    if method == "stats":
        return [f"{name}__{stat}" for stat in STATS for name in feature_names]
    if method == "flatten":
        return [f"{name}__t{t:02d}" for t in range(frames) for name in feature_names]
    return list(feature_names)
