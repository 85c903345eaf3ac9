"""What a unit of work will cost, known before it starts: dataset bytes, training memory and time.

Interfaces refuse a request whose estimate is past a limit the deployment sets, naming the
parameter, the estimate and the limit, instead of letting a worker fill its memory or run for
hours. The estimates are deliberately simple formulas over sizes that are known up front (the
sources' durations, the dataset's window counts, the parameters):

- a dataset build holds windows × frames × features float32 values (``X_*.npy``), windows
  counted from each source's duration exactly as the window builder places them;
- training memory: the copies training makes of the windows, their representation (``stats`` …
  ``minirocket``), and
  the model (forest nodes, network weights with their gradients and Adam moments, activations);
- training time: an operation count (trees × depth × windows, epochs × windows × network size,
  MiniRocket features × windows × frames, the ridge solve) over a throughput at least ten times
  what the 2-core reference machine measures (bench/train_speed.py). The result is a lower bound:
  a request refused on it could not finish within the time limit on any machine this runs on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .aggregation import minirocket_features
from .errors import TooLarge
from .estimators import MODEL_PARAMS, SEQUENCE_MODELS, TCN_KERNEL_SIZE, ModelParams
from .windows import WINDOW_PARAMS, WindowSpec

FLOAT32 = 4
# Operations per second, ten times or more what the reference machine reached (see module doc).
TREE_OPS_PER_SECOND = 2e8  # random forest: windows × sqrt(features) visited per tree level
BOOSTING_OPS_PER_SECOND = 1e9  # LightGBM: windows × features per tree (one tree per class and round)
NETWORK_FLOPS_PER_SECOND = 5e11  # torch on the CPU: 6 × weights per frame, forward and backward
CONVOLUTION_OPS_PER_SECOND = 3e9  # MiniRocket: windows × features × frames
SOLVER_FLOPS_PER_SECOND = 1e11  # the ridge solve (BLAS)
FOREST_NODE_BYTES = 64  # scikit-learn's tree node, plus 8 bytes per class for its value


def format_bytes(size: float) -> str:
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if size >= scale:
            return f"{size / scale:,.1f} {unit}"
    return f"{size / 2**10:,.1f} KiB"


def format_seconds(seconds: float) -> str:
    if seconds >= 2 * 86_400 * 365:
        return f"{seconds / (86_400 * 365):,.0f} years"
    if seconds >= 2 * 86_400:
        return f"{seconds / 86_400:,.0f} days"
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:,.1f} h"
    if seconds >= 120:
        return f"{seconds / 60:,.0f} min"
    return f"{seconds:,.0f} s"


# ---------------------------------------------------------------- datasets


def windows_in(duration: float, spec: WindowSpec) -> int:
    """Windows the builder places on a recording of ``duration`` seconds (before any is dropped)."""
    if not duration > spec.window_sec - 1e-9:
        return 0
    return int(math.floor((duration - spec.window_sec) / spec.step_sec + 1e-9)) + 1


@dataclass(frozen=True)
class DatasetEstimate:
    windows: int
    frames: int
    features: int

    @property
    def bytes(self) -> int:
        """Size of the X arrays (float32): what the build holds in memory and writes."""
        return self.windows * self.frames * self.features * FLOAT32

    def describe(self) -> str:
        return (
            f"{format_bytes(self.bytes)} ({self.windows:,} windows × {self.frames:,} frames × "
            f"{self.features:,} features × 4 bytes)"
        )


def estimate_dataset(durations: Sequence[float], spec: WindowSpec, features: int) -> DatasetEstimate:
    """The windows (at most) a build over recordings of these durations would hold, and their size.

    Parameters
    ----------
    durations : sequence of float
        Each recording's length, seconds.
    spec : WindowSpec
    features : int
        Features per frame.

    Returns
    -------
    DatasetEstimate
        Windows, frames and features; ``bytes`` the X arrays' size.
    """
    return DatasetEstimate(
        windows=sum(windows_in(float(d), spec) for d in durations), frames=spec.frames, features=features
    )


def _largest_driver(spec: WindowSpec) -> str:
    """The window parameter that most increases the size over its default (feature_files if none)."""
    defaults = {name: param.default for name, param in WINDOW_PARAMS.items()}
    factors = {
        "step_sec": defaults["step_sec"] / spec.step_sec,
        "window_sec": spec.window_sec / defaults["window_sec"],
        "resample_fps": spec.resample_fps / defaults["resample_fps"],
    }
    name, factor = max(factors.items(), key=lambda item: item[1])
    return name if factor > 1 else "feature_files"


def check_dataset_size(estimate: DatasetEstimate, spec: WindowSpec, *, max_bytes: int, limit_name: str) -> None:
    """Refuse a dataset that would pass ``max_bytes``, naming the parameter most responsible.

    Parameters
    ----------
    estimate : DatasetEstimate
    spec : WindowSpec
    max_bytes : int
    limit_name : str
        The limit's name in the message (a setting).

    Raises
    ------
    TooLarge
    """
    if estimate.bytes <= max_bytes:
        return
    param = _largest_driver(spec)
    raise TooLarge(
        f"{param}: the dataset would hold about {estimate.describe()}, over the limit of "
        f"{format_bytes(max_bytes)} ({limit_name}); use a longer step_sec, a shorter window_sec, a lower "
        "resample_fps or fewer feature files",
        param=param,
        estimate=estimate.bytes,
        limit=max_bytes,
    )


# ---------------------------------------------------------------- training


@dataclass(frozen=True)
class DatasetShape:
    """What training needs to know about a dataset to estimate its cost."""

    train: int
    val: int
    test: int
    frames: int
    features: int
    classes: int

    @property
    def windows(self) -> int:
        return self.train + self.val + self.test


@dataclass(frozen=True)
class TrainingEstimate:
    memory_bytes: int
    seconds: float  # a lower bound (see the module doc)
    memory_param: str  # the parameter that drives each estimate, for the refusal to name
    seconds_param: str
    memory_detail: str
    seconds_detail: str


def representation_width(aggregation: str, shape: DatasetShape, params: ModelParams) -> int:
    """Numbers per window after the window → vector step."""
    if aggregation == "stats":
        return 5 * shape.features
    if aggregation == "multiscale":
        return 40 * shape.features
    if aggregation == "minirocket":
        return minirocket_features(shape.train, params.rocket_features)
    return shape.frames * shape.features  # flatten, sequence


def network_weights(model_type: str, shape: DatasetShape, params: ModelParams) -> int:
    """Trainable weights of a temporal network (the formulas of its layers, biases included)."""
    h, f, c = params.hidden_dim, shape.features, max(shape.classes, 2)
    if model_type == "lstm":
        first = 4 * h * (f + h + 2)
        return first + (params.num_layers - 1) * 4 * h * (2 * h + 2) + h * c + c
    if model_type == "tcn":
        k = TCN_KERNEL_SIZE
        levels = max(params.num_layers, int(math.ceil(math.log2(max(shape.frames - 1, 1) / (2 * (k - 1)) + 1))) + 1)
        first = f * h * k + h * h * k + f * h + 3 * h
        return first + (levels - 1) * (2 * h * h * k + 2 * h) + 2 * h * c + c
    # transformer: embedding, then per layer attention (4 h²) and feed-forward (2 × 2 h²)
    return f * h + h + max(2, params.num_layers) * (12 * h * h + 9 * h) + 2 * h + h * c + c


def _default_ratio(name: str, value) -> float:
    default = MODEL_PARAMS[name].default
    return value / default if default and value else 1.0


def _driver(*candidates: tuple[str, float]) -> str:
    """The parameter among ``(name, factor over its default)`` that weighs most."""
    return max(candidates, key=lambda item: item[1])[0]


def estimate_training(model_type: str, aggregation: str, params: ModelParams, shape: DatasetShape) -> TrainingEstimate:
    """The memory and time training would take, known before it starts.

    Parameters
    ----------
    model_type, aggregation : str
    params : ModelParams
    shape : DatasetShape
        Windows per split, frames and features of the dataset.

    Returns
    -------
    TrainingEstimate
    """
    n, n_all = max(shape.train, 1), max(shape.windows, 1)
    classes = max(shape.classes, 2)
    # The windows are memory-mapped; what counts is what training copies of them: the networks two
    # float32 copies, the stateless representations a temporary the size of the windows, MiniRocket
    # bounded chunks.
    copies = {"sequence": 2, "minirocket": 0}.get(aggregation, 1)
    inputs = copies * n_all * shape.frames * shape.features * FLOAT32
    width = representation_width(aggregation, shape, params)
    features = n_all * width * FLOAT32
    memory = inputs + features
    seconds = 0.0
    memory_param = seconds_param = "dataset_dir"
    if aggregation == "minirocket":
        seconds += n_all * width * shape.frames * 3.25 / CONVOLUTION_OPS_PER_SECOND
        memory_param = seconds_param = "rocket_features"

    if model_type == "rf":
        distinct = max(1, int(0.632 * n))  # rows a bootstrap sample holds: a grown tree's leaves at most
        leaves = min(distinct, 2**params.max_depth) if params.max_depth else distinct
        memory += params.n_estimators * 2 * leaves * (FOREST_NODE_BYTES + 8 * classes)
        depth = min(params.max_depth or 10**9, math.ceil(math.log2(n)) + 1)
        seconds += params.n_estimators * n * math.sqrt(width) * depth / TREE_OPS_PER_SECOND
        memory_param = seconds_param = _driver(
            ("n_estimators", _default_ratio("n_estimators", params.n_estimators)),
            ("max_depth", (params.max_depth or 0) / 32),
        )
        detail = f"{params.n_estimators:,} trees of depth {depth} over {n:,} windows × {width:,} numbers"
    elif model_type == "lgbm":
        trees = params.n_estimators * (classes if classes > 2 else 1)
        memory += n * width + trees * 31 * 100  # binned features (a byte each), 31-leaf trees
        seconds += trees * n * width / BOOSTING_OPS_PER_SECOND
        seconds_param = "n_estimators"
        detail = f"{trees:,} trees ({params.n_estimators:,} rounds × {classes} classes) over {n:,} windows × {width:,}"
    elif model_type == "ridge":
        small, large = sorted((n, width))
        memory += (3 * small * large + 3 * small * small) * 8  # float64 solve: projections, Gram, eigenvectors
        seconds += 2 * small * small * large / SOLVER_FLOPS_PER_SECOND
        detail = f"a ridge solve over {n:,} windows × {width:,} features"
    elif model_type in SEQUENCE_MODELS:
        weights = network_weights(model_type, shape, params)
        layers = max(params.num_layers, 2 if model_type == "transformer" else 1)
        batch = min(params.batch_size, n)
        activations = batch * shape.frames * params.hidden_dim * layers * FLOAT32 * 12
        if model_type == "transformer":
            activations += batch * 4 * shape.frames**2 * layers * FLOAT32 * 3
        memory += weights * FLOAT32 * 5 + activations  # weights, gradients, two Adam moments, the best copy
        flops = 6 * weights * shape.frames + (12 * shape.frames**2 * params.hidden_dim * layers)
        seconds += params.epochs * (n + shape.val) * flops / NETWORK_FLOPS_PER_SECOND
        size = _default_ratio("hidden_dim", params.hidden_dim) ** 2 * _default_ratio("num_layers", params.num_layers)
        memory_param = _driver(("hidden_dim", size), ("batch_size", _default_ratio("batch_size", params.batch_size)))
        seconds_param = _driver(("epochs", _default_ratio("epochs", params.epochs)), ("hidden_dim", size))
        detail = f"{params.epochs:,} epochs × {n:,} windows × a network of {weights:,} weights"
    else:  # pragma: no cover - canonical_model_type() refused it before
        detail = ""
    return TrainingEstimate(
        memory_bytes=int(memory),
        seconds=seconds,
        memory_param=memory_param,
        seconds_param=seconds_param,
        memory_detail=f"{format_bytes(memory)} for {n_all:,} windows as {width:,} numbers each and the model",
        seconds_detail=detail,
    )


def check_training(
    estimate: TrainingEstimate,
    *,
    max_memory_bytes: int,
    memory_limit_name: str,
    max_seconds: float,
    time_limit_name: str,
) -> None:
    """Refuse training that could not fit the memory or the time limit, naming the parameter.

    Parameters
    ----------
    estimate : TrainingEstimate
    max_memory_bytes : int
    memory_limit_name : str
    max_seconds : float
    time_limit_name : str

    Raises
    ------
    TooLarge
    """
    if estimate.memory_bytes > max_memory_bytes:
        raise TooLarge(
            f"{estimate.memory_param}: training would need about {estimate.memory_detail}, over the "
            f"memory limit of {format_bytes(max_memory_bytes)} ({memory_limit_name})",
            param=estimate.memory_param,
            estimate=estimate.memory_bytes,
            limit=max_memory_bytes,
        )
    if estimate.seconds > max_seconds:
        raise TooLarge(
            f"{estimate.seconds_param}: training would take at least {format_seconds(estimate.seconds)} "
            f"({estimate.seconds_detail}), past the time limit of {format_seconds(max_seconds)} ({time_limit_name})",
            param=estimate.seconds_param,
            estimate=estimate.seconds,
            limit=max_seconds,
            unit="seconds",
        )
