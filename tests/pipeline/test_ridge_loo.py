"""The ridge classifier's own leave-one-out solver (more windows than features) gives
scikit-learn's RidgeClassifierCV answer: the same penalty and the same decision values, to
float32 precision (README, *Models*)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import RidgeClassifierCV

from taskml.pipeline.estimators import RidgeClassifier


def separable(seed: int, *, windows: int, features: int, classes: int, spread: float):
    """Gaussian classes whose centres lie ``spread`` apart, one feature on a much larger scale."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, windows)
    y[: 3 * classes] = np.arange(3 * classes) % classes  # every class present
    centres = rng.normal(size=(classes, features)) * spread
    X = (rng.normal(size=(windows, features)) + centres[y]).astype(np.float32)
    X[:, 0] *= 50  # standardisation matters
    return X, y


@pytest.mark.parametrize(
    ("seed", "windows", "features", "classes", "spread"),
    [
        (0, 300, 40, 2, 3.0),  # well separated: a small penalty wins
        (1, 400, 60, 3, 1.0),
        (2, 250, 30, 4, 0.3),
        (3, 500, 80, 3, 0.1),  # mostly noise: a large penalty wins
    ],
)
def test_leave_one_out_ridge_equals_scikit_learn(seed, windows, features, classes, spread):
    X, y = separable(seed, windows=windows, features=features, classes=classes, spread=spread)
    ours = RidgeClassifier().fit(X, y)
    assert ours.model_ is None  # more windows than features: the eigendecomposition path, not scikit-learn's

    standardised = (X - ours.mean_) / ours.scale_
    theirs = RidgeClassifierCV(alphas=np.array(RidgeClassifier.alphas), class_weight="balanced").fit(standardised, y)
    expected = theirs.decision_function(standardised)
    expected = np.column_stack([-expected, expected]) if expected.ndim == 1 else expected

    assert ours.alpha_ == theirs.alpha_
    got = ours.decision_function(X)
    assert np.abs(got - expected).max() < 5e-6 * np.abs(expected).max()  # measured: at most 1.9e-6 relative (float32)
    assert np.array_equal(ours.predict(X), theirs.predict(standardised))


def test_the_penalties_chosen_differ_across_these_cases():
    """The comparison above is only worth something if the leave-one-out choice is exercised."""
    chosen = {
        RidgeClassifier().fit(*separable(seed, windows=300, features=40, classes=2, spread=spread)).alpha_
        for seed, spread in ((0, 3.0), (3, 0.1))
    }
    assert len(chosen) == 2
