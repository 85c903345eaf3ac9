"""Window representations that keep temporal shape: multi-scale statistics and MiniRocket.

A window is (frames × features), z-scored, with NaN (or 0 after scaling) where a detection was
missing. ``stats`` (aggregation.py) summarises each feature over the whole window and so cannot
tell a reach (slow out, fast back) from a return (fast out, slow back): the same values in another
order. The representations here can:

``multiscale`` (stateless): per feature, mean/std/min/max over the whole window and over its
halves and quarters, the least-squares slope of each of those 7 segments, last − first, and the
magnitudes of the lowest rFFT frequencies.

``minirocket`` (fitted): MiniRocket-style random convolution features (Dempster et al. 2021):
the 84 length-9 kernels with weights {-1 × 6, 2 × 3}, dilations spaced exponentially up to the
window length, each kernel applied to the sum of a random subset of the features, biases taken
from quantiles of the convolution output of random *training* windows, PPV pooling (the share of
positions where output > bias). Fitting sees only the train split; the fitted object travels in
the model bundle, so live inference applies exactly the same transform.

Every representation is a scikit-learn transformer (``BaseEstimator``: ``get_params``,
``set_params`` and ``clone`` work; ``fit(X) -> self``, ``transform(X) -> (n, D) float32``,
learned attributes end in ``_``) with ``feature_names(names, frames)``. This module imports
scikit-learn, so ``aggregation`` and ``onnx_export`` (loaded by the portable runtime, which has no
scikit-learn) import it only when a representation is built or used.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import combinations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from .errors import InputError

MULTISCALE_LEVELS = (1, 2, 4)  # whole window, halves, quarters
SEGMENT_STATS = ("mean", "std", "min", "max", "slope")
SPECTRAL_BINS = 3  # rFFT magnitudes of frequencies 1..3 (cycles per window)

MINIROCKET_KERNEL_LENGTH = 9
MINIROCKET_KERNELS = np.array(list(combinations(range(MINIROCKET_KERNEL_LENGTH), 3)), np.int64)  # (84, 3)
MINIROCKET_MAX_DILATIONS = 32
# Windows per transform chunk: about this many output values (features × frames) each, so that a
# chunk takes well under a second and a cancel is heard between chunks whatever the sizes.
MINIROCKET_CHUNK_VALUES = 20_000_000
ProgressCallback = Callable[[int, int], None]
_PHI = (np.sqrt(5) + 1) / 2


def _clean(x: np.ndarray) -> np.ndarray:
    """float32 copy with NaN/inf → 0 (0 is the training mean after z-scoring)."""
    return np.nan_to_num(np.asarray(x, np.float32), nan=0.0, posinf=0.0, neginf=0.0)


def _segments(frames: int) -> list[tuple[int, int, str]]:
    """(start, stop, name) of the multiscale segments of a window of ``frames`` frames."""
    out = []
    for level in MULTISCALE_LEVELS:
        bounds = np.linspace(0, frames, level + 1).round().astype(int)
        for i in range(level):
            lo, hi = int(bounds[i]), int(max(bounds[i + 1], bounds[i] + 1))
            out.append((lo, min(hi, frames), "all" if level == 1 else f"s{level}{i}"))
    return out


def _slope(seg: np.ndarray) -> np.ndarray:
    """Least-squares slope over axis 1 of (n, L, F), per frame; 0 for a one-frame segment."""
    length = seg.shape[1]
    if length < 2:
        return np.zeros((seg.shape[0], seg.shape[2]), np.float32)
    u = np.arange(length, dtype=np.float32) - (length - 1) / 2
    return np.einsum("t,ntf->nf", u / float((u * u).sum()), seg)


class MultiScale(TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):
    """Stateless multi-scale statistics, slopes and low-frequency spectrum (see module doc)."""

    name = "multiscale"
    fitted = False

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> MultiScale:
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        x = np.asarray(X, np.float32)
        if x.ndim != 3:
            raise InputError(f"multiscale expects (windows, frames, features), got shape {x.shape}")
        missing = np.isnan(x)
        filled = np.where(missing, 0.0, x).astype(np.float32)  # slopes and spectrum: missing = the mean
        parts = []
        with np.errstate(invalid="ignore", divide="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN segments → NaN → 0 below
                for lo, hi, _ in _segments(x.shape[1]):
                    seg = x[:, lo:hi]
                    parts += [np.nanmean(seg, 1), np.nanstd(seg, 1), np.nanmin(seg, 1), np.nanmax(seg, 1)]
                    parts.append(_slope(filled[:, lo:hi]))
        parts.append(filled[:, -1] - filled[:, 0])
        spectrum = np.abs(np.fft.rfft(filled, axis=1)) / x.shape[1]
        for k in range(1, SPECTRAL_BINS + 1):
            parts.append(spectrum[:, k] if k < spectrum.shape[1] else np.zeros_like(spectrum[:, 0]))
        return _clean(np.concatenate(parts, axis=1))

    def feature_names(self, names: list[str], frames: int) -> list[str]:
        out = []
        for _, _, seg in _segments(frames):
            out += [f"{n}__{seg}_{stat}" for stat in SEGMENT_STATS for n in names]
        out += [f"{n}__delta" for n in names]
        out += [f"{n}__fft{k}" for k in range(1, SPECTRAL_BINS + 1) for n in names]
        return out


class MiniRocket(TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):
    """MiniRocket-style random convolution features, fitted on train windows (see module doc).

    ``num_features`` is approximate (rounded to whole kernel × dilation groups); at least 84
    (one per kernel), checked by ``fit``. Seeded: the same seed and the same training windows
    give the same transform.
    """

    name = "minirocket"
    fitted = True

    def __init__(self, *, num_features: int = 2_000, biases_per_subset: int = 4, random_state: int = 0, chunk=512):
        self.num_features = num_features
        self.biases_per_subset = biases_per_subset
        self.random_state = random_state
        self.chunk = chunk

    # -- fitting ---------------------------------------------------------------------------
    def fit(
        self, X: np.ndarray, y: np.ndarray | None = None, *, progress: ProgressCallback | None = None
    ) -> MiniRocket:
        if self.num_features < len(MINIROCKET_KERNELS):
            raise InputError(f"minirocket needs at least {len(MINIROCKET_KERNELS)} features, got {self.num_features}")
        x = np.asarray(X)
        if x.ndim != 3 or len(x) == 0:
            raise InputError(f"minirocket needs (windows, frames, features) training windows, got shape {x.shape}")
        n, frames, channels = x.shape
        rng = np.random.default_rng(self.random_state)
        max_exponent = np.log2(max((frames - 1) / (MINIROCKET_KERNEL_LENGTH - 1), 1.0))
        raw = np.floor(2 ** np.linspace(0, max_exponent, MINIROCKET_MAX_DILATIONS)).astype(np.int64)
        dilations, counts = np.unique(raw, return_counts=True)
        per_kernel = self.num_features / len(MINIROCKET_KERNELS)
        biases_per_dilation = np.maximum(1, np.round(per_kernel * counts / counts.sum())).astype(int)

        kernel, dilation, padded, subsets, n_biases = [], [], [], [], []
        for d, q in zip(dilations, biases_per_dilation, strict=True):
            # Several channel subsets per kernel and dilation when there are many features, so
            # that more of them are looked at (a single-feature series needs one).
            n_sub = 1 if channels == 1 else max(1, int(q) // self.biases_per_subset)
            split = np.array_split(np.arange(int(q)), n_sub)
            for k in range(len(MINIROCKET_KERNELS)):
                for part in split:
                    size = int(2 ** rng.uniform(0, np.log2(min(channels, 9) + 1)))
                    kernel.append(k)
                    dilation.append(int(d))
                    padded.append((len(kernel) % 2) == 0)
                    subsets.append(rng.choice(channels, size=min(size, channels), replace=False))
                    n_biases.append(len(part))
        self.frames_ = frames
        self.n_channels_ = channels
        self.kernels_ = np.asarray(kernel, np.int64)
        self.dilations_ = np.asarray(dilation, np.int64)
        self.padded_ = np.asarray(padded, bool)
        self.mask_ = np.zeros((channels, len(kernel)), np.float32)  # feature → combination sum
        for j, subset in enumerate(subsets):
            self.mask_[subset, j] = 1.0
        self.n_biases_ = np.asarray(n_biases, np.int64)
        self.offsets_ = np.concatenate([[0], np.cumsum(self.n_biases_)])

        # Biases: quantiles of the output of one random training window per combination (drawn
        # from a seeded sample of at most 64 train windows), at low-discrepancy quantile levels,
        # as MiniRocket does.
        sample = rng.choice(n, size=min(n, 64), replace=False)
        conv = self._convolve(self._channel_sums(_clean(x[np.sort(sample)])))  # (m, combos, T)
        which = rng.integers(0, len(sample), size=len(kernel))
        levels = ((np.arange(int(self.offsets_[-1])) + 1) * _PHI) % 1
        self.biases_ = np.zeros(int(self.offsets_[-1]), np.float32)
        for j in range(len(kernel)):
            lo, hi = self.offsets_[j], self.offsets_[j + 1]
            self.biases_[lo:hi] = np.quantile(self._positions(conv[which[j], j], j), levels[lo:hi])
            if progress is not None and j % 500 == 499:
                progress(j + 1, len(kernel))
        return self

    def _positions(self, conv: np.ndarray, j: int) -> np.ndarray:
        """The output positions counted for combination ``j``: all (padded) or the valid ones."""
        if self.padded_[j]:
            return conv
        edge = 4 * int(self.dilations_[j])
        return conv[..., edge:-edge] if conv.shape[-1] > 2 * edge else conv

    def _channel_sums(self, x: np.ndarray) -> np.ndarray:
        """(n, combos, T): each combination's features summed (the convolution of a sum is the
        sum of the convolutions). Sparse: a combination holds at most 9 features."""
        from scipy import sparse

        n, frames, channels = x.shape
        mask = sparse.csr_matrix(self.mask_.T)
        sums = np.asarray(mask @ np.ascontiguousarray(x.reshape(n * frames, channels).T), np.float32)
        return np.ascontiguousarray(sums.reshape(len(self.kernels_), n, frames).transpose(1, 0, 2))

    def _kernel_weights(self) -> np.ndarray:
        """(combos, 9) float32: -1 at six taps, 2 at the combination's kernel's three."""
        if not hasattr(self, "weights_"):
            self.weights_ = -np.ones((len(self.kernels_), MINIROCKET_KERNEL_LENGTH), np.float32)
            for j, k in enumerate(self.kernels_):
                self.weights_[j, MINIROCKET_KERNELS[k]] = 2.0
        return self.weights_

    def _convolve(self, sums: np.ndarray) -> np.ndarray:
        """Outputs (n, combos, T) of each combination's kernel on its channel sum, zero-padded to
        keep T positions, one block of combinations per dilation (they are stored by dilation).

        Each output is its nine taps added in tap order in float32 (the products, by -1 or 2,
        are exact): an order the exported ONNX graph repeats, so both give the same bits and the
        PPV comparisons against the biases come out the same (taskml/pipeline/onnx_export.py).
        """
        weights = self._kernel_weights()
        n, _, frames = sums.shape
        out = np.empty_like(sums, dtype=np.float32)
        for d in np.unique(self.dilations_):
            d = int(d)
            rows = np.flatnonzero(self.dilations_ == d)
            r = slice(int(rows[0]), int(rows[-1]) + 1)
            pad = 4 * d
            padded = np.zeros((n, len(rows), frames + 2 * pad), np.float32)
            padded[:, :, pad : pad + frames] = sums[:, r]
            w = weights[r][None, :, :, None]  # (1, g, 9, 1)
            total = padded[:, :, 0:frames] * w[:, :, 0]
            for tap in range(1, MINIROCKET_KERNEL_LENGTH):
                total += padded[:, :, tap * d : tap * d + frames] * w[:, :, tap]
            out[:, r] = total
        return out

    # -- transforming ----------------------------------------------------------------------
    def transform(self, X: np.ndarray, *, progress: ProgressCallback | None = None) -> np.ndarray:
        if not hasattr(self, "biases_"):
            raise InputError("minirocket is not fitted")
        x = np.asarray(X)
        if x.ndim != 3 or x.shape[1:] != (self.frames_, self.n_channels_):
            raise InputError(
                f"minirocket was fitted on windows of {self.frames_}×{self.n_channels_}, got {x.shape[1:]}"
            )
        out = np.empty((len(x), len(self.biases_)), np.float32)
        groups = self._groups
        chunk = max(1, min(self.chunk, MINIROCKET_CHUNK_VALUES // max(len(self.biases_) * self.frames_, 1)))
        for start in range(0, len(x), chunk):
            if progress is not None:  # may raise: a cancelled job stops between chunks
                progress(start, len(x))
            conv = self._convolve(self._channel_sums(_clean(x[start : start + chunk])))  # (b, combos, T)
            rows = np.arange(start, start + len(conv))
            for group, columns in groups:
                values = self._positions(conv[:, group], group[0])  # (b, g, T')
                biases = self.biases_[columns]  # (g, q)
                for i in range(biases.shape[1]):  # PPV: the share of positions above the bias
                    hits = np.count_nonzero(values > biases[None, :, i, None], axis=-1)
                    out[rows[:, None], columns[None, :, i]] = hits / np.float32(values.shape[-1])
        return out

    @property
    def _groups(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(combinations, their bias columns (g, q)) for combinations sharing dilation, padding
        and bias count: one vectorised PPV each."""
        groups = []
        keys = np.stack([self.dilations_, self.padded_, self.n_biases_], axis=1)
        for key in np.unique(keys, axis=0):
            group = np.flatnonzero((keys == key).all(axis=1))
            columns = self.offsets_[group][:, None] + np.arange(int(key[2]))[None, :]
            groups.append((group, columns))
        return groups

    def feature_names(self, names: list[str], frames: int) -> list[str]:
        return [
            f"rocket_k{self.kernels_[j]}_d{self.dilations_[j]}_c{j}_b{b}"
            for j in range(len(self.kernels_))
            for b in range(self.n_biases_[j])
        ]
