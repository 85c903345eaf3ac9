"""train_model on a small learnable dataset: metrics, artifacts, determinism, errors."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from taskml.pipeline.aggregation import STATS, aggregate
from taskml.pipeline.artifacts import load_artifact
from taskml.pipeline.dataset import build_dataset
from taskml.pipeline.errors import InputError, IntegrityError
from taskml.pipeline.estimators import ModelParams
from taskml.pipeline.training import TrainSpec, train_model
from tests.messages import exactly

from .conftest import CLASSES, feature_frame, small_spec, write_feature_file

TREE_PARAMS = ModelParams(n_estimators=15, max_depth=6)
LSTM_PARAMS = ModelParams(epochs=3, hidden_dim=8, batch_size=32, lr=0.01)
SPECS = {
    "rf": TrainSpec(model_type="rf", params=TREE_PARAMS, seed=0),
    "lgbm": TrainSpec(model_type="lgbm", params=TREE_PARAMS, seed=0),
    "lightgbm": TrainSpec(model_type="lightgbm", params=TREE_PARAMS, seed=0),
    "lstm": TrainSpec(model_type="lstm", params=LSTM_PARAMS, seed=0),
}
CANONICAL = {"rf": "rf", "lgbm": "lgbm", "lightgbm": "lgbm", "lstm": "lstm"}


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("training")
    paths = [
        write_feature_file(root / f"v{i}.parquet", feature_frame(f"v{i}", seed=i, segment_sec=4.0 + i))
        for i in range(5)
    ]
    out = root / "dataset"
    build_dataset(paths, out, spec=small_spec(groups=("pose", "objects")))
    return out


@pytest.fixture(scope="module")
def trained(dataset_dir, tmp_path_factory):
    """Each model type trained once, shared by the read-only checks below."""
    root = tmp_path_factory.mktemp("models")
    return {name: train_model(dataset_dir, root / f"{name}.pkl", spec=spec) for name, spec in SPECS.items()}


def test_data_is_learnable_and_test_split_is_not_empty(dataset_dir):
    meta = json.loads((dataset_dir / "metadata.json").read_text())
    assert meta["test_size"] > 0 and meta["train_size"] > 0
    assert len(meta["train_label_dist"]) == 3


@pytest.mark.parametrize("name", list(SPECS))
def test_metrics_file_contents(trained, dataset_dir, name):
    result = trained[name]
    assert result.metrics_path == result.model_path.with_name(f"{name}_metrics.json")
    metrics = json.loads(result.metrics_path.read_text())
    meta = json.loads((dataset_dir / "metadata.json").read_text())
    for key in ("accuracy", "f1_macro", "f1_weighted"):
        assert 0.0 <= metrics[key] <= 1.0
    assert metrics["accuracy"] == metrics["test"]["accuracy"]
    assert isinstance(metrics["classification_report"], dict)
    assert set(CLASSES) <= set(metrics["classification_report"])
    matrix = metrics["confusion_matrix"]
    assert isinstance(matrix, list) and all(isinstance(row, list) for row in matrix)
    assert np.array(matrix).shape == (3, 3)
    assert np.array(matrix).sum() == meta["test_size"]
    assert metrics["model_type"] == CANONICAL[name]
    assert metrics["aggregation"] == ("sequence" if name == "lstm" else "stats")
    assert metrics["params"] == SPECS[name].params.as_dict()
    assert metrics["val"]["confusion_matrix"]["labels"] == list(CLASSES)
    assert np.array(metrics["val"]["confusion_matrix"]["matrix"]).sum() == meta["val_size"]
    assert set(metrics["test"]["per_class"]) == set(CLASSES)
    assert metrics["test"]["confusion_matrix"]["labels"] == list(CLASSES)
    assert metrics["test"]["confusion_matrix"]["matrix"] == matrix
    assert sum(c["support"] for c in metrics["test"]["per_class"].values()) == meta["test_size"]
    assert metrics["model_sha256"] == result.sha256


@pytest.mark.parametrize("name", ["rf", "lgbm"])
def test_tree_models_report_named_feature_importance(trained, dataset_dir, name):
    metrics = json.loads(trained[name].metrics_path.read_text())
    features = json.loads((dataset_dir / "metadata.json").read_text())["feature_names"]
    importance = metrics["feature_importance"]
    assert importance
    pattern = re.compile(rf"^({'|'.join(map(re.escape, features))})__({'|'.join(STATS)})$")
    for entry in importance:
        assert pattern.match(entry["feature"]), entry["feature"]
    values = [e["importance"] for e in importance]
    assert values == sorted(values, reverse=True)
    assert values[0] > 0


def test_lstm_metrics_have_history_and_no_importance(trained):
    metrics = json.loads(trained["lstm"].metrics_path.read_text())
    assert metrics["feature_importance"] == []
    assert 1 <= metrics["epochs_run"] <= 3
    assert len(metrics["history"]) == metrics["epochs_run"]
    assert all("train_loss" in h and "val_loss" in h for h in metrics["history"])


@pytest.mark.parametrize("name", list(SPECS))
def test_model_and_metrics_are_separate_files_and_model_loads(trained, dataset_dir, name):
    result = trained[name]
    assert result.model_path.is_file() and result.metrics_path.is_file() and result.meta_path.is_file()
    assert len({result.model_path, result.metrics_path, result.meta_path}) == 3
    sidecar = json.loads(result.meta_path.read_text())
    assert sidecar["sha256"] == result.sha256
    bundle = load_artifact(result.model_path, expected_sha256=sidecar["sha256"])
    assert bundle.model_type == CANONICAL[name]
    assert bundle.idx_to_label == {str(i): c for i, c in enumerate(CLASSES)}
    # The stored estimator reproduces the reported test accuracy.
    X = aggregate(np.load(dataset_dir / "X_test.npy"), bundle.aggregation)
    y = np.load(dataset_dir / "y_test.npy")
    accuracy = float((bundle.estimator.predict(X) == y).mean())
    assert accuracy == pytest.approx(result.metrics.accuracy)


@pytest.mark.parametrize("name", ["rf", "lgbm", "lightgbm"])
def test_tree_models_learn_well_above_chance(trained, name):
    assert trained[name].metrics.accuracy >= 0.8
    assert trained[name].metrics.f1_macro >= 0.75


def test_lstm_learns_above_chance(trained):
    assert trained["lstm"].metrics.accuracy >= 0.6  # chance is 1/3


@pytest.mark.parametrize("name", ["rf", "lgbm", "lstm"])
def test_same_seed_same_model(trained, dataset_dir, tmp_path, name):
    again = train_model(dataset_dir, tmp_path / "again.pkl", spec=SPECS[name])
    first = trained[name]
    volatile = {"training_seconds", "model_sha256"}
    a = {k: v for k, v in json.loads(first.metrics_path.read_text()).items() if k not in volatile}
    b = {k: v for k, v in json.loads(again.metrics_path.read_text()).items() if k not in volatile}
    assert a == b
    one = load_artifact(first.model_path, expected_sha256=first.sha256)
    two = load_artifact(again.model_path, expected_sha256=again.sha256)
    X = aggregate(np.load(dataset_dir / "X_test.npy"), one.aggregation)
    np.testing.assert_array_equal(one.estimator.predict_proba(X), two.estimator.predict_proba(X))
    np.testing.assert_array_equal(one.estimator.predict(X), two.estimator.predict(X))


def test_flatten_aggregation(dataset_dir, tmp_path):
    result = train_model(
        dataset_dir, tmp_path / "flat.pkl", spec=TrainSpec(model_type="rf", aggregation="flatten", params=TREE_PARAMS)
    )
    assert result.metrics.aggregation == "flatten"
    assert all(re.search(r"__t\d\d$", e["feature"]) for e in result.metrics.feature_importance)


def test_load_artifact_refuses_a_tampered_file(trained, tmp_path):
    result = trained["rf"]
    copy = tmp_path / "tampered.pkl"
    data = bytearray(result.model_path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    with pytest.raises(IntegrityError):
        load_artifact(copy, expected_sha256=result.sha256)
    with pytest.raises(IntegrityError):
        load_artifact(result.model_path, expected_sha256="0" * 64)


@pytest.mark.parametrize("checksum", ["", None])
def test_load_artifact_refuses_without_a_checksum(trained, checksum):
    with pytest.raises(IntegrityError):
        load_artifact(trained["rf"].model_path, expected_sha256=checksum)


def test_load_artifact_missing_file(tmp_path):
    with pytest.raises(InputError):
        load_artifact(tmp_path / "nope.pkl", expected_sha256="0" * 64)


def test_dataset_dir_without_metadata(tmp_path):
    folder = tmp_path / "not_a_dataset"
    folder.mkdir()
    np.save(folder / "X_train.npy", np.zeros((2, 3, 4), np.float32))
    with pytest.raises(InputError) as info:
        train_model(folder, tmp_path / "m.pkl", spec=SPECS["rf"])
    assert "metadata.json" in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "m.pkl").exists()


def test_unknown_model_type(dataset_dir, tmp_path):
    with pytest.raises(InputError) as info:
        train_model(dataset_dir, tmp_path / "m.pkl", spec=TrainSpec(model_type="svm"))
    assert "svm" in str(info.value)
    assert not (tmp_path / "m.pkl").exists()


def test_unknown_aggregation(dataset_dir, tmp_path):
    with pytest.raises(
        InputError, match=exactly("aggregation 'median' unknown for rf; use stats, flatten, multiscale, minirocket")
    ):
        train_model(dataset_dir, tmp_path / "m.pkl", spec=TrainSpec(model_type="rf", aggregation="median"))


def test_output_that_is_a_directory(dataset_dir, tmp_path):
    with pytest.raises(
        InputError, match=exactly(f"output {tmp_path} is a directory; give a file name such as model.pkl")
    ):
        train_model(dataset_dir, tmp_path, spec=SPECS["rf"])


def test_invalid_params():
    with pytest.raises(InputError, match=exactly("n_estimators must be between 1 and 100,000, got 0")):
        ModelParams(n_estimators=0)
    with pytest.raises(InputError, match=exactly("lr must be between 1e-08 and 10, got 0")):
        ModelParams(lr=0)


@pytest.mark.parametrize("name", ["rf", "lstm"])
def test_dataset_without_val_split(tmp_path, name):
    paths = [
        write_feature_file(tmp_path / f"v{i}.parquet", feature_frame(f"v{i}", seed=i, seconds=20.0)) for i in range(4)
    ]
    build_dataset(paths, tmp_path / "ds", spec=small_spec(groups=("objects",), ratios=(0.75, 0.0, 0.25)))
    assert len(np.load(tmp_path / "ds" / "y_val.npy")) == 0
    result = train_model(tmp_path / "ds", tmp_path / "models" / "m.pkl", spec=SPECS[name])
    assert result.metrics.val is None
    assert result.model_path.is_file()
    assert np.array(result.metrics.confusion_matrix).sum() == len(np.load(tmp_path / "ds" / "y_test.npy"))


# --------------------------------------------------------------------------- temporal representations,
# the default configuration, video- and segment-level evaluation


def test_default_configuration_is_resolved_in_one_place():
    from taskml.pipeline.training import DEFAULT_AGGREGATION, DEFAULT_MODEL, resolve_config

    assert (TrainSpec().model_type, TrainSpec().aggregation) == (DEFAULT_MODEL, DEFAULT_AGGREGATION)
    assert resolve_config(None, None) == resolve_config("", " ") == (DEFAULT_MODEL, DEFAULT_AGGREGATION)
    # An explicit model keeps the aggregation it always had.
    assert resolve_config("lgbm", None) == ("lgbm", "stats")
    assert resolve_config("lightgbm", None) == ("lightgbm", "stats")
    assert resolve_config("rf", None) == ("rf", "stats")
    assert resolve_config("lstm", None) == ("lstm", "sequence")
    assert resolve_config("tcn", None) == ("tcn", "sequence")
    assert resolve_config("ridge", None) == ("ridge", "minirocket")
    assert resolve_config(None, "flatten") == ("lgbm", "flatten")
    assert resolve_config("rf", "multiscale") == ("rf", "multiscale")
    assert TrainSpec(model_type="rf").aggregation == "stats"


@pytest.mark.parametrize(
    ("model", "aggregation"), [("ridge", "minirocket"), ("lgbm", "multiscale"), ("tcn", None), ("transformer", None)]
)
def test_new_configurations_train_evaluate_and_store_their_representation(dataset_dir, tmp_path, model, aggregation):
    params = ModelParams(n_estimators=15, max_depth=6, epochs=8, lr=1e-2, hidden_dim=8, rocket_features=200)
    spec = TrainSpec(model_type=model, aggregation=aggregation, params=params, seed=0)
    result = train_model(dataset_dir, tmp_path / "m.pkl", spec=spec)
    m = result.metrics.to_dict()
    assert m["model_type"] == model and m["aggregation"] == (aggregation or "sequence")
    assert m["accuracy"] >= 0.5  # chance is 1/3; tiny models (200 rocket features, 8 epochs)
    bundle = load_artifact(result.model_path, expected_sha256=result.sha256)
    assert (bundle.representation is not None) == (aggregation == "minirocket")
    meta = json.loads(result.meta_path.read_text())
    assert "representation" not in meta and meta["aggregation"] == m["aggregation"]
    assert m["video_level"]["videos"] == len(m["test_timeline"]) >= 1
    assert {"f1@10", "f1@25", "f1@50", "edit"} <= set(m["segment"])
    if model in ("tcn", "transformer"):
        assert m["epochs_run"] >= 1 and "best_epoch" in m and len(m["history"]) == m["epochs_run"]


def test_minirocket_is_fitted_on_the_train_split_only(dataset_dir, tmp_path):
    from taskml.pipeline.aggregation import make_representation

    params = ModelParams(rocket_features=200)
    result = train_model(
        dataset_dir, tmp_path / "m.pkl", spec=TrainSpec(model_type="ridge", aggregation="minirocket", params=params)
    )
    stored = load_artifact(result.model_path, expected_sha256=result.sha256).representation
    refit = make_representation("minirocket", seed=42, num_features=200).fit(np.load(dataset_dir / "X_train.npy"))
    assert np.array_equal(stored.biases_, refit.biases_)
    x_test = np.load(dataset_dir / "X_test.npy")
    assert np.array_equal(stored.transform(x_test), refit.transform(x_test))


def _windows(true: str, pred: str, step: float = 0.5) -> list[dict]:
    """A hand-made timeline: one letter per window."""
    pairs = enumerate(zip(true, pred, strict=True))
    return [{"start": i * step, "end": i * step + 2.0, "true": t, "pred": p} for i, (t, p) in pairs]


def test_segments_merge_consecutive_windows_and_break_at_holes():
    from taskml.pipeline.training import label_segments

    windows = _windows("aaabba", "aaaaaa")
    assert label_segments(windows, "true", 0.5) == [("a", 0.0, 1.5), ("b", 1.5, 2.5), ("a", 2.5, 3.0)]
    holed = windows[:2] + windows[4:]  # windows 2 and 3 dropped
    assert label_segments(holed, "pred", 0.5) == [("a", 0.0, 1.0), ("a", 2.0, 3.0)]


def test_segment_f1_and_edit_score_on_known_timelines():
    from taskml.pipeline.training import edit_score, segment_metrics, video_level_metrics

    perfect = segment_metrics({"v": _windows("aaaabbbb", "aaaabbbb")}, 0.5)
    assert perfect["f1@50"] == perfect["f1@10"] == 1.0 and perfect["edit"] == 1.0

    # Truth a(4) b(4); prediction a(4) b(1) a(1) b(2): segments a,b,a,b against a,b.
    # a [0,2) matches (IoU 1); b [2,2.5) IoU 0.25 with b [2,4): no match at 0.5, but the later
    # b [3,4) IoU 0.5 matches; the stray a [2.5,3) is a false positive. TP 2, FP 2, FN 0.
    noisy = segment_metrics({"v": _windows("aaaabbbb", "aaaabab" + "b")}, 0.5)
    assert (noisy["tp@50"], noisy["fp@50"], noisy["fn@50"]) == (2, 2, 0)
    assert noisy["f1@50"] == pytest.approx(2 * 2 / (2 * 2 + 2 + 0))
    assert noisy["edit"] == pytest.approx(1 - 2 / 4)  # a b a b → a b: two deletions
    # At IoU 0.1 the short b [2,2.5) (IoU 0.25) matches first: TP 2 (a, b), FP 2.
    assert noisy["f1@10"] == pytest.approx(4 / 6)

    # A wholly wrong label: no true positive, every segment a miss.
    wrong = segment_metrics({"v": _windows("aaaa", "bbbb")}, 0.5)
    assert wrong["f1@50"] == 0.0 and wrong["edit"] == 0.0
    assert edit_score(["a", "b", "c"], ["a", "c"]) == pytest.approx(1 - 1 / 3)

    videos = video_level_metrics(
        {"v1": _windows("aaab", "aabb"), "v2": _windows("bbbb", "bbba"), "v3": _windows("aaaa", "bbba")}
    )
    assert videos["videos"] == 3 and videos["accuracy"] == pytest.approx(2 / 3)
    assert videos["per_video"]["v3"] == {"true": "a", "pred": "b"}
    assert segment_metrics({}, 0.5) is None and video_level_metrics({}) is None


def test_other_feature_group_builds_from_any_numeric_columns(tmp_path):
    import pandas as pd

    from taskml.pipeline.dataset import DatasetSpec
    from taskml.pipeline.extraction import write_features
    from taskml.pipeline.windows import WindowSpec

    paths = []
    for i in range(4):
        n = 40
        label = CLASSES[i % 2]
        frame = pd.DataFrame(
            {
                "video_id": pd.Series([f"s{i}"] * n, dtype="string"),
                "frame_index": np.arange(n),
                "t": np.arange(n) / 10.0,
                "acc_x": np.sin(np.arange(n) / (3 + i % 2)).astype(np.float32),
                "gyro_z": np.full(n, float(i % 2), np.float32),
                "note": pd.Series(["x"] * n, dtype="string"),  # not numeric: left out
                "label": pd.Series([label] * n, dtype="string"),
            }
        )
        path = tmp_path / f"s{i}.parquet"
        write_features(frame, path, {"video_id": f"s{i}", "fps": 10.0})
        paths.append(path)
    spec = DatasetSpec(
        window=WindowSpec(window_sec=4.0, step_sec=4.0, resample_fps=10.0),
        groups=("other",),
        splits={"s0": "train", "s1": "train", "s2": "test", "s3": "test"},
    )
    result = build_dataset(paths, tmp_path / "ds", spec=spec)
    assert result.metadata.feature_names == ["acc_x", "gyro_z"]
    assert result.metadata.train_size == 2 and np.load(tmp_path / "ds" / "X_train.npy").shape == (2, 40, 2)
    with pytest.raises(
        InputError, match=exactly("feature groups ['sensors'] unknown; choose from pose, hands, objects, other")
    ):
        DatasetSpec(groups=("sensors",))
