"""The model zoo, behind the scikit-learn estimator API.

``make_estimator`` builds RandomForest, LightGBM or the LSTM sequence classifier from one
parameter set; all are seeded and use both cores.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .errors import InputError

MODEL_TYPES = ("rf", "lgbm", "lstm")
MODEL_ALIASES = {"lightgbm": "lgbm", "random_forest": "rf", "randomforest": "rf"}
N_JOBS = 2


def canonical_model_type(name: str) -> str:
    model = MODEL_ALIASES.get(name.lower(), name.lower())
    if model not in MODEL_TYPES:
        raise InputError(f"model {name!r} unknown; choose one of {', '.join(MODEL_TYPES)} (or lightgbm)")
    return model


@dataclass(frozen=True)
class ModelParams:
    n_estimators: int = 200
    max_depth: int | None = None
    learning_rate: float = 0.1  # LightGBM
    epochs: int = 60  # LSTM
    lr: float = 1e-3
    hidden_dim: int = 64
    num_layers: int = 1
    batch_size: int = 64
    patience: int = 8

    def __post_init__(self) -> None:
        for name in ("n_estimators", "epochs", "hidden_dim", "num_layers", "batch_size", "patience"):
            if getattr(self, name) < 1:
                raise InputError(f"{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.max_depth is not None and self.max_depth < 1:
            raise InputError(f"max-depth must be at least 1, got {self.max_depth}")
        if not self.learning_rate > 0 or not self.lr > 0:
            raise InputError("learning rates must be positive")

    def as_dict(self) -> dict:
        return asdict(self)


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
    return LSTMClassifier(
        hidden_dim=params.hidden_dim,
        num_layers=params.num_layers,
        epochs=params.epochs,
        lr=params.lr,
        batch_size=params.batch_size,
        patience=params.patience,
        random_state=seed,
    )


class LSTMClassifier:
    """An LSTM over the window's frames, trained with Adam and early stopping on val loss.

    Follows the scikit-learn API: ``fit(X, y)`` returns self, learned attributes end in ``_``.
    X is (n, frames, features); the final hidden state feeds a linear layer.
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

    def _network(self, n_features: int, n_classes: int):
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

    def fit(self, X: np.ndarray, y: np.ndarray, *, X_val: np.ndarray | None = None, y_val: np.ndarray | None = None):
        import torch

        torch.manual_seed(self.random_state)
        torch.set_num_threads(N_JOBS)
        self.classes_ = np.unique(y)
        index = {c: i for i, c in enumerate(self.classes_)}
        yi = torch.tensor([index[c] for c in y], dtype=torch.long)
        xt = torch.from_numpy(np.array(X, dtype=np.float32))
        net = self._network(X.shape[2], len(self.classes_))
        optimiser = torch.optim.Adam(net.parameters(), lr=self.lr)
        counts = np.bincount(yi.numpy(), minlength=len(self.classes_)).astype(np.float32)
        weights = torch.from_numpy(counts.sum() / (len(counts) * np.maximum(counts, 1)))
        loss_fn = torch.nn.CrossEntropyLoss(weight=weights)
        has_val = X_val is not None and len(X_val) > 0 and np.isin(y_val, self.classes_).all()
        if has_val:
            xv = torch.from_numpy(np.array(X_val, dtype=np.float32))
            yv = torch.tensor([index[c] for c in y_val], dtype=torch.long)
        generator = torch.Generator().manual_seed(self.random_state)
        best_loss, best_state, stale = np.inf, None, 0
        self.history_ = []
        for epoch in range(self.epochs):
            net.train()
            order = torch.randperm(len(xt), generator=generator)
            total = 0.0
            for start in range(0, len(xt), self.batch_size):
                batch = order[start : start + self.batch_size]
                optimiser.zero_grad()
                loss = loss_fn(net(xt[batch]), yi[batch])
                loss.backward()
                optimiser.step()
                total += loss.item() * len(batch)
            record = {"epoch": epoch + 1, "train_loss": total / len(xt)}
            if has_val:
                net.eval()
                with torch.no_grad():
                    val_loss = loss_fn(net(xv), yv).item()
                record["val_loss"] = val_loss
                if val_loss < best_loss - 1e-4:
                    best_loss, stale = val_loss, 0
                    best_state = {k: v.clone() for k, v in net.state_dict().items()}
                else:
                    stale += 1
            self.history_.append(record)
            if has_val and stale >= self.patience:
                break
        if best_state is not None:
            net.load_state_dict(best_state)
        self.n_epochs_ = len(self.history_)
        self.net_ = net.eval()
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            logits = self.net_(torch.from_numpy(np.array(X, dtype=np.float32)))
            return torch.softmax(logits, dim=1).numpy()

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def __getstate__(self) -> dict:
        # The network class is built at fit time; store its weights and rebuild on load.
        state = self.__dict__.copy()
        net = state.pop("net_", None)
        if net is not None:
            state["net_state_"] = {k: v.numpy() for k, v in net.state_dict().items()}
            state["net_shape_"] = (net.lstm.input_size, net.head.out_features)
        return state

    def __setstate__(self, state: dict) -> None:
        import torch

        net_state = state.pop("net_state_", None)
        shape = state.pop("net_shape_", None)
        self.__dict__.update(state)
        if net_state is not None:
            net = self._network(*shape)
            net.load_state_dict({k: torch.from_numpy(v) for k, v in net_state.items()})
            self.net_ = net.eval()
