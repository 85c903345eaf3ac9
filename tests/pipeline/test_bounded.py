"""Bounded work in the pipeline: one range per parameter, estimates before work, and fits that stop
between small steps when their progress callback raises (how a job is cancelled or timed out)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from taskml.pipeline.dataset import DatasetSpec, build_dataset, plan_dataset
from taskml.pipeline.errors import Cancelled, InputError, TooLarge
from taskml.pipeline.estimates import (
    DatasetShape,
    check_dataset_size,
    check_training,
    estimate_dataset,
    estimate_training,
    windows_in,
)
from taskml.pipeline.estimators import MODEL_PARAMS, ModelParams, fit_estimator, make_estimator
from taskml.pipeline.labels import MAX_CLASSES, parse_labels
from taskml.pipeline.params import SEED
from taskml.pipeline.representations import MiniRocket
from taskml.pipeline.windows import WINDOW_PARAMS, WindowSpec

from .conftest import feature_frame, write_feature_file

# ---------------------------------------------------------------- ranges


@pytest.mark.parametrize(
    "make,param",
    [
        (lambda: WindowSpec(step_sec=1e-9), "step_sec"),
        (lambda: WindowSpec(window_sec=1e308), "window_sec"),
        (lambda: WindowSpec(window_sec=float("nan")), "window_sec"),
        (lambda: WindowSpec(resample_fps=-0.0), "resample_fps"),
        (lambda: WindowSpec(window_sec=3600, resample_fps=1000), "window_sec"),  # 3.6 million frames a window
        (lambda: DatasetSpec(seed=2**32), "seed"),
        (lambda: DatasetSpec(ratios=(1.5, -0.25, -0.25)), "train_ratio"),
        (lambda: ModelParams(n_estimators=1_000_000_000), "n_estimators"),
        (lambda: ModelParams(epochs=1_000_000_000), "epochs"),
        (lambda: ModelParams(hidden_dim=1_000_000), "hidden_dim"),
        (lambda: ModelParams(rocket_features=1_000_000_000), "rocket_features"),
        (lambda: ModelParams(learning_rate=float("inf")), "learning_rate"),
        (lambda: ModelParams(batch_size=2.5), "batch_size"),
    ],
)
def test_every_spec_refuses_values_outside_its_one_range_naming_the_parameter(make, param):
    with pytest.raises(InputError) as caught:
        make()
    assert caught.value.param == param
    assert str(caught.value).startswith(param)


def test_defaults_and_ranges_have_one_definition():
    assert WindowSpec().step_sec == WINDOW_PARAMS["step_sec"].default
    assert ModelParams().n_estimators == MODEL_PARAMS["n_estimators"].default
    assert DatasetSpec().seed == SEED.default
    assert ModelParams(n_estimators=100_000).n_estimators == MODEL_PARAMS["n_estimators"].maximum
    assert WINDOW_PARAMS["step_sec"].describe() == "between 0.001 and 3600 s"


# ---------------------------------------------------------------- dataset estimates


def test_window_count_from_durations_is_the_builders(tmp_path):
    spec = DatasetSpec(window=WindowSpec(window_sec=2.0, step_sec=0.5, resample_fps=5.0), ratios=(0.6, 0.2, 0.2))
    paths = [
        write_feature_file(tmp_path / f"v{i}.parquet", feature_frame(f"v{i}", seconds=40.0 + 7 * i, nan_fraction=0))
        for i in range(3)
    ]
    plan = plan_dataset(paths, spec)
    placed = sum(len(s.windows.starts) + sum(s.windows.dropped.values()) for s in plan.sources)
    durations = [40.0 + 7 * i for i in range(3)]  # 10 fps: n frames span n / 10 s
    estimate = estimate_dataset(durations, spec.window, 243)
    assert estimate.windows == placed
    assert estimate.bytes == placed * spec.window.frames * 243 * 4
    assert windows_in(1.0, spec.window) == 0 and windows_in(2.0, spec.window) == 1


def test_a_build_past_its_byte_limit_is_refused_before_any_array_exists(tmp_path):
    path = write_feature_file(tmp_path / "long.parquet", feature_frame("long", seconds=600.0, nan_fraction=0))
    spec = DatasetSpec(window=WindowSpec(window_sec=2.0, step_sec=0.01, resample_fps=15.0))
    with pytest.raises(TooLarge) as caught:
        build_dataset([path], tmp_path / "out", spec=spec, max_bytes=64 * 2**20, limit_name="TASKML_MAX_DATASET_MB")
    message = str(caught.value)
    assert caught.value.param == "step_sec" and caught.value.estimate > caught.value.limit == 64 * 2**20
    assert message.startswith("step_sec: the dataset would hold about ")
    assert "59,801 windows × 30 frames × 243 features" in message and "TASKML_MAX_DATASET_MB" in message
    assert not (tmp_path / "out").exists()


def test_the_parameter_named_is_the_one_that_grew_the_dataset():
    estimate = estimate_dataset([3600.0], WindowSpec(window_sec=60.0, resample_fps=15.0), 243)
    with pytest.raises(TooLarge) as caught:
        check_dataset_size(estimate, WindowSpec(window_sec=60.0), max_bytes=2**20, limit_name="L")
    assert caught.value.param == "window_sec"


# ---------------------------------------------------------------- training estimates

BIG = DatasetShape(train=10_000, val=1_500, test=1_500, frames=30, features=243, classes=4)


def test_the_defaults_fit_the_default_limits_and_absurd_requests_do_not():
    limits = {
        "max_memory_bytes": 1536 * 2**20,
        "memory_limit_name": "TASKML_WORKER_MAX_MEMORY_MB",
        "max_seconds": 4 * 3600,
        "time_limit_name": "TASKML_TRAINING_TIME_LIMIT",
    }
    for model, aggregation in [("rf", "stats"), ("lgbm", "stats"), ("ridge", "minirocket"), ("lstm", "sequence"),
                               ("tcn", "sequence"), ("transformer", "sequence")]:  # fmt: skip
        check_training(estimate_training(model, aggregation, ModelParams(), BIG), **limits)
    refused = {
        "n_estimators": ("rf", "stats", ModelParams(n_estimators=100_000)),  # 100,000 grown trees: ~100 GiB
        "hidden_dim": ("lstm", "sequence", ModelParams(hidden_dim=4096)),
        "epochs": ("transformer", "sequence", ModelParams(epochs=10_000, patience=10_000, hidden_dim=256)),
        "rocket_features": ("ridge", "minirocket", ModelParams(rocket_features=100_000)),
    }
    for param, (model, aggregation, params) in refused.items():
        with pytest.raises(TooLarge) as caught:
            check_training(estimate_training(model, aggregation, params, BIG), **limits)
        assert caught.value.param == param, str(caught.value)
        assert str(caught.value).startswith(f"{param}: training would ")


# ---------------------------------------------------------------- fits that stop between steps


@pytest.fixture(scope="module")
def xy():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    x = rng.normal(size=(300, 12, 6)).astype(np.float32) + y[:, None, None]
    return x, y


class StopAfter:
    """A progress callback that raises Cancelled at its n-th call, counting the calls."""

    def __init__(self, n: int):
        self.n, self.calls = n, []

    def __call__(self, done: int, total: int) -> None:
        self.calls.append((done, total))
        if len(self.calls) >= self.n:
            raise Cancelled("cancelled on request")


def test_a_forest_grown_in_batches_is_the_forest_grown_at_once(xy):
    x, y = xy
    flat = x.reshape(len(x), -1)
    params = ModelParams(n_estimators=25)
    whole = make_estimator("rf", params, 7).fit(flat, y)
    calls = []
    batched = fit_estimator(make_estimator("rf", params, 7), flat, y, progress=lambda d, t: calls.append((d, t)))
    assert len(batched.estimators_) == 25 and batched.n_estimators == 25 and not batched.warm_start
    assert calls[-1] == (25, 25) and len(calls) > 1
    np.testing.assert_array_equal(batched.predict_proba(flat), whole.predict_proba(flat))


@pytest.mark.parametrize("model", ["rf", "lgbm", "lstm", "ridge"])
def test_a_fit_stops_at_the_progress_call_that_raises(xy, model):
    x, y = xy
    params = ModelParams(n_estimators=10_000, epochs=10_000, patience=10_000, hidden_dim=8, batch_size=16)
    features = x if model == "lstm" else x.reshape(len(x), -1)
    stop = StopAfter(3 if model != "ridge" else 1)
    started = time.perf_counter()
    with pytest.raises(Cancelled):
        fit_estimator(make_estimator(model, params, 0), features, y, X_val=features[:30], y_val=y[:30], progress=stop)
    assert time.perf_counter() - started < 20  # 10,000 trees, rounds or epochs would take minutes
    assert len(stop.calls) == stop.n


def test_minirocket_transforms_in_chunks_and_stops_between_them(xy):
    x, _ = xy
    rocket = MiniRocket(num_features=2_000, random_state=0, chunk=16).fit(x)
    calls = []
    whole = rocket.transform(x, progress=lambda d, t: calls.append((d, t)))
    assert len(calls) == -(-len(x) // 16) and calls[0] == (0, len(x))
    np.testing.assert_array_equal(whole, rocket.transform(x))
    with pytest.raises(Cancelled):
        rocket.transform(x, progress=StopAfter(2))


# ---------------------------------------------------------------- labels


@pytest.mark.parametrize(
    "text,words",
    [
        ("frame_index,label\n0," + "x" * 100_000 + "\n", ["line 2", "100,000 characters", "at most 200"]),
        ("frame_index,label\n0,reach\x07\n", ["line 2", "control character"]),
        ("start_frame,end_frame,label\n0,999999999999,a\n", ["line 2", "more than 1,000,000 frames"]),
    ],
)
def test_labels_must_be_printable_short_and_few(text, words):
    with pytest.raises(InputError) as caught:
        parse_labels(text, source="labels.csv")
    for word in words:
        assert word in str(caught.value)


def test_at_most_a_thousand_classes_per_labels_file():
    rows = "".join(f"{i},class{i}\n" for i in range(MAX_CLASSES + 1))
    with pytest.raises(InputError, match=r"line 1002: more than 1,000 different labels"):
        parse_labels("frame_index,label\n" + rows)
    assert len(parse_labels("frame_index,label\n" + rows.rsplit("\n", 2)[0] + "\n").classes) == MAX_CLASSES
