"""Window representations that keep temporal shape: multiscale and MiniRocket."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from taskml.pipeline.aggregation import aggregate, aggregated_names, make_representation
from taskml.pipeline.errors import InputError
from taskml.pipeline.estimators import RidgeClassifier
from taskml.pipeline.representations import MiniRocket, MultiScale
from tests.messages import exactly

FRAMES, FEATURES = 30, 3


def reach_and_return(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Class 0 "reach": a fast rise and a slow return; class 1 "return": the same window played
    backwards. Each class-1 window is the exact reversal of a class-0 window whose first and
    last frames are equal, so their mean, std, min, max and last − first are identical."""
    rng = np.random.default_rng(seed)
    u = np.linspace(0, 1, FRAMES)
    bump = np.where(u < 0.3, u / 0.3, (1 - u) / 0.7)  # 0 → 1 quickly, back to 0 slowly
    reach = []
    for _ in range(n):
        window = rng.uniform(0.5, 2.0, FEATURES)[None, :] * bump[:, None]
        window = window + rng.normal(0, 0.05, (FRAMES, FEATURES))
        window[-1] = window[0]  # same start and end: the same "delta" both ways
        reach.append(window)
    reach = np.asarray(reach, np.float32)
    x = np.concatenate([reach, reach[:, ::-1]])
    y = np.repeat([0, 1], n)
    return x, y


def accuracy_with(features_train, y_train, features_test, y_test) -> float:
    model = RidgeClassifier().fit(features_train, y_train)
    return float((model.predict(features_test) == y_test).mean())


def test_stats_cannot_tell_a_reach_from_a_return_but_the_temporal_representations_can():
    x_train, y_train = reach_and_return(60, seed=0)
    x_test, y_test = reach_and_return(40, seed=1)
    half = len(x_train) // 2
    stats = aggregate(x_train, "stats")
    assert np.allclose(stats[:half], stats[half:], atol=1e-5)  # identical vectors for reach and return
    assert accuracy_with(stats, y_train, aggregate(x_test, "stats"), y_test) <= 0.6

    multiscale_train, multiscale_test = aggregate(x_train, "multiscale"), aggregate(x_test, "multiscale")
    assert accuracy_with(multiscale_train, y_train, multiscale_test, y_test) >= 0.95

    rocket = make_representation("minirocket", seed=0, num_features=500).fit(x_train)
    assert accuracy_with(rocket.transform(x_train), y_train, rocket.transform(x_test), y_test) >= 0.95


def test_multiscale_names_match_columns_and_missing_values_are_handled():
    x, _ = reach_and_return(5, seed=2)
    x[0, :, 1] = np.nan  # a feature missing for the whole window
    x[1, 3:9, 0] = np.nan  # and a gap
    out = MultiScale().transform(x)
    names = aggregated_names(["a", "b", "c"], "multiscale", FRAMES)
    assert out.shape == (len(x), len(names)) and out.dtype == np.float32
    assert np.isfinite(out).all()
    assert "a__s40_slope" in names and "c__fft1" in names and "b__all_mean" in names
    assert np.allclose(out[0, [i for i, n in enumerate(names) if n.startswith("b__")]], 0)


def test_minirocket_is_seeded_fitted_on_train_and_row_independent():
    x, _ = reach_and_return(30, seed=3)
    one = MiniRocket(num_features=300, random_state=5).fit(x)
    two = MiniRocket(num_features=300, random_state=5).fit(x)
    other = MiniRocket(num_features=300, random_state=6).fit(x)
    features = one.transform(x)
    assert np.array_equal(features, two.transform(x))
    assert not np.array_equal(features, other.transform(x))
    assert features.shape == (len(x), len(one.biases_)) and 250 <= features.shape[1] <= 350
    assert ((features >= 0) & (features <= 1)).all()  # PPV: a share of positions
    # One window at a time (live) gives the batch's row (offline), bit for bit.
    for i in (0, 7, len(x) - 1):
        assert np.array_equal(one.transform(x[i : i + 1])[0], features[i])
    assert len(one.feature_names(["a", "b", "c"], FRAMES)) == features.shape[1]
    restored = pickle.loads(pickle.dumps(one))
    assert np.array_equal(restored.transform(x), features)


def test_minirocket_kernel_matches_a_direct_convolution():
    x, _ = reach_and_return(4, seed=4)
    rocket = MiniRocket(num_features=200, random_state=0).fit(x)
    conv = rocket._convolve(rocket._channel_sums(x))
    for j in (0, len(rocket.kernels_) // 2, len(rocket.kernels_) - 1):
        d = int(rocket.dilations_[j])
        weights = -np.ones(9)
        weights[list(np.array(rocket.weights_[j] == 2).nonzero()[0])] = 2
        assert (weights == 2).sum() == 3
        series = x[1] @ rocket.mask_[:, j]
        padded = np.pad(series, 4 * d)
        direct = [sum(weights[i] * padded[t + i * d] for i in range(9)) for t in range(FRAMES)]
        assert np.allclose(conv[1, j], direct, atol=1e-4)


def test_minirocket_treats_missing_values_as_the_mean_and_refuses_other_shapes():
    x, _ = reach_and_return(10, seed=5)
    rocket = MiniRocket(num_features=200).fit(x)
    holed = x.copy()
    holed[0, 5:10] = np.nan
    zeroed = np.nan_to_num(holed)
    assert np.array_equal(rocket.transform(holed), rocket.transform(zeroed))
    with pytest.raises(InputError, match=r"^minirocket was fitted on windows of \d+×\d+, got \(10, \d+\)$"):
        rocket.transform(x[:, :10])
    with pytest.raises(InputError, match=exactly("minirocket is not fitted")):
        MiniRocket().transform(x)
    with pytest.raises(
        InputError, match=exactly("aggregation 'minirocket' is fitted on training windows: use make_representation")
    ):
        aggregate(x, "minirocket")  # fitted: only through make_representation
    with pytest.raises(
        InputError,
        match=exactly("aggregation 'median' unknown; choose one of stats, flatten, multiscale, minirocket, sequence"),
    ):
        make_representation("median")


def test_minirocket_feature_count_follows_the_train_size_unless_asked():
    from taskml.pipeline.aggregation import minirocket_features

    assert minirocket_features(40) == 10_000  # small data: MiniRocket's own count, cheap there
    assert minirocket_features(10_000) == 2_000  # keeps 10,000 windows under a minute
    assert minirocket_features(40, 300) == minirocket_features(10_000, 300) == 300
