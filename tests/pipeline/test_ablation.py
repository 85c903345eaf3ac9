"""Ablations on a tiny built dataset: per-group results on identical splits, skipped groups, deltas."""

from __future__ import annotations

import json

import numpy as np
import pytest

from taskml.pipeline.ablation import format_table, run_ablation, splits_digest, write_group_dataset
from taskml.pipeline.dataset import build_dataset
from taskml.pipeline.errors import InputError
from taskml.pipeline.estimators import ModelParams
from taskml.pipeline.features import FEATURE_GROUPS
from taskml.pipeline.training import TrainSpec

from .conftest import feature_frame, small_spec, write_feature_file

SPEC = TrainSpec(model_type="rf", params=ModelParams(n_estimators=20, max_depth=6), seed=0)


def hands_only_signal(video_id: str, seed: int):
    """Features where only the hand columns carry the class; pose columns are pure noise."""
    frame = feature_frame(video_id, seed=seed, segment_sec=4.0 + seed, nan_fraction=0.0)
    rng = np.random.default_rng(100 + seed)
    for column in FEATURE_GROUPS["pose"]:
        frame[column] = rng.normal(size=len(frame)).astype(np.float32)
    for column in FEATURE_GROUPS["objects"]:
        frame[column] = np.float32(np.nan)  # objects never looked for
    return frame


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("ablation")
    paths = [write_feature_file(root / f"v{i}.parquet", hands_only_signal(f"v{i}", i)) for i in range(5)]
    out = root / "dataset"
    build_dataset(paths, out, spec=small_spec())
    return out


@pytest.fixture(scope="module")
def report(dataset_dir):
    return run_ablation(dataset_dir, spec=SPEC, groups=["pose", "hands", "objects"])


def test_group_copy_keeps_windows_and_slices_columns(dataset_dir, tmp_path):
    meta = json.loads((dataset_dir / "metadata.json").read_text())
    copy = write_group_dataset(dataset_dir, tmp_path / "hands", "hands")
    sliced = json.loads((copy / "metadata.json").read_text())
    assert sliced["feature_names"] == [n for n in meta["feature_names"] if n in FEATURE_GROUPS["hands"]]
    assert sliced["num_features"] == len(FEATURE_GROUPS["hands"])
    assert len(sliced["scaler_mean"]) == len(sliced["scaler_scale"]) == sliced["num_features"]
    full = np.load(dataset_dir / "X_test.npy")
    part = np.load(copy / "X_test.npy")
    first = meta["feature_names"].index(sliced["feature_names"][0])
    assert part.shape == (*full.shape[:2], sliced["num_features"])
    np.testing.assert_array_equal(part[:, :, 0], full[:, :, first])
    assert splits_digest(copy) == splits_digest(dataset_dir)


def test_every_group_trains_on_identical_splits(report, dataset_dir):
    assert report["order"] == ["pose", "hands", "fused"]
    digests = {g: r["splits_digest"] for g, r in report["groups"].items()}
    assert set(digests.values()) == {splits_digest(dataset_dir)}
    assert report["sizes"]["test"] > 0
    assert set(report["labels"]) == {"assemble", "inspect", "pack"}
    assert report["groups"]["hands"]["num_features"] == len(FEATURE_GROUPS["hands"])


def test_objects_without_values_are_skipped_with_the_reason(report):
    assert list(report["skipped"]) == ["objects"]
    assert "no values" in report["skipped"]["objects"]


def test_the_group_carrying_the_signal_wins_and_deltas_are_against_fused(report):
    groups = report["groups"]
    assert groups["hands"]["accuracy"] > 0.8
    assert groups["pose"]["accuracy"] < groups["hands"]["accuracy"] - 0.2  # noise only
    assert groups["fused"]["delta_accuracy"] == 0.0
    for name in ("pose", "hands"):
        row = groups[name]
        assert row["delta_accuracy"] == pytest.approx(row["accuracy"] - groups["fused"]["accuracy"])
        assert row["delta_f1_macro"] == pytest.approx(row["f1_macro"] - groups["fused"]["f1_macro"])
        assert set(row["per_class_f1"]) == set(report["labels"])
        for label, delta in row["delta_per_class_f1"].items():
            assert delta == pytest.approx(row["per_class_f1"][label] - groups["fused"]["per_class_f1"][label])
    table = format_table(report)
    assert table.splitlines()[0].split()[:3] == ["group", "features", "accuracy"]
    assert "skipped objects" in table


def test_a_dataset_without_a_group_skips_it(tmp_path):
    paths = [write_feature_file(tmp_path / f"v{i}.parquet", hands_only_signal(f"v{i}", i)) for i in range(5)]
    build_dataset(paths, tmp_path / "ds", spec=small_spec(groups=("pose", "hands")))
    result = run_ablation(tmp_path / "ds", spec=SPEC, groups=["hands", "objects"])
    assert result["order"] == ["hands", "fused"]
    assert result["skipped"] == {"objects": "the dataset holds no objects columns"}


def test_unknown_groups_and_missing_datasets_are_refused(dataset_dir, tmp_path):
    with pytest.raises(InputError, match="unknown"):
        run_ablation(dataset_dir, spec=SPEC, groups=["feet"])
    with pytest.raises(InputError, match="metadata.json"):
        run_ablation(tmp_path, spec=SPEC)
