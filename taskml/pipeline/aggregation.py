"""Window (frames × features) → one vector per window, for the tabular models.

Stateless: ``stats`` (order-free summary), ``flatten`` (every frame), ``multiscale`` (statistics,
slopes and spectrum over sub-segments: keeps temporal shape), ``sequence`` (the window as it is,
for the temporal neural models). Fitted on train, stored in the model bundle: ``minirocket``
(random convolution features), built by :func:`make_representation`.

``representations`` (MultiScale, MiniRocket) is imported where it is used: it loads
scikit-learn, which the portable runtime (that imports this module through ``online``) lacks.
"""

from __future__ import annotations

import numpy as np

from .errors import InputError

STATS = ("mean", "std", "min", "max", "delta")  # delta = last - first: the direction of a motion
AGGREGATIONS = ("stats", "flatten", "multiscale", "minirocket", "sequence")
TABULAR_AGGREGATIONS = ("stats", "flatten", "multiscale", "minirocket")
FITTED_AGGREGATIONS = ("minirocket",)
# MiniRocket features when not asked for: MiniRocket's own 10,000 for small training sets (the
# transform and an n × n ridge are cheap there), 2,000 from 1,000 train windows on, which keeps
# 10,000 windows of 243 features under a minute with the ridge (bench/train_speed.py).
MINIROCKET_FEATURES = 2_000
MINIROCKET_FEATURES_SMALL = 10_000
SMALL_TRAIN_WINDOWS = 1_000


def minirocket_features(train_windows: int, requested: int | None = None) -> int:
    """The number of MiniRocket features: ``requested``, or the default for this train size.

    Parameters
    ----------
    train_windows : int
    requested : int, optional
        ``ModelParams.rocket_features``.

    Returns
    -------
    int
        ``requested``, else ``MINIROCKET_FEATURES_SMALL`` below ``SMALL_TRAIN_WINDOWS`` train
        windows and ``MINIROCKET_FEATURES`` from there on.
    """
    if requested is not None:
        return requested
    return MINIROCKET_FEATURES_SMALL if train_windows < SMALL_TRAIN_WINDOWS else MINIROCKET_FEATURES


def aggregate(x: np.ndarray, method: str) -> np.ndarray:
    """Windows to estimator inputs with a stateless method.

    Parameters
    ----------
    x : array of shape (n, T, F)
        Scaled windows (missing values 0).
    method : {"stats", "flatten", "multiscale", "sequence"}

    Returns
    -------
    array of shape (n, D)
        float32; ``sequence`` returns ``x`` as it is (n, T, F).

    Raises
    ------
    InputError
        A fitted method (``minirocket``: use :func:`make_representation`) or an unknown one.
    """
    if method == "stats":
        return np.concatenate(
            [x.mean(axis=1), x.std(axis=1), x.min(axis=1), x.max(axis=1), x[:, -1] - x[:, 0]], axis=1
        ).astype(np.float32, copy=False)
    if method == "flatten":
        return x.reshape(len(x), -1)
    if method == "multiscale":
        from .representations import MultiScale

        return MultiScale().transform(x)
    if method == "sequence":
        return x
    if method in FITTED_AGGREGATIONS:
        raise InputError(f"aggregation {method!r} is fitted on training windows: use make_representation")
    raise InputError(f"aggregation {method!r} unknown; choose one of {', '.join(AGGREGATIONS)}")


def make_representation(method: str, *, seed: int = 0, num_features: int = MINIROCKET_FEATURES):
    """An unfitted transform for a fitted method; None for a stateless one.

    Parameters
    ----------
    method : str
        One of ``AGGREGATIONS``.
    seed : int
        The transform's ``random_state``.
    num_features : int
        MiniRocket's feature count (see :func:`minirocket_features`).

    Returns
    -------
    MiniRocket or None
        A scikit-learn transformer (``fit(X)``, ``transform(X)``) for ``minirocket``; None
        otherwise (:func:`aggregate` does the work).

    Raises
    ------
    InputError
        An unknown method.
    """
    if method == "minirocket":
        from .representations import MiniRocket

        return MiniRocket(num_features=num_features, random_state=seed)
    if method not in AGGREGATIONS:
        raise InputError(f"aggregation {method!r} unknown; choose one of {', '.join(AGGREGATIONS)}")
    return None


def aggregated_names(feature_names: list[str], method: str, frames: int, representation=None) -> list[str]:
    """Names of the estimator's input columns, e.g. ``right_elbow_angle__mean`` or ``..._t03``.

    Parameters
    ----------
    feature_names : list of str
        The per-frame features.
    method : str
    frames : int
        Frames per window.
    representation : object, optional
        A fitted representation names its own columns.

    Returns
    -------
    list of str
        One per column of :func:`aggregate`'s (or the representation's) output.
    """
    if representation is not None:
        return representation.feature_names(feature_names, frames)
    if method == "stats":
        return [f"{name}__{stat}" for stat in STATS for name in feature_names]
    if method == "flatten":
        return [f"{name}__t{t:02d}" for t in range(frames) for name in feature_names]
    if method == "multiscale":
        from .representations import MultiScale

        return MultiScale().feature_names(feature_names, frames)
    return list(feature_names)
