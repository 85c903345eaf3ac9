"""Retraining's pure part: holdout evaluation as live inference windows, and continued boosting."""

from __future__ import annotations

import json

import numpy as np
import pytest

from taskml.pipeline.artifacts import load_artifact
from taskml.pipeline.dataset import build_dataset
from taskml.pipeline.errors import InputError
from taskml.pipeline.estimators import ModelParams
from taskml.pipeline.incremental import continue_boosting, holdout_evaluate, incremental_check
from taskml.pipeline.online import ModelRunner, predict_windows
from taskml.pipeline.training import TrainSpec, train_model
from taskml.pipeline.windows import make_windows

from .conftest import CLASSES, feature_frame, small_spec, write_feature_file

PARAMS = ModelParams(n_estimators=20, max_depth=4)


def _bundle(result):
    return load_artifact(result.model_path, expected_sha256=result.sha256)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Four training videos, a second batch of four (new labels), one held-out video."""
    root = tmp_path_factory.mktemp("incremental")
    first = [write_feature_file(root / f"a{i}.parquet", feature_frame(f"a{i}", seed=i)) for i in range(4)]
    second = [write_feature_file(root / f"b{i}.parquet", feature_frame(f"b{i}", seed=10 + i)) for i in range(4)]
    holdout = write_feature_file(root / "h.parquet", feature_frame("h", seed=99, segment_sec=4.0))
    spec = small_spec(ratios=(0.5, 0.25, 0.25))
    build_dataset(first, root / "d1", spec=spec)
    build_dataset(second, root / "d2", spec=spec)
    champion = train_model(root / "d1", root / "champion.pkl", spec=TrainSpec(model_type="lgbm", params=PARAMS))
    return {"root": root, "holdout": holdout, "champion": champion, "d2": root / "d2"}


def test_holdout_metrics_are_the_live_window_predictions_against_window_labels(world):
    bundle = _bundle(world["champion"])
    metrics = holdout_evaluate([world["holdout"]], bundle)
    # The same figure by hand: every window predict_windows places, restricted to the labelled ones.
    import pandas as pd

    frame = pd.read_parquet(world["holdout"])
    runner = ModelRunner(bundle)
    t = frame["t"].to_numpy()
    values = frame[runner.feature_names].to_numpy(np.float32)
    starts, probabilities = predict_windows(t, values, runner)
    codes = np.array([runner.labels.index(v) for v in frame["label"]])
    kept = make_windows(t, codes, len(runner.labels), runner.spec, "h")
    chosen = np.isin(np.round(starts, 6), np.round(kept.starts, 6))
    accuracy = float((probabilities[chosen].argmax(axis=1) == kept.codes).mean())
    assert metrics["windows"] == len(kept.starts) > 20
    assert metrics["accuracy"] == pytest.approx(accuracy)
    assert metrics["accuracy"] > 0.8  # the synthetic classes are learnable
    assert set(metrics["per_class"]) == set(CLASSES)
    assert metrics["per_video"]["h"]["windows"] == metrics["windows"]


def test_holdout_labels_the_model_never_learnt_count_as_misses(world, tmp_path):
    frame = feature_frame("x", seed=5)
    frame["label"] = frame["label"].replace("pack", "novel")
    path = write_feature_file(tmp_path / "x.parquet", frame)
    metrics = holdout_evaluate([path], _bundle(world["champion"]))
    assert metrics["unknown_labels"] == ["novel"]
    assert metrics["per_class"]["novel"]["recall"] == 0.0


def test_holdout_refuses_files_without_the_models_features(world, tmp_path):
    frame = feature_frame("y", seed=6).drop(columns=["right_elbow_angle"])
    path = write_feature_file(tmp_path / "y.parquet", frame)
    with pytest.raises(InputError, match="lacks columns"):
        holdout_evaluate([path], _bundle(world["champion"]))


def test_continued_boosting_adds_trees_to_the_champion_and_keeps_its_scaler(world):
    champion = _bundle(world["champion"])
    out = world["root"] / "incremental.pkl"
    result = continue_boosting(world["d2"], out, champion=champion, params=PARAMS, seed=1)
    assert result.trees_before == champion.estimator.booster_.num_trees()
    assert result.trees_after == result.trees_before + PARAMS.n_estimators * len(CLASSES)
    bundle = load_artifact(out, expected_sha256=result.sha256)
    assert bundle.scaler_mean == champion.scaler_mean  # the old trees split in the champion's space
    assert bundle.label_to_idx == champion.label_to_idx
    assert json.loads(out.with_name("incremental_metrics.json").read_text())["incremental"]["trees_after"] == (
        result.trees_after
    )
    assert result.metrics.accuracy > 0.8
    assert holdout_evaluate([world["holdout"]], bundle)["accuracy"] > 0.8


def test_incremental_is_refused_when_the_label_set_or_model_changes(world, tmp_path):
    champion = _bundle(world["champion"])
    two = [
        write_feature_file(tmp_path / f"c{i}.parquet", feature_frame(f"c{i}", seed=i, pattern=CLASSES[:2]))
        for i in range(4)
    ]
    build_dataset(two, tmp_path / "two", spec=small_spec(ratios=(0.5, 0.25, 0.25)))
    assert "label set changed" in incremental_check(champion, tmp_path / "two")
    with pytest.raises(InputError, match="label set changed"):
        continue_boosting(tmp_path / "two", tmp_path / "m.pkl", champion=champion)
    forest = train_model(world["d2"], tmp_path / "rf.pkl", spec=TrainSpec(model_type="rf", params=PARAMS))
    assert "only LightGBM" in incremental_check(_bundle(forest), world["d2"])
    assert incremental_check(champion, world["d2"]) is None


@pytest.mark.slow
def test_incremental_against_full_retrain_on_drifted_data(tmp_path):
    """The comparison a run reports, on more data: prints the figures (pytest -s) the README quotes."""
    import time

    params = ModelParams(n_estimators=50)

    def make(name, seed, **kw):
        frame = feature_frame(name, seed=seed, seconds=60, nan_fraction=0.05, **kw)
        return write_feature_file(tmp_path / f"{name}.parquet", frame)

    old = [make(f"a{i}", i) for i in range(4)]
    new = [make(f"b{i}", 100 + i, offset=0.3) for i in range(4)]  # later recordings drifted a little
    held = [make(f"h{i}", 200 + i, offset=0.3, segment_sec=4.0) for i in range(2)]
    spec = small_spec(ratios=(0.7, 0.15, 0.15))
    build_dataset(old, tmp_path / "old", spec=spec)
    build_dataset(old + new, tmp_path / "all", spec=spec)
    build_dataset(new, tmp_path / "new", spec=spec)
    lgbm = TrainSpec(model_type="lgbm", aggregation="stats", params=params)
    champion = _bundle(train_model(tmp_path / "old", tmp_path / "champion.pkl", spec=lgbm))
    began = time.perf_counter()
    full = _bundle(train_model(tmp_path / "all", tmp_path / "full.pkl", spec=lgbm))
    full_seconds = time.perf_counter() - began
    began = time.perf_counter()
    result = continue_boosting(tmp_path / "new", tmp_path / "inc.pkl", champion=champion, params=params)
    inc_seconds = time.perf_counter() - began
    incremental = load_artifact(result.model_path, expected_sha256=result.sha256)
    scores = {
        name: holdout_evaluate(held, b) for name, b in (("champion", champion), ("full", full), ("inc", incremental))
    }
    for name, m in scores.items():
        print(f"{name:9s} holdout accuracy {m['accuracy']:.4f} F1 macro {m['f1_macro']:.4f} ({m['windows']} windows)")
    print(f"seconds: full retrain {full_seconds:.2f}, continued boosting {inc_seconds:.2f}")
    assert all(m["f1_macro"] > 0.9 for m in scores.values())
    assert inc_seconds < full_seconds  # it trains on the new data only
