"""ONNX export: every model type × representation, trained on real Megamind features and on a
synthetic set, gives onnxruntime the server's labels on every test window and its probabilities
within 1e-4; the representations come out bit for bit; what cannot be exported says so."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from taskml.pipeline.artifacts import load_artifact
from taskml.pipeline.estimators import ModelParams
from taskml.pipeline.online import ModelRunner, top_class
from taskml.pipeline.onnx_export import (
    INPUT,
    NotExportable,
    _floor32,
    _Graph,
    _label_rule,
    _minirocket,
    _multiscale,
    _stats,
    export_onnx,
    raw_split_windows,
    read_onnx_metadata,
)
from taskml.pipeline.training import TrainSpec, train_model
from taskml.pipeline.windows import SPLITS
from tests.pipeline.conftest import feature_frame, small_spec, write_feature_file

CONFIGS = [(m, a) for m in ("ridge", "rf", "lgbm") for a in ("stats", "flatten", "multiscale", "minirocket")] + [
    (m, "sequence") for m in ("lstm", "tcn", "transformer")
]
# Small but real: every estimator fully trained, the networks for a few epochs.
PARAMS = ModelParams(n_estimators=40, epochs=4, hidden_dim=16, patience=2, rocket_features=2_000)
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def synthetic_dataset(tmp_path_factory):
    from taskml.pipeline.dataset import build_dataset

    folder = tmp_path_factory.mktemp("onnx-synthetic")
    paths = [
        write_feature_file(folder / f"v{i}.parquet", feature_frame(f"v{i}", seed=i, segment_sec=5.0 + i, seconds=30))
        for i in range(4)
    ]
    build_dataset(paths, folder / "dataset", spec=small_spec(ratios=(0.5, 0.25, 0.25)))
    return folder / "dataset"


@pytest.fixture(scope="module")
def datasets(synthetic_dataset, megamind_mediapipe):
    return {"synthetic": synthetic_dataset, "megamind": megamind_mediapipe[1]}


def parity(dataset, tmp_path, model_type: str, aggregation: str) -> dict:
    """Train, export, run both on the raw windows; the figures the README table shows."""
    trained = train_model(
        dataset, tmp_path / "model.pkl", spec=TrainSpec(model_type=model_type, aggregation=aggregation, params=PARAMS)
    )
    bundle = load_artifact(trained.model_path, expected_sha256=trained.sha256)
    runner = ModelRunner(bundle)
    path, digest = export_onnx(bundle, tmp_path / "model.onnx", model_sha256=trained.sha256)
    # Every window of the dataset (the test split of a one-video set is only a handful).
    windows = np.concatenate([raw_split_windows(dataset, s, runner.spec, runner.feature_names) for s in SPLITS])
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    probabilities, labels = session.run(None, {INPUT: windows})
    expected = runner.predict(windows)
    return {
        "windows": len(windows),
        "max_difference": float(np.abs(probabilities - expected).max()),
        "labels_equal": bool(np.array_equal(labels, [top_class(p) for p in expected])),
        "expected_labels": len({top_class(p) for p in expected}),
        "path": path,
        "sha256": digest,
        "model_sha256": trained.sha256,
    }


@pytest.mark.slow
@pytest.mark.parametrize("source", ["synthetic", "megamind"])
@pytest.mark.parametrize(("model_type", "aggregation"), CONFIGS, ids=[f"{m}-{a}" for m, a in CONFIGS])
def test_exported_model_predicts_what_the_server_predicts(datasets, tmp_path, source, model_type, aggregation):
    result = parity(datasets[source], tmp_path, model_type, aggregation)
    # Every window of the dataset: Megamind's 11 s hold 16 in the time-block split (blocks apart by
    # a gap of one window), the synthetic set 212.
    assert result["windows"] >= 15
    assert result["labels_equal"], f"labels differ on some window ({result})"
    assert result["max_difference"] <= TOLERANCE
    model = onnx.load(str(result["path"]))
    assert {o.domain or "" for o in model.opset_import} <= {"", "ai.onnx.ml"}  # no custom operators
    assert [o.name for o in model.graph.output] == ["probabilities", "label"]
    assert read_onnx_metadata(result["path"])["model_sha256"] == result["model_sha256"]


def test_the_file_carries_what_a_runtime_needs(synthetic_dataset, tmp_path):
    trained = train_model(synthetic_dataset, tmp_path / "m.pkl", spec=TrainSpec(model_type="rf", params=PARAMS))
    bundle = load_artifact(trained.model_path, expected_sha256=trained.sha256)
    detector = {"kind": "mediapipe", "pose_complexity": 1}
    path, digest = export_onnx(bundle, tmp_path / "m.onnx", model_sha256=trained.sha256, detector=detector)
    meta = read_onnx_metadata(path)
    assert meta["model_sha256"] == trained.sha256 and len(digest) == 64
    assert meta["class_names"] == ["assemble", "inspect", "pack"]
    assert meta["feature_names"] == bundle.feature_names
    assert (meta["window_sec"], meta["step_sec"], meta["resample_fps"], meta["window_frames"]) == (2.0, 0.5, 5.0, 10)
    assert meta["detector"] == detector and (meta["model_type"], meta["aggregation"]) == ("rf", "stats")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (window,) = session.get_inputs()
    assert (window.name, window.type, window.shape[1:]) == ("window", "tensor(float)", [10, len(meta["feature_names"])])
    # NaN is a missing detection, as on the server: it counts as the training mean.
    x = np.full((3, 10, len(meta["feature_names"])), np.nan, np.float32)
    probabilities, labels = session.run(None, {"window": x})
    assert probabilities.shape == (3, 3) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    assert np.allclose(probabilities, ModelRunner(bundle).predict(x), atol=TOLERANCE)


def test_a_model_without_an_onnx_form_says_so_and_writes_nothing(synthetic_dataset, tmp_path):
    from sklearn.neighbors import KNeighborsClassifier

    trained = train_model(synthetic_dataset, tmp_path / "m.pkl", spec=TrainSpec(model_type="rf", params=PARAMS))
    bundle = load_artifact(trained.model_path, expected_sha256=trained.sha256)
    bundle = replace(bundle, estimator=KNeighborsClassifier().fit(np.zeros((3, 4)), [0, 1, 2]))
    with pytest.raises(NotExportable, match="has no ONNX form") as caught:
        export_onnx(bundle, tmp_path / "out" / "m.onnx", model_sha256=trained.sha256)
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "out" / "m.onnx").exists() and not list((tmp_path / "out").glob("*"))


# ------------------------------------------------------------------ bit for bit


def _representation_session(build, frames: int, n_features: int):
    from onnx import TensorProto, helper

    g = _Graph()
    out = build(g, INPUT)
    g.nodes.append(helper.make_node("Identity", [out], ["features"]))
    graph = helper.make_graph(
        g.nodes,
        "representation",
        [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["batch", frames, n_features])],
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, None)],
        initializer=g.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _scaled_windows(megamind_mediapipe) -> np.ndarray:
    from taskml.pipeline.training import load_dataset

    data = load_dataset(megamind_mediapipe[1])
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(8, *data.X["train"].shape[1:])).astype(np.float32) * rng.uniform(0.01, 100)
    return np.concatenate([np.asarray(data.X[s]) for s in ("train", "val", "test")] + [noise]).astype(np.float32)


@pytest.mark.slow
def test_representations_come_out_bit_for_bit(megamind_mediapipe):
    """What feeds thresholds (trees, MiniRocket's PPV) must be the same bits, not merely close."""
    from taskml.pipeline.aggregation import aggregate
    from taskml.pipeline.representations import MiniRocket, MultiScale

    x = _scaled_windows(megamind_mediapipe)  # real windows as the server scales them, and wild ones
    n, frames, features = x.shape
    rocket = MiniRocket(num_features=3_000, random_state=1).fit(x[:40])
    for name, build, expected in (
        ("stats", lambda g, i: _stats(g, i, frames), aggregate(x, "stats")),
        ("multiscale", lambda g, i: _multiscale(g, i, frames), aggregate(x, "multiscale")),
        ("minirocket", lambda g, i: _minirocket(g, i, rocket), rocket.transform(x)),
    ):
        got = _representation_session(build, frames, features).run(None, {INPUT: x})[0]
        assert got.dtype == np.float32 and got.shape == expected.shape, name
        exact = np.ones(expected.shape[1], bool)
        if name == "multiscale":
            # The spectrum is the one part computed by another algorithm (a DFT in float64 against
            # numpy's FFT): equal after rounding to float32 except where both are rounding noise.
            exact = np.array(["__fft" not in n for n in MultiScale().feature_names(["f"] * features, frames)])
            assert np.allclose(got[:, ~exact], expected[:, ~exact], rtol=1e-6, atol=1e-12)
        same = np.array_equal(got[:, exact], expected[:, exact])
        assert same, f"{name}: {np.count_nonzero(got[:, exact] != expected[:, exact])} values differ"


def test_ppv_quotients_are_the_same_in_float32_as_numpys_float64():
    """The graph divides MiniRocket's hit counts by the positions counted in float32, numpy in
    float64 before storing float32: for counts up to 2,048 positions both round to the same float32."""
    positions = np.arange(1, 2049, dtype=np.float64)[None, :]
    hits = np.arange(0, 2049, dtype=np.float64)[:, None]
    keep = np.broadcast_to(hits <= positions, (2049, 2048))
    single = (hits.astype(np.float32) / positions.astype(np.float32))[keep]
    assert np.array_equal(single, (hits / positions).astype(np.float32)[keep])


def test_floor32_keeps_every_comparison():
    rng = np.random.default_rng(0)
    thresholds = np.concatenate([rng.normal(size=2000) * 10.0 ** rng.integers(-6, 6, 2000), [0.0, 1e-40, -1e-40]])
    floors = _floor32(thresholds)
    for t, f in zip(thresholds, floors, strict=True):
        near = np.float32(t)
        candidates = np.array(
            [np.nextafter(near, np.float32(-np.inf)), near, np.nextafter(near, np.float32(np.inf))], np.float32
        )
        assert np.array_equal(candidates.astype(np.float64) <= t, candidates <= f)  # as the trees compare


def test_a_tie_goes_to_the_first_class_in_the_graph_as_on_the_server():
    from onnx import TensorProto, helper

    g = _Graph()
    _label_rule(g, "p", "label")
    graph = helper.make_graph(
        g.nodes,
        "labels",
        [helper.make_tensor_value_info("p", TensorProto.FLOAT, ["batch", 3])],
        [helper.make_tensor_value_info("label", TensorProto.INT64, ["batch"])],
        initializer=g.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    p = np.array([[0.4, 0.4000001, 0.2], [0.2, 0.4, 0.4], [0.1, 0.3, 0.6], [0.3, 0.5, 0.2]], np.float32)
    (labels,) = session.run(None, {"p": p})
    assert labels.tolist() == [top_class(row) for row in p] == [0, 1, 2, 1]
