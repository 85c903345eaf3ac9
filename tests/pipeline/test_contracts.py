"""The pipeline's typed contracts (taskml/pipeline/contracts.py) and its scikit-learn estimators.

Files in the shape older code wrote (a bundle dict without the keys added since, a metadata.json
without its newer keys) still load and train; the JSON written keeps every key clients read and
round-trips through its dataclass exactly; and a fixed seed gives the outputs recorded before the
contracts and the split of build_dataset/train_model into steps (the stored fingerprint)."""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import BaseEstimator, clone

from taskml.pipeline.aggregation import make_representation
from taskml.pipeline.artifacts import load_artifact, save_artifact
from taskml.pipeline.contracts import DatasetMetadata, Evaluation, ModelBundle, TrainingMetrics, WindowSettings
from taskml.pipeline.dataset import build_dataset
from taskml.pipeline.errors import InputError, IntegrityError
from taskml.pipeline.estimators import ModelParams, make_estimator
from taskml.pipeline.online import ModelRunner
from taskml.pipeline.representations import MiniRocket, MultiScale
from taskml.pipeline.training import TrainSpec, load_dataset, train_model

from .conftest import CLASSES, feature_frame, small_spec, write_feature_file

FAST = ModelParams(n_estimators=20, max_depth=6)


def pipeline_fingerprint(tmp: Path) -> dict:
    """Digests of a seeded build (every file; metadata.json without its creation time and source
    paths) and of seeded rf and lgbm fits (their metrics JSON without time and checksum), and of a
    seeded MiniRocket's features. Tree fits and MiniRocket's float32 sums give the same bits on any
    x86 machine; the ridge's eigendecomposition (BLAS) is left out."""

    def digest(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()[:16]

    def json_digest(path: Path, drop=()) -> str:
        data = {k: v for k, v in json.loads(path.read_text()).items() if k not in drop}
        return digest(json.dumps(data, sort_keys=True).replace(str(tmp), "<tmp>").encode())

    paths = [
        write_feature_file(tmp / f"v{i}.parquet", feature_frame(f"v{i}", seed=i, segment_sec=4.0 + i)) for i in range(4)
    ]
    out = {}
    build_dataset(paths, tmp / "ds", spec=small_spec(balance="upsample", seed=3))
    for file in sorted((tmp / "ds").iterdir()):
        if file.suffix == ".json":
            out[file.name] = json_digest(file, drop=("created", "sources"))
        else:
            out[file.name] = digest(file.read_bytes())
    for model in ("rf", "lgbm"):
        result = train_model(tmp / "ds", tmp / f"{model}.pkl", spec=TrainSpec(model, "stats", params=FAST, seed=1))
        out[f"{model}_metrics"] = json_digest(result.metrics_path, drop=("training_seconds", "model_sha256"))
    rocket = make_representation("minirocket", seed=2, num_features=168)
    rocket.fit(np.load(tmp / "ds" / "X_train.npy"))
    out["minirocket_test_features"] = digest(rocket.transform(np.load(tmp / "ds" / "X_test.npy")).tobytes())
    return out


# Recorded with this very function on the code before issue 15's contracts and step functions
# (main at 6dd0940): the same seed must keep giving these bits.
EXPECTED_FINGERPRINT = {
    "X_test.npy": "c37c006e60cadf44",
    "X_train.npy": "fa72b9621fd7650b",
    "X_val.npy": "80d9904710e2a3d5",
    "metadata.json": "51237a808accc985",
    "windows_test.csv": "9d920a726d974d09",
    "windows_train.csv": "1a36dc9bc6895d56",
    "windows_val.csv": "f55990621dee0d05",
    "y_test.npy": "7f0b68690a3c236e",
    "y_train.npy": "aec76c24415e6031",
    "y_val.npy": "2bf536423d731e30",
    "rf_metrics": "9d425dd04c848b39",
    "lgbm_metrics": "562b6af0b7836605",
    "minirocket_test_features": "3c5788c66bb60762",
}


def test_a_seed_gives_the_outputs_recorded_before_the_refactoring(tmp_path):
    assert pipeline_fingerprint(tmp_path) == EXPECTED_FINGERPRINT


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("contracts")
    paths = [write_feature_file(root / f"c{i}.parquet", feature_frame(f"c{i}", seed=i)) for i in range(4)]
    build_dataset(paths, root / "ds", spec=small_spec(groups=("pose",)))
    return root / "ds"


# ---------------------------------------------------------------- metadata.json


OLD_METADATA_KEYS = (  # what a build wrote before these keys existed
    "feature_groups", "window_frames", "min_purity", "ratios", "split_note", "split_method", "classes_missing",
    "groups_note", "splits", "sources", "leakage", "train_label_dist_before_balance",
)  # fmt: skip


def test_a_metadata_json_in_the_old_shape_loads_and_trains(built, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(built, old)
    raw = json.loads((old / "metadata.json").read_text())
    for key in OLD_METADATA_KEYS:
        raw.pop(key)
    raw["written_by"] = "an older taskml"  # a key this code does not know
    (old / "metadata.json").write_text(json.dumps(raw))
    data = load_dataset(old)
    assert isinstance(data.metadata, DatasetMetadata)
    assert data.metadata.window_frames is None and data.metadata.leakage is None
    assert data.labels == list(CLASSES)
    assert data.metadata.extra == {"written_by": "an older taskml"}
    result = train_model(old, tmp_path / "m.pkl", spec=TrainSpec("rf", "stats", params=FAST, seed=0))
    bundle = load_artifact(result.model_path, expected_sha256=result.sha256)
    assert bundle.window == WindowSettings(window_sec=2.0, step_sec=0.5, fps=5.0, frames=None, min_purity=None)
    assert bundle.feature_groups is None
    # Going through the dataclass loses nothing: the unknown key is written back.
    assert DatasetMetadata.from_dict(raw).to_dict()["written_by"] == "an older taskml"


def test_metadata_json_round_trips_key_for_key(built):
    raw = json.loads((built / "metadata.json").read_text())
    assert DatasetMetadata.from_dict(raw).to_dict() == raw
    assert list(DatasetMetadata.from_dict(raw).to_dict()) == list(raw)  # the order it was written in


def test_a_metadata_json_without_a_required_key_is_one_readable_error(built, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(built, broken)
    raw = json.loads((broken / "metadata.json").read_text())
    del raw["scaler_mean"], raw["idx_to_label"]
    (broken / "metadata.json").write_text(json.dumps(raw))
    with pytest.raises(
        InputError, match=r"metadata.json: not a dataset's metadata.json: it lacks scaler_mean, idx_to_label$"
    ):
        load_dataset(broken)
    (broken / "metadata.json").write_text("[1, 2]")
    with pytest.raises(InputError, match="expected a JSON object, got list"):
        load_dataset(broken)


# ---------------------------------------------------------------- the model bundle


def _old_bundle(estimator, x_shape) -> dict:
    """A bundle dict as training wrote it before the bundle carried a representation, feature
    groups, the window's frames and purity: what older artifacts unpickle to."""
    n_features = x_shape[-1]
    return {
        "format_version": 1,
        "estimator": estimator,
        "model_type": "rf",
        "aggregation": "stats",
        "feature_names": [f"f{i}" for i in range(n_features)],
        "window": {"window_sec": 2.0, "step_sec": 0.5, "fps": 5.0},
        "scaler_mean": [0.0] * n_features,
        "scaler_scale": [1.0] * n_features,
        "label_to_idx": {name: i for i, name in enumerate(CLASSES)},
        "idx_to_label": {str(i): name for i, name in enumerate(CLASSES)},
        "params": {"n_estimators": 5},
        "seed": 0,
        "dataset": {"path": "/somewhere/dataset_1", "metadata_sha256": "0" * 64},
        "metrics": {"accuracy": 1.0, "f1_macro": 1.0},
        "trained_on": "an older taskml",  # a key this code does not know
    }


def test_a_pickled_bundle_in_the_old_dict_shape_loads_and_predicts(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 10, 4)).astype(np.float32)
    y = np.arange(30) % 3
    estimator = make_estimator("rf", ModelParams(n_estimators=5), 0)
    runner_features = np.concatenate([x.mean(1), x.std(1), x.min(1), x.max(1), x[:, -1] - x[:, 0]], axis=1)
    estimator.fit(runner_features, y)
    path = tmp_path / "old.pkl"
    path.write_bytes(pickle.dumps(_old_bundle(estimator, x.shape), protocol=5))
    bundle = load_artifact(path, expected_sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    assert isinstance(bundle, ModelBundle)
    assert bundle.representation is None and bundle.feature_groups is None and bundle.continued_from is None
    assert bundle.window.frames is None and bundle.window.spec().min_purity == 0.6  # the default then
    assert bundle.labels == list(CLASSES)
    assert bundle.extra == {"trained_on": "an older taskml"}
    probabilities = ModelRunner(bundle).predict(x)
    np.testing.assert_allclose(probabilities, estimator.predict_proba(runner_features))
    # Saved again, the bundle is the same dict (plus the keys every bundle now carries).
    again = tmp_path / "again.pkl"
    digest, meta = save_artifact(bundle, again)
    reread = pickle.loads(again.read_bytes())  # noqa: S301 - written by this test
    assert reread["trained_on"] == "an older taskml" and reread["window"]["fps"] == 5.0
    assert meta["sha256"] == digest and "estimator" not in meta


def test_a_pickle_that_is_no_bundle_is_refused_in_one_line(tmp_path):
    path = tmp_path / "odd.pkl"
    path.write_bytes(pickle.dumps({"format_version": 1, "estimator": "x"}))
    with pytest.raises(IntegrityError, match=r"^odd.pkl: not a model bundle: it lacks aggregation, feature_names"):
        load_artifact(path, expected_sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    path.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(IntegrityError, match="odd.pkl has artifact format None, expected 1"):
        load_artifact(path, expected_sha256=hashlib.sha256(path.read_bytes()).hexdigest())


def test_a_trained_bundle_is_the_dict_training_always_pickled(built, tmp_path):
    result = train_model(built, tmp_path / "m.pkl", spec=TrainSpec("rf", "stats", params=FAST, seed=0))
    raw = pickle.loads(result.model_path.read_bytes())  # noqa: S301 - written by this test
    assert list(raw) == [
        "format_version", "estimator", "model_type", "aggregation", "representation", "feature_names",
        "feature_groups", "window", "scaler_mean", "scaler_scale", "label_to_idx", "idx_to_label", "params", "seed",
        "dataset", "metrics",
    ]  # fmt: skip
    assert list(raw["window"]) == ["window_sec", "step_sec", "fps", "frames", "min_purity"]
    assert ModelBundle.from_dict(raw).to_dict() == {k: v for k, v in raw.items() if k != "format_version"}


# ---------------------------------------------------------------- metrics


CLIENT_KEYS = (  # what /backend/ clients, the API, the pages and the CLI read
    "accuracy", "f1_macro", "f1_weighted", "f1_macro_definition", "classes_absent_from_test",
    "classification_report", "confusion_matrix", "labels", "model_type", "aggregation", "params", "params_used",
    "seed", "train_size", "warnings", "cv", "val", "test", "feature_importance", "dataset", "test_timeline",
    "test_videos", "video_level", "segment", "training_seconds", "model_sha256",
)  # fmt: skip


def test_the_metrics_json_keeps_every_key_and_round_trips(built, tmp_path):
    result = train_model(built, tmp_path / "m.pkl", spec=TrainSpec("lgbm", "stats", params=FAST, seed=0))
    written = json.loads(result.metrics_path.read_text())
    assert list(written) == list(CLIENT_KEYS)
    assert (
        isinstance(written["confusion_matrix"], list)
        and written["confusion_matrix"] == written["test"]["confusion_matrix"]["matrix"]
    )
    assert written["cv"] is None and written["model_sha256"] == result.sha256
    assert isinstance(result.metrics, TrainingMetrics) and isinstance(result.metrics.test, Evaluation)
    assert result.metrics.to_dict() == written
    assert TrainingMetrics.from_dict(written).to_dict() == written
    # A service's additions (the models app adds the dataset's name) survive the dataclass.
    extended = {**written, "continued_from": 7}
    assert TrainingMetrics.from_dict(extended).to_dict() == extended


# ---------------------------------------------------------------- scikit-learn's estimator API


@pytest.mark.parametrize("model_type", ["ridge", "lstm", "tcn", "transformer"])
def test_the_pipelines_classifiers_are_scikit_learn_estimators(model_type):
    estimator = make_estimator(model_type, ModelParams(hidden_dim=8, epochs=2), seed=5)
    assert isinstance(estimator, BaseEstimator)
    params = estimator.get_params()
    assert params["random_state"] == 5
    twin = clone(estimator)
    assert type(twin) is type(estimator) and twin.get_params() == params and twin is not estimator
    rng = np.random.default_rng(0)
    x = rng.normal(size=(24, 6, 3)).astype(np.float32)
    y = np.arange(24) % 2
    features = x if model_type != "ridge" else x.reshape(24, -1)
    assert estimator.fit(features, y) is estimator
    learnt = set(vars(estimator)) - set(params)
    assert learnt and all(name.endswith("_") for name in learnt), learnt
    assert not set(vars(clone(estimator))) - set(params)  # a clone has its parameters, nothing learnt
    assert estimator.score(features, y) >= 0.0  # ClassifierMixin


def test_the_representations_are_scikit_learn_transformers():
    rocket = MiniRocket(num_features=168, random_state=3)
    assert isinstance(rocket, BaseEstimator) and clone(rocket).get_params() == rocket.get_params()
    x = np.random.default_rng(1).normal(size=(12, 10, 3)).astype(np.float32)
    np.testing.assert_array_equal(rocket.fit_transform(x), clone(rocket).fit(x).transform(x))
    assert all(name.endswith("_") for name in set(vars(rocket)) - set(rocket.get_params()))
    assert rocket.set_params(num_features=10) is rocket
    with pytest.raises(InputError, match="minirocket needs at least 84 features, got 10"):
        rocket.fit(x)  # checked where scikit-learn checks parameters: in fit
    assert MultiScale().fit_transform(x).shape[0] == 12


def test_artifacts_name_the_classifiers_as_they_always_did(tmp_path):
    """classifiers.py's classes pickle under taskml.pipeline.estimators, the name every artifact
    holds: artifacts written before and after the move load in either version of the code."""
    import taskml.pipeline.classifiers as classifiers
    import taskml.pipeline.estimators as estimators

    ridge = make_estimator("ridge", ModelParams(), seed=0)
    data = pickle.dumps(ridge, protocol=5)
    assert b"taskml.pipeline.estimators" in data and b"taskml.pipeline.classifiers" not in data
    assert estimators.RidgeClassifier is classifiers.RidgeClassifier
    assert type(pickle.loads(data)) is classifiers.RidgeClassifier  # noqa: S301 - made here
