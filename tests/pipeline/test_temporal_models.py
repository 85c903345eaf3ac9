"""The temporal networks (LSTM, TCN, Transformer): they learn order, stop early on val, pickle."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from taskml.pipeline.estimators import (
    LSTMClassifier,
    ModelParams,
    TCNClassifier,
    TorchSequenceClassifier,
    TransformerClassifier,
    make_estimator,
)

from .test_representations import reach_and_return

NETWORKS = {"lstm": LSTMClassifier, "tcn": TCNClassifier, "transformer": TransformerClassifier}
PARAMS = ModelParams(hidden_dim=8, num_layers=1, epochs=25, lr=1e-2, batch_size=32, patience=4)


@pytest.fixture(scope="module")
def task():
    """Reach vs return (the same values in the opposite order) with noise: only order separates."""
    x_train, y_train = reach_and_return(40, seed=10)
    x_val, y_val = reach_and_return(15, seed=11)
    x_test, y_test = reach_and_return(30, seed=12)
    return x_train, y_train, x_val, y_val, x_test, y_test


@pytest.fixture(scope="module")
def fitted(task):
    x_train, y_train, x_val, y_val, _, _ = task
    return {
        name: make_estimator(name, PARAMS, seed=0).fit(x_train, y_train, X_val=x_val, y_val=y_val) for name in NETWORKS
    }


@pytest.mark.parametrize("name", list(NETWORKS))
def test_network_learns_a_task_only_order_separates(fitted, task, name):
    model = fitted[name]
    assert isinstance(model, NETWORKS[name]) and isinstance(model, TorchSequenceClassifier)
    *_, x_test, y_test = task
    assert (model.predict(x_test) == y_test).mean() >= 0.9
    proba = model.predict_proba(x_test)
    assert proba.shape == (len(x_test), 2) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)


@pytest.mark.parametrize("name", list(NETWORKS))
def test_network_stops_early_on_val_and_keeps_the_best_epoch(fitted, name):
    model = fitted[name]
    history = model.history_
    assert all("val_loss" in record for record in history)
    best = min(history, key=lambda r: r["val_loss"])
    assert history[model.best_epoch_ - 1]["val_loss"] <= best["val_loss"] + 1e-4  # the weights kept
    if model.stopped_early_:
        assert model.n_epochs_ < PARAMS.epochs and model.n_epochs_ - model.best_epoch_ >= PARAMS.patience


def test_early_stopping_cuts_training_short_when_val_stops_improving(task):
    x_train, y_train, x_val, y_val, _, _ = task
    # Val labels shuffled: the val loss cannot keep falling, so training must stop early.
    rng = np.random.default_rng(0)
    model = TCNClassifier(hidden_dim=8, epochs=100, lr=1e-2, patience=3, random_state=0)
    model.fit(x_train, y_train, X_val=x_val, y_val=rng.permutation(y_val))
    assert model.stopped_early_ and model.n_epochs_ < 100
    assert model.n_epochs_ == model.best_epoch_ + 3


@pytest.mark.parametrize("name", list(NETWORKS))
def test_network_is_seeded_and_survives_pickling(fitted, task, name):
    x_train, y_train, x_val, y_val, x_test, _ = task
    short = ModelParams(hidden_dim=8, epochs=3, lr=1e-2, batch_size=32)
    one = make_estimator(name, short, seed=0).fit(x_train, y_train, X_val=x_val, y_val=y_val)
    two = make_estimator(name, short, seed=0).fit(x_train, y_train, X_val=x_val, y_val=y_val)
    assert np.allclose(one.predict_proba(x_test), two.predict_proba(x_test), atol=1e-6)
    restored = pickle.loads(pickle.dumps(fitted[name]))
    assert np.array_equal(restored.predict_proba(x_test), fitted[name].predict_proba(x_test))


def test_missing_values_are_zero_and_one_window_matches_the_batch(fitted, task):
    *_, x_test, _ = task
    holed = x_test.copy()
    holed[0, 2:6] = np.nan
    for model in fitted.values():
        assert np.allclose(model.predict_proba(holed), model.predict_proba(np.nan_to_num(holed)))
        assert np.allclose(model.predict_proba(x_test[3:4])[0], model.predict_proba(x_test)[3], atol=1e-5)
