"""plan_dataset (the preview) agrees with build_dataset; train_model's per-video test timeline."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from taskml.pipeline.dataset import build_dataset, plan_dataset
from taskml.pipeline.errors import InputError
from taskml.pipeline.estimators import ModelParams
from taskml.pipeline.training import TrainSpec, train_model

from .conftest import CLASSES, feature_frame, small_spec, write_feature_file

SPLIT_NAMES = ("train", "val", "test")


def built_counts(meta: dict) -> dict:
    return {name: meta[f"{name}_label_dist"] for name in SPLIT_NAMES}


def snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


# --------------------------------------------------------------------------- plan == build


@pytest.mark.parametrize("balance", ["none", "downsample", "upsample"])
def test_plan_counts_equal_the_built_metadata(five_videos, tmp_path, balance):
    spec = small_spec(balance=balance, seed=7)
    summary = plan_dataset(five_videos, spec).summary()
    meta = build_dataset(five_videos, tmp_path / "ds", spec=spec).metadata.to_dict()
    assert summary["counts"] == built_counts(meta)
    assert summary["counts_before_balance"]["train"] == meta["train_label_dist_before_balance"]
    assert summary["sizes"] == {name: meta[f"{name}_size"] for name in SPLIT_NAMES}
    assert summary["windows"] == meta["train_size"] + meta["val_size"] + meta["test_size"]
    assert summary["labels"] == [meta["idx_to_label"][str(i)] for i in range(len(meta["idx_to_label"]))]
    assert summary["split_strategy"] == meta["split_strategy"] == "video"
    assert summary["splits"] == meta["splits"]
    assert summary["dropped"] == meta["dropped_windows"]
    assert [s["windows_kept"] for s in summary["sources"]] == [s["windows_kept"] for s in meta["sources"]]
    json.dumps(summary)  # plain JSON types only


def test_balancing_changes_only_train_and_is_exact(five_videos):
    plain = plan_dataset(five_videos, small_spec()).summary()
    down = plan_dataset(five_videos, small_spec(balance="downsample")).summary()
    up = plan_dataset(five_videos, small_spec(balance="upsample")).summary()
    before = plain["counts"]["train"]
    assert len(set(down["counts"]["train"].values())) == 1
    assert set(down["counts"]["train"].values()) == {min(before.values())}
    assert set(up["counts"]["train"].values()) == {max(before.values())}
    for summary in (down, up):
        assert summary["counts_before_balance"]["train"] == before
        assert summary["counts"]["val"] == plain["counts"]["val"]
        assert summary["counts"]["test"] == plain["counts"]["test"]


def test_plan_equals_build_for_temporal_blocks_and_explicit_splits(make_features, tmp_path):
    one = [make_features("solo", seconds=120.0, segment_sec=6.0)]
    spec = small_spec(ratios=(0.5, 0.25, 0.25))
    summary = plan_dataset(one, spec).summary()
    meta = build_dataset(one, tmp_path / "blocks", spec=spec).metadata.to_dict()
    assert summary["split_strategy"] == meta["split_strategy"] == "temporal_blocks"
    assert summary["counts"] == built_counts(meta)
    assert summary["dropped"]["split_boundary"] == meta["dropped_windows"]["split_boundary"] > 0

    three = [make_features(f"e{i}", seed=i, segment_sec=4.0 + i) for i in range(3)]
    spec = small_spec(splits={"e0": "train", "e1": "test", "e2": "train"}, balance="downsample")
    summary = plan_dataset(three, spec).summary()
    meta = build_dataset(three, tmp_path / "explicit", spec=spec).metadata.to_dict()
    assert summary["split_strategy"] == "explicit"
    assert summary["counts"] == built_counts(meta)
    assert summary["counts"]["val"] == {}
    assert summary["splits"] == {"train": ["e0", "e2"], "val": [], "test": ["e1"]}


def test_plan_writes_nothing_and_refuses_what_build_refuses(five_videos, make_features, tmp_path):
    folder = five_videos[0].parent
    before = snapshot(folder)
    plan_dataset(five_videos, small_spec())
    assert snapshot(folder) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["features"]

    single_class = [make_features("mono", pattern=("assemble",))]
    for paths, spec in [
        (single_class, small_spec()),
        ([five_videos[0], five_videos[0]], small_spec()),
        ([], small_spec()),
        (five_videos[:3], small_spec(splits={"v0": "train", "v1": "test"})),
    ]:
        with pytest.raises(InputError) as planned:
            plan_dataset(paths, spec)
        with pytest.raises(InputError) as built:
            build_dataset(paths, tmp_path / "never", spec=spec)
        assert str(planned.value) == str(built.value)
        assert not (tmp_path / "never").exists()


# --------------------------------------------------------------------------- test timeline


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("timeline")
    paths = [
        write_feature_file(root / f"v{i}.parquet", feature_frame(f"v{i}", seed=i, segment_sec=4.0 + i))
        for i in range(6)
    ]
    out = root / "dataset"
    build_dataset(paths, out, spec=small_spec(groups=("pose", "objects"), ratios=(0.5, 0.17, 0.33)))
    return out


@pytest.fixture(scope="module", params=["rf", "lgbm", "lstm"])
def trained(request, dataset_dir, tmp_path_factory):
    params = (
        ModelParams(epochs=2, hidden_dim=8, batch_size=32, lr=0.01)
        if request.param == "lstm"
        else ModelParams(n_estimators=10, max_depth=5)
    )
    spec = TrainSpec(model_type=request.param, params=params, seed=0)
    return train_model(dataset_dir, tmp_path_factory.mktemp("models") / f"{request.param}.pkl", spec=spec)


def test_timeline_follows_the_test_windows(trained, dataset_dir):
    metrics = json.loads(trained.metrics_path.read_text())
    meta = json.loads((dataset_dir / "metadata.json").read_text())
    timeline = metrics["test_timeline"]
    assert sorted(timeline) == sorted(meta["splits"]["test"])
    with open(dataset_dir / "windows_test.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    y_test = np.load(dataset_dir / "y_test.npy")
    flat = [w for video in sorted(timeline, key=lambda v: meta["splits"]["test"].index(v)) for w in timeline[video]]
    assert len(flat) == len(rows) == len(y_test) == meta["test_size"]
    for window, row, code in zip(flat, rows, y_test, strict=True):
        assert window["start"] == pytest.approx(float(row["start_t"]))
        assert window["end"] == pytest.approx(window["start"] + meta["window_sec"])
        assert window["true"] == row["label"] == CLASSES[code]
        assert window["pred"] in CLASSES
        assert 0.0 <= window["confidence"] <= 1.0
    for windows in timeline.values():
        starts = [w["start"] for w in windows]
        assert starts == sorted(starts)


def test_timeline_agrees_with_the_confusion_matrix_and_accuracy(trained):
    metrics = trained.metrics.to_dict()
    labels = metrics["labels"]
    matrix = np.zeros((len(labels), len(labels)), int)
    for windows in metrics["test_timeline"].values():
        for w in windows:
            matrix[labels.index(w["true"]), labels.index(w["pred"])] += 1
    assert matrix.tolist() == metrics["confusion_matrix"]
    videos = metrics["test_videos"]
    assert set(videos) == set(metrics["test_timeline"])
    for video_id, summary in videos.items():
        windows = metrics["test_timeline"][video_id]
        assert summary["windows"] == len(windows)
        assert summary["accuracy"] == pytest.approx(np.mean([w["true"] == w["pred"] for w in windows]))
    total = sum(v["windows"] for v in videos.values())
    correct = sum(v["accuracy"] * v["windows"] for v in videos.values())
    assert correct / total == pytest.approx(metrics["accuracy"])


def test_confidence_is_the_probability_of_the_predicted_class(dataset_dir, tmp_path):
    from taskml.pipeline.aggregation import aggregate
    from taskml.pipeline.artifacts import load_artifact

    spec = TrainSpec(model_type="rf", params=ModelParams(n_estimators=10, max_depth=5), seed=0)
    result = train_model(dataset_dir, tmp_path / "rf.pkl", spec=spec)
    bundle = load_artifact(result.model_path, expected_sha256=result.sha256)
    proba = bundle.estimator.predict_proba(aggregate(np.load(dataset_dir / "X_test.npy"), "stats"))
    flat = [w for windows in result.metrics.test_timeline.values() for w in windows]
    assert sorted(w["confidence"] for w in flat) == pytest.approx(sorted(proba.max(axis=1)), abs=1e-4)


def test_existing_keys_unchanged_and_old_datasets_still_train(dataset_dir, tmp_path):
    import shutil

    old = tmp_path / "old"
    shutil.copytree(dataset_dir, old)
    (old / "windows_test.csv").unlink()  # datasets built before the window index existed
    spec = TrainSpec(model_type="rf", params=ModelParams(n_estimators=5, max_depth=3), seed=0)
    metrics = train_model(old, tmp_path / "m.pkl", spec=spec).metrics.to_dict()
    for key in ("accuracy", "f1_macro", "f1_weighted", "classification_report", "confusion_matrix", "labels"):
        assert key in metrics
    assert metrics["test_timeline"] == {} and metrics["test_videos"] == {}

    # A window index that does not line up with y_test is not drawn.
    rows = (dataset_dir / "windows_test.csv").read_text().splitlines()
    (old / "windows_test.csv").write_text("\n".join(rows[:-1]) + "\n")
    assert train_model(old, tmp_path / "m2.pkl", spec=spec).metrics.test_timeline == {}
