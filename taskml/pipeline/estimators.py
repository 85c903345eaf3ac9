"""The model zoo, behind the scikit-learn estimator API.

``make_estimator`` builds RandomForest, LightGBM, a ridge classifier (for random convolution
features) or one of the temporal neural models (LSTM, TCN, Transformer) from one parameter set;
all are seeded and use both cores. ``fit_estimator`` fits any of them in small units of work
(trees, boosting rounds, batches) with a ``progress(done, total)`` call after each, so a job can be
cancelled (the callback raises) within about a second however long the whole fit would take.

The names, parameters and defaults here are read by the API, the /backend/ forms and the CLI at
start-up, so this module imports no scikit-learn, LightGBM or torch: the pipeline's own
classifiers live in :mod:`taskml.pipeline.classifiers`, imported when a model is built.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from .errors import InputError
from .params import Param, params_table

MODEL_TYPES = ("rf", "lgbm", "ridge", "lstm", "tcn", "transformer")
SEQUENCE_MODELS = ("lstm", "tcn", "transformer")  # take whole windows (aggregation "sequence")
MODEL_ALIASES = {"lightgbm": "lgbm", "random_forest": "rf", "randomforest": "rf"}
N_JOBS = 2
SECONDS_PER_STEP = 0.5  # forests grow in batches of trees taking about this long each
ProgressCallback = Callable[[int, int], None]
SMALL_DATA_VALUES = 2_000_000  # training values below which the networks train on one thread
TCN_KERNEL_SIZE = 3
# The pipeline's own classifiers live in classifiers.py but are pickled under this module's name,
# as they always were (classifiers.py says why): __getattr__ finds them here, importing
# scikit-learn only then.
_MOVED_TO_CLASSIFIERS = (
    "TorchSequenceClassifier",
    "LSTMClassifier",
    "TCNClassifier",
    "TransformerClassifier",
    "RidgeClassifier",
)


def __getattr__(name: str):
    if name in _MOVED_TO_CLASSIFIERS:
        from . import classifiers

        return getattr(classifiers, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def canonical_model_type(name: str) -> str:
    """The model type a name stands for (``lightgbm`` → ``lgbm``); InputError for an unknown one."""
    model = MODEL_ALIASES.get(name.lower(), name.lower())
    if model not in MODEL_TYPES:
        raise InputError(f"model {name!r} unknown; choose one of {', '.join(MODEL_TYPES)} (or lightgbm)")
    return model


MODEL_PARAMS = params_table(
    Param("n_estimators", 200, 1, 100_000, int, "trees (rf) or boosting rounds (lgbm)"),
    Param("max_depth", None, 1, 1_000, int, "tree depth limit (rf, lgbm); none: unlimited", nullable=True),
    Param("learning_rate", 0.1, 1e-6, 10.0, float, "LightGBM learning rate"),
    Param("epochs", 60, 1, 10_000, int, "lstm/tcn/transformer: maximum epochs (early stopping on val)"),
    Param("lr", 1e-3, 1e-8, 10.0, float, "lstm/tcn/transformer learning rate"),
    Param("hidden_dim", 64, 1, 4_096, int, "lstm/tcn/transformer hidden units"),
    Param("num_layers", 1, 1, 64, int, "lstm/tcn/transformer layers"),
    Param("batch_size", 64, 1, 65_536, int, "lstm/tcn/transformer windows per batch"),
    Param("patience", 8, 1, 10_000, int, "epochs without a better val loss before stopping"),
    Param(
        "rocket_features", None, 84, 100_000, int,
        "minirocket: number of features (default 10,000 below 1,000 train windows, else 2,000)", nullable=True,
    ),
)  # fmt: skip


@dataclass(frozen=True)
class ModelParams:
    n_estimators: int = MODEL_PARAMS["n_estimators"].default
    max_depth: int | None = MODEL_PARAMS["max_depth"].default
    learning_rate: float = MODEL_PARAMS["learning_rate"].default  # LightGBM
    epochs: int = MODEL_PARAMS["epochs"].default  # LSTM, TCN, Transformer
    lr: float = MODEL_PARAMS["lr"].default
    hidden_dim: int = MODEL_PARAMS["hidden_dim"].default
    num_layers: int = MODEL_PARAMS["num_layers"].default
    batch_size: int = MODEL_PARAMS["batch_size"].default
    patience: int = MODEL_PARAMS["patience"].default
    rocket_features: int | None = MODEL_PARAMS["rocket_features"].default  # None: by train size (aggregation.py)

    def __post_init__(self) -> None:
        for name, param in MODEL_PARAMS.items():
            object.__setattr__(self, name, param.check(getattr(self, name)))

    def as_dict(self) -> dict:
        return asdict(self)

    def used_by(self, model_type: str, aggregation: str) -> dict:
        """The parameters this model type (and representation) actually reads, by name."""
        return {name: value for name, value in self.as_dict().items() if name in params_used(model_type, aggregation)}


_NETWORK_PARAMS = ("epochs", "lr", "hidden_dim", "num_layers", "batch_size", "patience")
PARAMS_BY_MODEL = {
    "rf": ("n_estimators", "max_depth"),
    "lgbm": ("n_estimators", "max_depth", "learning_rate"),
    "ridge": (),  # the penalty is chosen by leave-one-out error
    "lstm": _NETWORK_PARAMS,
    "tcn": _NETWORK_PARAMS,
    "transformer": _NETWORK_PARAMS,
}


def params_used(model_type: str, aggregation: str | None = None) -> tuple[str, ...]:
    """Names of the ModelParams a model type reads; ``rocket_features`` with the minirocket representation."""
    names = PARAMS_BY_MODEL.get(canonical_model_type(model_type), ())
    return names + (("rocket_features",) if aggregation == "minirocket" else ())


def make_estimator(model_type: str, params: ModelParams, seed: int):
    """An unfitted, seeded estimator of ``model_type`` configured from ``params``.

    Parameters
    ----------
    model_type : str
        One of ``MODEL_TYPES`` (or an alias such as ``lightgbm``).
    params : ModelParams
        Only the parameters the type reads are used (``params_used``).
    seed : int
        The estimator's ``random_state``.

    Returns
    -------
    estimator
        A scikit-learn ``RandomForestClassifier``, LightGBM's ``LGBMClassifier``, or one of
        :mod:`~taskml.pipeline.classifiers`' (``RidgeClassifier``, ``LSTMClassifier``,
        ``TCNClassifier``, ``TransformerClassifier``).
    """
    model_type = canonical_model_type(model_type)
    if model_type == "rf":
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(
            n_estimators=params.n_estimators,
            max_depth=params.max_depth,
            n_jobs=N_JOBS,
            random_state=seed,
            class_weight="balanced",
        )
    if model_type == "lgbm":
        from lightgbm import LGBMClassifier

        return LGBMClassifier(
            n_estimators=params.n_estimators,
            max_depth=params.max_depth or -1,
            learning_rate=params.learning_rate,
            n_jobs=N_JOBS,
            random_state=seed,
            deterministic=True,
            force_col_wise=True,
            class_weight="balanced",
            verbose=-1,
        )
    from . import classifiers

    if model_type == "ridge":
        return classifiers.RidgeClassifier(random_state=seed)
    network = {
        "lstm": classifiers.LSTMClassifier,
        "tcn": classifiers.TCNClassifier,
        "transformer": classifiers.TransformerClassifier,
    }[model_type]
    return network(
        hidden_dim=params.hidden_dim,
        num_layers=params.num_layers,
        epochs=params.epochs,
        lr=params.lr,
        batch_size=params.batch_size,
        patience=params.patience,
        random_state=seed,
    )


def fit_estimator(estimator, X, y, *, X_val=None, y_val=None, progress: ProgressCallback | None = None, **fit_params):
    """``estimator.fit(X, y)``, calling ``progress(done, total)`` between units of work.

    RandomForest grows its trees in batches (``warm_start``: the same trees as one fit, as the
    random state of tree i does not depend on the batches), LightGBM reports each boosting round
    through a callback, the networks each batch. The callback may raise (a cancel, a time limit):
    the fit stops there. The ridge is one solve, bounded by the estimates before training.

    Parameters
    ----------
    estimator
        An unfitted estimator (:func:`make_estimator`, or any with scikit-learn's ``fit``).
    X, y : array
        Training inputs and class codes.
    X_val, y_val : array, optional
        Validation split: the networks stop early on its loss; the others ignore it.
    progress : callable, optional
        ``progress(done, total)`` after each unit of work.
    **fit_params
        Passed to ``fit`` (LightGBM's ``init_model`` to continue boosting).

    Returns
    -------
    estimator
        The same estimator, fitted.
    """
    from lightgbm import LGBMClassifier
    from sklearn.ensemble import RandomForestClassifier

    from .classifiers import TorchSequenceClassifier

    if isinstance(estimator, TorchSequenceClassifier):
        return estimator.fit(X, y, X_val=X_val, y_val=y_val, progress=progress)
    if progress is None:
        return estimator.fit(X, y, **fit_params)
    if isinstance(estimator, RandomForestClassifier):
        return _fit_forest(estimator, X, y, progress)
    if isinstance(estimator, LGBMClassifier):
        rounds = int(estimator.n_estimators)

        def each_round(env) -> None:
            progress(env.iteration - env.begin_iteration + 1, rounds)

        each_round.order = 100  # after LightGBM's own callbacks
        return estimator.fit(X, y, callbacks=[*fit_params.pop("callbacks", []), each_round], **fit_params)
    progress(0, 1)
    estimator.fit(X, y, **fit_params)
    progress(1, 1)
    return estimator


def _fit_forest(forest, X, y, progress: ProgressCallback):
    total = int(forest.n_estimators)
    X = np.ascontiguousarray(X, dtype=np.float32)  # scikit-learn's tree dtype: no copy per batch
    grown, batch = 0, N_JOBS
    forest.set_params(warm_start=True)
    try:
        with warnings.catch_warnings():
            # "balanced" class weights are computed again from the same y at every batch: the same weights
            warnings.filterwarnings("ignore", message=".*class_weight presets.*")
            while grown < total:
                step = min(batch, total - grown)
                started = time.perf_counter()
                forest.set_params(n_estimators=grown + step)
                forest.fit(X, y)
                grown += step
                progress(grown, total)
                rate = step / max(time.perf_counter() - started, 1e-3)
                batch = max(N_JOBS, min(1_000, int(rate * SECONDS_PER_STEP) // N_JOBS * N_JOBS))
    finally:
        forest.set_params(warm_start=False, n_estimators=total)
    return forest
