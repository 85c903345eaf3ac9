"""The pipeline's own classifiers, behind scikit-learn's estimator API.

The temporal networks (:class:`LSTMClassifier`, :class:`TCNClassifier`,
:class:`TransformerClassifier`, sharing :class:`TorchSequenceClassifier`'s training loop) and
:class:`RidgeClassifier` (the ridge for random convolution features). Each is a scikit-learn
``BaseEstimator``: ``__init__`` stores its parameters and nothing else, so ``get_params``,
``set_params`` and ``sklearn.base.clone`` work; ``fit`` returns self; what is learnt ends in ``_``.

This module imports scikit-learn when it is imported, so the modules that Django, the CLI and the
portable runtime load at start-up (``estimators``, ``aggregation``, ``online``) import it only
when a model is built or unpickled.

The classes lived in ``taskml.pipeline.estimators`` before, and a pickle names a class by its
module: every artifact names them there. So they keep that name (``__module__`` below) and
``estimators`` resolves it to them on first use: artifacts written before and after this module
existed load in either version of the code, and a given fit pickles to the same bytes.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from .estimators import N_JOBS, SMALL_DATA_VALUES, TCN_KERNEL_SIZE, ProgressCallback


class TorchSequenceClassifier(ClassifierMixin, BaseEstimator):
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

    kernel_size = TCN_KERNEL_SIZE
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


class RidgeClassifier(ClassifierMixin, BaseEstimator):
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


# The name every artifact pickles these classes under (see the module doc).
for _moved in (TorchSequenceClassifier, LSTMClassifier, TCNClassifier, TransformerClassifier, RidgeClassifier):
    _moved.__module__ = "taskml.pipeline.estimators"
del _moved
