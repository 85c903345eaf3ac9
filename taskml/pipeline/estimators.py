"""The model zoo, behind the scikit-learn estimator API.

``make_estimator`` builds RandomForest, LightGBM, a ridge classifier (for random convolution
features) or one of the temporal neural models (LSTM, TCN, Transformer) from one parameter set;
all are seeded and use both cores. ``fit_estimator`` fits any of them in small units of work
(trees, boosting rounds, batches) with a ``progress(done, total)`` call after each, so a job can be
cancelled (the callback raises) within about a second however long the whole fit would take.
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


def canonical_model_type(name: str) -> str:
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
    if model_type == "ridge":
        return RidgeClassifier(random_state=seed)
    network = {"lstm": LSTMClassifier, "tcn": TCNClassifier, "transformer": TransformerClassifier}[model_type]
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
    """
    if isinstance(estimator, TorchSequenceClassifier):
        return estimator.fit(X, y, X_val=X_val, y_val=y_val, progress=progress)
    if progress is None:
        return estimator.fit(X, y, **fit_params)
    kind = type(estimator).__name__
    if kind == "RandomForestClassifier":
        return _fit_forest(estimator, X, y, progress)
    if kind == "LGBMClassifier":
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


class TorchSequenceClassifier:
    """The shared training loop of the temporal neural models (LSTM, TCN, Transformer).

    Follows the scikit-learn API: ``fit(X, y)`` returns self, learned attributes end in ``_``.
    X is (n, frames, features) (NaN → 0). Adam, class-weighted cross-entropy, seeded shuffles;
    with a val split the weights of the epoch with the lowest val loss are kept and training
    stops after ``patience`` epochs without improvement. Subclasses build the network in
    ``_network(n_features, n_classes, frames)``; pickling stores its weights and shape.
    """

    def __init__(
        self,
        *,
        hidden_dim: int = 64,
        num_layers: int = 1,
        epochs: int = 60,
        lr: float = 1e-3,
        batch_size: int = 64,
        patience: int = 8,
        random_state: int = 0,
    ) -> None:
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.patience = patience
        self.random_state = random_state

    def _network(self, n_features: int, n_classes: int, frames: int):  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def _tensor(X: np.ndarray):
        import torch

        return torch.from_numpy(np.nan_to_num(np.array(X, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0))

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        *,
        X_val: np.ndarray | None = None,
        y_val: np.ndarray | None = None,
        progress: ProgressCallback | None = None,
    ):
        import torch

        torch.manual_seed(self.random_state)
        self.classes_ = np.unique(y)
        index = {c: i for i, c in enumerate(self.classes_)}
        yi = torch.tensor([index[c] for c in y], dtype=torch.long)
        xt = self._tensor(X)
        # Small data: one thread (a second one costs more in hand-offs than it saves, several
        # times so on a busy machine); real datasets use both cores.
        torch.set_num_threads(1 if xt.numel() < SMALL_DATA_VALUES else N_JOBS)
        self.net_shape_ = (int(X.shape[2]), len(self.classes_), int(X.shape[1]))
        net = self._network(*self.net_shape_)
        optimiser = torch.optim.Adam(net.parameters(), lr=self.lr)
        counts = np.bincount(yi.numpy(), minlength=len(self.classes_)).astype(np.float32)
        weights = torch.from_numpy(counts.sum() / (len(counts) * np.maximum(counts, 1)))
        loss_fn = torch.nn.CrossEntropyLoss(weight=weights)
        has_val = X_val is not None and len(X_val) > 0 and np.isin(y_val, self.classes_).all()
        if has_val:
            xv = self._tensor(X_val)
            yv = torch.tensor([index[c] for c in y_val], dtype=torch.long)
        generator = torch.Generator().manual_seed(self.random_state)
        best_loss, best_state, stale = np.inf, None, 0
        self.history_ = []
        self.stopped_early_ = False
        self.best_epoch_ = 0
        batches = -(-len(xt) // self.batch_size)
        for epoch in range(self.epochs):
            net.train()
            order = torch.randperm(len(xt), generator=generator)
            total = 0.0
            for b, start in enumerate(range(0, len(xt), self.batch_size)):
                batch = order[start : start + self.batch_size]
                optimiser.zero_grad()
                loss = loss_fn(net(xt[batch]), yi[batch])
                loss.backward()
                optimiser.step()
                total += loss.item() * len(batch)
                if progress is not None:  # may raise: a cancelled job stops after this batch
                    progress(epoch * batches + b + 1, self.epochs * batches)
            record = {"epoch": epoch + 1, "train_loss": total / len(xt)}
            if has_val:
                net.eval()
                with torch.no_grad():
                    val_loss = sum(
                        loss_fn(net(xv[i : i + 1024]), yv[i : i + 1024]).item() * len(yv[i : i + 1024])
                        for i in range(0, len(xv), 1024)
                    ) / len(xv)
                record["val_loss"] = val_loss
                if val_loss < best_loss - 1e-4:
                    best_loss, stale = val_loss, 0
                    best_state = {k: v.clone() for k, v in net.state_dict().items()}
                    self.best_epoch_ = epoch + 1
                else:
                    stale += 1
            self.history_.append(record)
            if has_val and stale >= self.patience:
                self.stopped_early_ = epoch + 1 < self.epochs
                break
        if best_state is not None:
            net.load_state_dict(best_state)
        if not has_val:
            self.best_epoch_ = len(self.history_)  # no val: the last epoch's weights
        self.n_epochs_ = len(self.history_)
        self.net_ = net.eval()
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        import torch

        x = self._tensor(X)
        with torch.no_grad():
            parts = [torch.softmax(self.net_(x[i : i + 1024]), dim=1) for i in range(0, len(x), 1024)]
        return torch.cat(parts).numpy() if parts else np.zeros((0, len(self.classes_)), np.float32)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def __getstate__(self) -> dict:
        # The network class is built at fit time; store its weights and rebuild on load.
        state = self.__dict__.copy()
        net = state.pop("net_", None)
        if net is not None:
            state["net_state_"] = {k: v.numpy() for k, v in net.state_dict().items()}
        return state

    def __setstate__(self, state: dict) -> None:
        import torch

        net_state = state.pop("net_state_", None)
        self.__dict__.update(state)
        if net_state is not None:
            net = self._network(*self.net_shape_)
            net.load_state_dict({k: torch.from_numpy(v) for k, v in net_state.items()})
            self.net_ = net.eval()


class LSTMClassifier(TorchSequenceClassifier):
    """An LSTM over the window's frames; the final hidden state feeds a linear layer."""

    def _network(self, n_features: int, n_classes: int, frames: int = 0):
        import torch
        from torch import nn

        class Net(nn.Module):
            def __init__(self, hidden: int, layers: int) -> None:
                super().__init__()
                self.lstm = nn.LSTM(n_features, hidden, num_layers=layers, batch_first=True)
                self.head = nn.Linear(hidden, n_classes)

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                _, (h, _) = self.lstm(x)
                return self.head(h[-1])

        return Net(self.hidden_dim, self.num_layers)


class TCNClassifier(TorchSequenceClassifier):
    """A temporal convolutional network: residual blocks of two dilated causal convolutions
    (kernel 3, dilations 1, 2, 4, … until the receptive field covers the window, at least
    ``num_layers`` blocks), then the last step and the mean over time feed a linear layer."""

    kernel_size = 3
    dropout = 0.1

    def _network(self, n_features: int, n_classes: int, frames: int):
        import torch
        from torch import nn

        k, hidden, dropout = self.kernel_size, self.hidden_dim, self.dropout
        levels = max(self.num_layers, int(np.ceil(np.log2(max(frames - 1, 1) / (2 * (k - 1)) + 1))) + 1)

        class Block(nn.Module):
            def __init__(self, c_in: int, dilation: int) -> None:
                super().__init__()
                self.pad = (k - 1) * dilation
                self.conv1 = nn.Conv1d(c_in, hidden, k, dilation=dilation)
                self.conv2 = nn.Conv1d(hidden, hidden, k, dilation=dilation)
                self.drop = nn.Dropout(dropout)
                self.skip = nn.Conv1d(c_in, hidden, 1) if c_in != hidden else nn.Identity()

            def forward(self, x: torch.Tensor) -> torch.Tensor:  # (n, C, T), causal: pad on the left
                h = self.drop(torch.relu(self.conv1(nn.functional.pad(x, (self.pad, 0)))))
                h = self.drop(torch.relu(self.conv2(nn.functional.pad(h, (self.pad, 0)))))
                return torch.relu(h + self.skip(x))

        class Net(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.blocks = nn.Sequential(*[Block(n_features if i == 0 else hidden, 2**i) for i in range(levels)])
                self.head = nn.Linear(2 * hidden, n_classes)

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                h = self.blocks(x.transpose(1, 2))
                return self.head(torch.cat([h[:, :, -1], h.mean(dim=2)], dim=1))

        return Net()


class TransformerClassifier(TorchSequenceClassifier):
    """A small Transformer encoder: a linear embedding of each frame plus sinusoidal positional
    encoding, ``num_layers`` (at least 2) pre-norm encoder layers with 4 heads, mean-pooled over
    time into a linear layer."""

    dropout = 0.1

    def _network(self, n_features: int, n_classes: int, frames: int):
        import torch
        from torch import nn

        d = self.hidden_dim
        heads = 4 if d % 4 == 0 else 1
        layers = max(2, self.num_layers)
        position = np.arange(max(frames, 1))[:, None]
        rates = np.exp(-np.log(10_000.0) * (np.arange(0, d, 2) / d))
        encoding = np.zeros((max(frames, 1), d), np.float32)
        encoding[:, 0::2] = np.sin(position * rates)
        encoding[:, 1::2] = np.cos(position * rates)[:, : d // 2]

        class Net(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.embed = nn.Linear(n_features, d)
                self.register_buffer("position", torch.from_numpy(encoding))
                layer = nn.TransformerEncoderLayer(
                    d, heads, dim_feedforward=2 * d, dropout=TransformerClassifier.dropout,
                    batch_first=True, norm_first=True,
                )  # fmt: skip
                self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
                self.norm = nn.LayerNorm(d)
                self.head = nn.Linear(d, n_classes)

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                h = self.encoder(self.embed(x) + self.position[: x.shape[1]])
                return self.head(self.norm(h.mean(dim=1)))

        return Net()


class RidgeClassifier:
    """Standardised features into a one-vs-rest ridge classifier (targets ±1, balanced class
    weights) whose penalty is chosen among ``alphas`` by exact leave-one-out error, as MiniRocket
    is used. ``predict_proba`` is the softmax of the decision values, so that it plugs into
    confidences and live smoothing.

    With fewer windows than features scikit-learn's RidgeClassifierCV (an n × n problem) does
    the work. With more windows (10,000 live windows against 4,000 MiniRocket features) one
    eigendecomposition of the p × p weighted Gram matrix gives every penalty's coefficients and
    leave-one-out residuals: several times faster than scikit-learn's SVD of the n × p matrix.
    """

    alphas = tuple(np.logspace(-3, 3, 10))

    def __init__(self, *, random_state: int = 0) -> None:
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: np.ndarray):
        X = np.asarray(X, np.float32)
        self.mean_ = X.mean(axis=0)
        self.scale_ = X.std(axis=0)
        self.scale_[self.scale_ < 1e-8] = 1.0
        Xs = (X - self.mean_) / self.scale_
        self.classes_ = np.unique(y)
        if len(Xs) <= Xs.shape[1]:
            from sklearn.linear_model import RidgeClassifierCV

            self.model_ = RidgeClassifierCV(alphas=np.array(self.alphas), class_weight="balanced").fit(Xs, y)
            self.alpha_ = float(self.model_.alpha_)
            return self
        self.model_ = None
        index = np.searchsorted(self.classes_, y)
        counts = np.bincount(index, minlength=len(self.classes_))
        w = (len(y) / (len(self.classes_) * counts))[index]  # balanced class weights
        Y = -np.ones((len(y), len(self.classes_)))
        Y[np.arange(len(y)), index] = 1.0
        if len(self.classes_) == 2:
            Y = Y[:, 1:]  # one decision column for two classes, as scikit-learn
        # Weighted centring (the intercept), then rows scaled by sqrt(w): plain ridge.
        x_mean = (w[:, None] * Xs).sum(axis=0, dtype=np.float64) / w.sum()
        y_mean = (w[:, None] * Y).sum(axis=0) / w.sum()
        root = np.sqrt(w)
        Xw = ((Xs - x_mean.astype(np.float32)) * root[:, None].astype(np.float32)).astype(np.float32)
        Yw = (Y - y_mean) * root[:, None]
        gram = (Xw.T @ Xw).astype(np.float64)
        eigenvalues, V = np.linalg.eigh(gram)
        eigenvalues = np.maximum(eigenvalues, 0.0)
        projected = (Xw @ V.astype(np.float32)).astype(np.float64)  # n × p
        squared = projected**2
        targets = V.T @ (Xw.T.astype(np.float64) @ Yw)  # p × c
        intercept_leverage = w / w.sum()
        best = None
        for alpha in self.alphas:
            d = 1.0 / (eigenvalues + alpha)
            leverage = squared @ d + intercept_leverage
            fitted = projected @ (d[:, None] * targets)
            loo = (Yw - fitted) / np.maximum(1.0 - leverage, 1e-12)[:, None]
            error = float(np.mean(loo**2))
            if best is None or error < best[0]:
                best = (error, alpha, d)
        _, self.alpha_, d = best
        self.coef_ = (V @ (d[:, None] * targets)).astype(np.float32)  # p × c
        self.intercept_ = (y_mean - x_mean @ self.coef_).astype(np.float32)
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        Xs = (np.asarray(X, np.float32) - self.mean_) / self.scale_
        if self.model_ is not None:
            scores = self.model_.decision_function(Xs)
        else:
            scores = Xs @ self.coef_ + self.intercept_
            scores = scores[:, 0] if scores.shape[1] == 1 else scores
        return np.column_stack([-scores, scores]) if scores.ndim == 1 else scores

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        scores = self.decision_function(X)
        scores = scores - scores.max(axis=1, keepdims=True)
        e = np.exp(scores)
        return e / e.sum(axis=1, keepdims=True)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[self.decision_function(X).argmax(axis=1)]
