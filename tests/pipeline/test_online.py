"""Live inference: smoothing, the rolling buffer, and parity with offline window predictions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from taskml.pipeline.artifacts import load_artifact
from taskml.pipeline.dataset import DatasetSpec, build_dataset
from taskml.pipeline.detectors import Detector, DetectorConfig
from taskml.pipeline.errors import InputError
from taskml.pipeline.estimators import ModelParams
from taskml.pipeline.extraction import extract_features, iter_frames, probe_video
from taskml.pipeline.online import LivePredictor, ModelRunner, Smoother, SmoothingSpec, predict_windows
from taskml.pipeline.training import TrainSpec, train_model
from taskml.pipeline.windows import WindowSpec
from tests.conftest import MEGAMIND_LABELS
from tests.messages import exactly

A, B = np.array([0.9, 0.1]), np.array([0.2, 0.8])


def run(smoother: Smoother, sequence, dt: float = 0.25) -> list[int]:
    return [smoother.update(p, i * dt)[0] for i, p in enumerate(sequence)]


def test_none_follows_every_window():
    assert run(Smoother(SmoothingSpec("none"), 2), [A, B, A, B]) == [0, 1, 0, 1]


def test_median_ignores_a_single_outlier():
    assert run(Smoother(SmoothingSpec("median", k=3), 2), [A, A, B, A, A]) == [0, 0, 0, 0, 0]


def test_median_follows_a_lasting_change():
    assert run(Smoother(SmoothingSpec("median", k=3), 2), [A, A, B, B, B]) == [0, 0, 0, 1, 1]


def test_ema_lags_then_switches():
    labels = run(Smoother(SmoothingSpec("ema", alpha=0.3), 2), [A, A, B, B, B, B])
    assert labels[:3] == [0, 0, 0] and labels[-1] == 1


def test_hysteresis_switches_only_after_the_minimum_time():
    smoother = Smoother(SmoothingSpec("hysteresis", min_duration=0.5), 2)
    # B wins from t=0.5; at t=0.75 it has held 0.25 s, at 1.0 it has held 0.5 s.
    assert run(smoother, [A, A, B, B, B, A]) == [0, 0, 0, 0, 1, 1]


def test_hysteresis_flicker_never_switches():
    smoother = Smoother(SmoothingSpec("hysteresis", min_duration=0.5), 2)
    assert run(smoother, [A, B, A, B, A, B, A]) == [0] * 7


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "mode"}, "smoothing 'mode' unknown; choose one of none, median, ema, hysteresis"),
        ({"method": "median", "k": 0}, "k must be between 1 and 1000, got 0"),
        ({"method": "ema", "alpha": 0}, "alpha must be between 0.001 and 1, got 0"),
        ({"min_duration": -1}, "min_duration must be between 0 and 3600 s, got -1"),
    ],
)
def test_bad_smoothing_is_refused(kwargs, message):
    with pytest.raises(InputError, match=exactly(message)):
        SmoothingSpec(**kwargs)


class _Constant:
    """A stand-in estimator: probability of class 1 = the window's mean of feature 0."""

    classes_ = np.array([0, 1])

    def predict_proba(self, x):
        p = 1 / (1 + np.exp(-x[:, 0]))
        return np.column_stack([1 - p, p])


def _runner(window_sec=1.0, step_sec=0.25, fps=10.0) -> ModelRunner:
    return ModelRunner(
        {
            "estimator": _Constant(),
            "aggregation": "stats",
            "feature_names": ["f"],
            "window": {"window_sec": window_sec, "step_sec": step_sec, "fps": fps},
            "scaler_mean": [0.0],
            "scaler_scale": [1.0],
            "idx_to_label": {"0": "a", "1": "b"},
        }
    )


def test_live_rows_match_offline_windows_and_the_buffer_stays_small():
    rng = np.random.default_rng(0)
    t = np.arange(0, 12, 1 / 24)
    values = rng.normal(size=(len(t), 1)).astype(np.float32)
    runner = _runner()
    starts, probabilities = predict_windows(t, values, runner)
    live = LivePredictor(runner, width=640, height=480, with_objects=False)
    got = []
    for ti, row in zip(t, values, strict=True):
        got += live.push_row(float(ti), row)
        assert len(live._t) <= 26  # one window (24 frames) and its neighbours, never the whole stream
    got += live.finish()
    assert np.allclose([g.start for g in got], starts)
    assert np.allclose([g.probabilities for g in got], probabilities)


def test_a_repeated_or_late_frame_is_ignored():
    live = LivePredictor(_runner(), width=640, height=480, with_objects=False)
    live.push_row(0.0, np.array([0.0], np.float32))
    live.push_row(0.1, np.array([0.0], np.float32))
    assert live.push_row(0.05, np.array([5.0], np.float32)) == []
    assert list(live._t) == [0.0, 0.1]


@pytest.mark.slow
def test_streamed_video_gives_the_offline_window_predictions(megamind, tmp_path):
    """The same video, extracted and windowed offline vs streamed frame by frame: same predictions."""
    config = DetectorConfig(kind="mediapipe")
    extract_features(megamind, tmp_path / "f.parquet", config=config, labels=MEGAMIND_LABELS)
    build_dataset(
        [tmp_path / "f.parquet"],
        tmp_path / "ds",
        spec=DatasetSpec(window=WindowSpec(window_sec=1.0, step_sec=0.25), ratios=(0.5, 0.25, 0.25)),
    )
    # A stateless aggregation (lgbm on stats) and a representation fitted on train (MiniRocket's
    # kernels and biases, stored in the bundle) must both come out the same live and offline.
    runners = []
    for name, spec in (
        ("lgbm", TrainSpec(model_type="lgbm", params=ModelParams(n_estimators=50))),
        ("ridge", TrainSpec(model_type="ridge", aggregation="minirocket", params=ModelParams(rocket_features=500))),
    ):
        trained = train_model(tmp_path / "ds", tmp_path / f"{name}.pkl", spec=spec)
        runners.append(ModelRunner(load_artifact(trained.model_path, expected_sha256=trained.sha256)))
    assert runners[0].representation is None and runners[1].representation is not None

    frame = pd.read_parquet(tmp_path / "f.parquet")
    values = frame[runners[0].feature_names].to_numpy(np.float32).copy()
    values[~np.isfinite(values)] = np.nan
    offline = [predict_windows(frame["t"].to_numpy(), values, runner) for runner in runners]

    info = probe_video(megamind)
    lives = [LivePredictor(r, width=info.width, height=info.height, with_objects=False) for r in runners]
    streamed = [[] for _ in runners]
    with Detector(config) as detector:
        for _, t, detections in detector.process_stream(iter_frames(info)):
            for live, out in zip(lives, streamed, strict=True):
                out += live.push(t, detections)
    for live, out in zip(lives, streamed, strict=True):
        out += live.finish()

    for runner, (starts, probabilities), windows in zip(runners, offline, streamed, strict=True):
        assert len(starts) == len(windows) > 30
        assert np.allclose([w.start for w in windows], starts)
        assert np.allclose([w.probabilities for w in windows], probabilities, atol=1e-6)
        assert {w.label for w in windows} <= set(runner.labels)


def test_a_fitted_representation_gives_the_same_windows_live_and_offline():
    """MiniRocket fitted on train windows travels in the bundle; live applies it one window at a time."""
    from taskml.pipeline.estimators import RidgeClassifier
    from taskml.pipeline.representations import MiniRocket

    rng = np.random.default_rng(3)
    frames = 10  # 1 s windows at 10 fps
    train = rng.normal(size=(60, frames, 2)).astype(np.float32)
    y = (train[:, :5, 0].mean(axis=1) > train[:, 5:, 0].mean(axis=1)).astype(int)  # order decides the class
    representation = MiniRocket(num_features=200, random_state=0).fit(train)
    estimator = RidgeClassifier().fit(representation.transform(train), y)
    runner = ModelRunner(
        {
            "estimator": estimator,
            "aggregation": "minirocket",
            "representation": representation,
            "feature_names": ["f", "g"],
            "window": {"window_sec": 1.0, "step_sec": 0.25, "fps": 10.0},
            "scaler_mean": [0.0, 0.0],
            "scaler_scale": [1.0, 1.0],
            "idx_to_label": {"0": "a", "1": "b"},
        }
    )
    t = np.arange(0, 12, 1 / 24)
    values = rng.normal(size=(len(t), 2)).astype(np.float32)
    values[rng.random(values.shape) < 0.05] = np.nan  # missing detections
    starts, probabilities = predict_windows(t, values, runner)
    live = LivePredictor(runner, width=640, height=480, with_objects=False)
    got = []
    for ti, row in zip(t, values, strict=True):
        got += live.push_row(float(ti), row)
    got += live.finish()
    assert len(got) == len(starts) > 30
    assert np.allclose([g.start for g in got], starts)
    assert np.allclose([g.probabilities for g in got], probabilities, atol=1e-6)
    assert len({g.label for g in got}) == 2  # not a constant answer


def test_packed_forest_gives_scikit_learns_probabilities():
    from sklearn.ensemble import RandomForestClassifier

    from taskml.pipeline.online import PackedForest

    rng = np.random.default_rng(1)
    X = rng.normal(size=(600, 12)).astype(np.float32)
    y = np.where(X[:, 0] + X[:, 1] * X[:, 2] > 0, "a", np.where(X[:, 3] > 0.5, "b", "c"))
    forest = RandomForestClassifier(n_estimators=40, min_samples_leaf=2, random_state=0).fit(X, y)
    test = rng.normal(size=(200, 12)).astype(np.float32)
    packed = PackedForest(forest)
    assert list(packed.classes_) == ["a", "b", "c"]
    assert np.array_equal(packed.predict_proba(test), forest.predict_proba(test))  # windows come NaN-free
    assert np.array_equal(packed.predict_proba(test[:1]), forest.predict_proba(test[:1]))
