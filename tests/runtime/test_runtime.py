"""The portable runtime: the live session's predictions from an ONNX file, with neither Django
nor torch nor scikit-learn; its object stages match the server's (the default COCO SSD through the
extractor's own TFLite backend, YOLO through an ONNX export); its errors are one line."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from taskml.pipeline.artifacts import load_artifact
from taskml.pipeline.detectors import Detector, DetectorConfig
from taskml.pipeline.estimators import ModelParams
from taskml.pipeline.extraction import iter_frames, probe_video
from taskml.pipeline.objects import (
    DEFAULT_OBJECT_MODEL,
    SSD_LABELS_FILE,
    SSD_LABELS_SHA256,
    SSD_MODEL_FILE,
    SSD_MODEL_SHA256,
    default_detector_paths,
)
from taskml.pipeline.online import LivePredictor, ModelRunner, SmoothingSpec
from taskml.pipeline.onnx_export import DETECTOR_KEYS_DROPPED, detector_metadata, export_onnx
from taskml.pipeline.training import TrainSpec, train_model
from taskml.runtime import PortableModel
from tests.conftest import MEGAMIND_LABELS, ROOT, YOLO_SPEC
from tests.conftest import MODELS as MODELS_DIR

MEDIAPIPE = DetectorConfig(kind="mediapipe")
# What every new user gets: pose + hands + the pretrained COCO SSD (scripts/fetch_models.sh), as the
# server configures it (TASKML_MODELS_DIR).
FUSION = DetectorConfig(kind="fusion", models_dir=MODELS_DIR)
MODELS = {
    "ridge-minirocket": TrainSpec(),  # the default configuration
    "rf-stats": TrainSpec(model_type="rf", params=ModelParams(n_estimators=30)),
    "lgbm-multiscale": TrainSpec(model_type="lgbm", aggregation="multiscale", params=ModelParams(n_estimators=40)),
    "tcn-sequence": TrainSpec(model_type="tcn", params=ModelParams(epochs=4, hidden_dim=16)),
}


def runtime_distributions() -> set[str]:
    """What ``pip install -r requirements-runtime.txt`` installs: its pins and, transitively, what
    they require (as this environment's metadata says), plus what every virtual environment has."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    lines = (ROOT / "requirements-runtime.txt").read_text().splitlines()
    todo = [Requirement(line).name for line in lines if line.strip() and not line.startswith("#")]
    seen = {"pip", "setuptools"}
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        for text in metadata.requires(name) or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return seen


# Whatever the runtime may not load: the server's frameworks and the training stack.
BANNED = ("django", "torch", "sklearn", "scipy", "pandas", "pyarrow", "lightgbm", "ultralytics", "skl2onnx", "celery")


def runtime(*args: str, timeout: float = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "taskml.runtime", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=None if env is None else {**os.environ, **env},
    )


@pytest.fixture(scope="module")
def exported(megamind_mediapipe, tmp_path_factory) -> dict[str, tuple[Path, dict]]:
    """Models trained on real Megamind features, each exported with its detector configuration."""
    folder = tmp_path_factory.mktemp("runtime-models")
    out = {}
    for name, spec in MODELS.items():
        trained = train_model(megamind_mediapipe[1], folder / f"{name}.pkl", spec=spec)
        bundle = load_artifact(trained.model_path, expected_sha256=trained.sha256)
        path, _ = export_onnx(
            bundle, folder / f"{name}.onnx", model_sha256=trained.sha256, detector=detector_metadata(MEDIAPIPE)
        )
        out[name] = (path, bundle)
    return out


@pytest.fixture(scope="module")
def detections(megamind) -> tuple[tuple[int, int], list]:
    """Megamind's frames through MediaPipe once, as a live session runs it."""
    info = probe_video(megamind)
    with Detector(MEDIAPIPE) as detector:
        frames = [(index, t, d) for index, t, d in detector.process_stream(iter_frames(info), queue_size=2)]
    return (info.width, info.height), frames


def stream(runner, size, frames, smoothing: SmoothingSpec, *, with_objects: bool = False) -> list:
    live = LivePredictor(runner, width=size[0], height=size[1], with_objects=with_objects, smoothing=smoothing)
    windows = []
    for _, t, d in frames:
        windows += live.push(t, d)
    return windows + live.finish()


@pytest.mark.slow
@pytest.mark.parametrize("smoothing", [SmoothingSpec(), SmoothingSpec("hysteresis", min_duration=0.5)])
def test_the_runtime_model_streams_what_the_server_streams(exported, detections, smoothing):
    size, frames = detections
    for name, (path, bundle) in exported.items():
        server = stream(ModelRunner(bundle), size, frames, smoothing)
        portable = stream(PortableModel(path), size, frames, smoothing)
        assert len(portable) == len(server) > 30, name
        assert [w.start for w in portable] == [w.start for w in server], name
        assert [w.label for w in portable] == [w.label for w in server], name
        assert [w.smoothed_label for w in portable] == [w.smoothed_label for w in server], name
        difference = max(np.abs(p.probabilities - s.probabilities).max() for p, s in zip(portable, server, strict=True))
        assert difference <= 1e-4, (name, difference)


@pytest.fixture(scope="module")
def fusion(megamind, tmp_path_factory):
    """Megamind through the default fusion detectors once, as a live session runs them, and a model
    of the default configuration (ridge on MiniRocket) trained on the features of those very
    detections (the extractor's table), exported: (onnx path, bundle, frame size, detections)."""
    import pandas as pd

    from taskml.pipeline.dataset import DatasetSpec, build_dataset
    from taskml.pipeline.extraction import detections_frame, write_features
    from taskml.pipeline.labels import read_labels
    from taskml.pipeline.windows import WindowSpec

    info = probe_video(megamind)
    with Detector(FUSION) as detector:
        frames = list(detector.process_stream(iter_frames(info), queue_size=2))
        objects = detector.object_info
    meta = {"video_id": "megamind", "fps": info.fps, "sample_rate": 1, "frame_count": len(frames),
            "detector": FUSION.kind, "yolo_model": FUSION.yolo_model, "object_detector": objects}  # fmt: skip
    folder = tmp_path_factory.mktemp("runtime-fusion")
    index = np.array([i for i, _, _ in frames])
    table = detections_frame(
        video_id="megamind", frame_index=index, t=np.array([t for _, t, _ in frames]),
        detections=[d for _, _, d in frames], width=info.width, height=info.height, with_objects=True,
    )  # fmt: skip
    table["label"] = pd.Series(read_labels(MEGAMIND_LABELS).for_frames(index), dtype="string")
    write_features(table, folder / "megamind.parquet", meta)
    window = WindowSpec(window_sec=1.0, step_sec=0.25)
    build_dataset(
        [folder / "megamind.parquet"], folder / "ds", spec=DatasetSpec(window=window, ratios=(0.5, 0.25, 0.25))
    )
    trained = train_model(folder / "ds", folder / "fusion.pkl", spec=TrainSpec())
    bundle = load_artifact(trained.model_path, expected_sha256=trained.sha256)
    assert (bundle.model_type, bundle.aggregation) == ("ridge", "minirocket")
    assert any(name.endswith("obj_dist") for name in bundle.feature_names)  # objects are features
    path, _ = export_onnx(
        bundle, folder / "fusion.onnx", model_sha256=trained.sha256, detector=detector_metadata(FUSION)
    )
    return path, bundle, (info.width, info.height), frames


@pytest.mark.slow
def test_the_command_runs_the_default_detector_and_loads_no_server_code(fusion, megamind, tmp_path):
    """A fresh interpreter runs the whole command on the video with a model of default fusion features
    (its objects from the COCO SSD, found by the export's metadata), then lists what it imported;
    every window is the live session's, label for label, probabilities within 1e-4."""
    path, bundle, size, frames = fusion
    modules, output = tmp_path / "modules.json", tmp_path / "predictions.jsonl"
    script = (
        "import json, runpy, sys\n"
        f"sys.argv = ['taskml.runtime', '--model', {str(path)!r}, '--video', {str(megamind)!r}, "
        f"'--output', {str(output)!r}, '--smoothing', 'ema', '--alpha', '0.5']\n"
        "try:\n    runpy.run_module('taskml.runtime', run_name='__main__')\n"
        "except SystemExit as exit:\n    assert not exit.code, exit.code\n"
        f"json.dump(sorted(sys.modules), open({str(modules)!r}, 'w'))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = {name.split(".")[0] for name in json.loads(modules.read_text())}
    assert not loaded & set(BANNED), loaded & set(BANNED)
    assert {"onnxruntime", "mediapipe", "cv2", "numpy", "ai_edge_litert"} <= loaded
    # Everything it imported is installed by requirements-runtime.txt (or is Python's or taskml's).
    from importlib import metadata

    from packaging.utils import canonicalize_name

    owners, installed = metadata.packages_distributions(), runtime_distributions()
    missing = {m for m in loaded if owners.get(m) and not {canonicalize_name(d) for d in owners[m]} & installed}
    assert not missing, f"imported but not in requirements-runtime.txt: {sorted(missing)}"
    assert f"objects tflite-ssd {SSD_MODEL_FILE} (sha256 {SSD_MODEL_SHA256[:12]}" in done.stderr

    lines = [json.loads(line) for line in output.read_text().splitlines()]
    server = stream(ModelRunner(bundle), size, frames, SmoothingSpec("ema", alpha=0.5), with_objects=True)
    assert len(lines) == len(server) > 30
    labels = ModelRunner(bundle).labels
    assert {w.label for w in server} == set(labels)  # both classes predicted: a comparison that can fail
    for line, window in zip(lines, server, strict=True):
        assert set(line) == {"t", "frame_index", "label", "confidence", "probabilities", "window", "model_sha256"}
        assert line["window"]["start"] == pytest.approx(window.start, abs=1e-4)
        assert line["label"] == window.smoothed_label and line["window"]["label"] == window.label
        got = np.array([line["probabilities"][label] for label in labels])
        assert np.abs(got - window.smoothed_probabilities).max() <= 1e-4
        assert line["confidence"] == pytest.approx(line["probabilities"][line["label"]])
        assert line["t"] >= line["window"]["end"] - 0.05 and 0 <= line["frame_index"] < 270
    assert "270 frames" in done.stderr and f"{len(lines)} windows" in done.stderr


# ------------------------------------------------------------------ refusals


@pytest.fixture(scope="module")
def synthetic_model(tmp_path_factory):
    """A quick model on synthetic features: its detector metadata is set per test."""
    from taskml.pipeline.dataset import build_dataset
    from tests.pipeline.conftest import feature_frame, small_spec, write_feature_file

    folder = tmp_path_factory.mktemp("runtime-synthetic")
    paths = [write_feature_file(folder / f"v{i}.parquet", feature_frame(f"v{i}", seed=i)) for i in range(3)]
    build_dataset(paths, folder / "ds", spec=small_spec(ratios=(0.34, 0.33, 0.33)))
    trained = train_model(folder / "ds", folder / "m.pkl", spec=TrainSpec(model_type="rf", params=ModelParams(10)))
    return folder, load_artifact(trained.model_path, expected_sha256=trained.sha256), trained.sha256


def one_line_error(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 1, (done.returncode, done.stderr[-1000:])
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, done.stderr[-1000:]
    return errors[0]


def test_a_missing_or_foreign_model_file_is_one_line(tmp_path, megamind):
    assert "model file not found" in one_line_error(runtime("--model", str(tmp_path / "no.onnx"), "--video", "x.avi"))
    (tmp_path / "bad.onnx").write_bytes(b"not a model at all")
    message = one_line_error(runtime("--model", str(tmp_path / "bad.onnx"), "--video", str(megamind)))
    assert "not an ONNX model" in message


def test_a_file_that_fails_its_checksum_is_refused(synthetic_model, megamind):
    folder, bundle, sha = synthetic_model
    path, digest = export_onnx(bundle, folder / "k.onnx", model_sha256=sha, detector=detector_metadata(MEDIAPIPE))
    message = one_line_error(runtime("--model", str(path), "--video", str(megamind), "--sha256", "0" * 64))
    assert "does not match the sha256" in message


def test_a_model_with_object_features_needs_an_objects_model(synthetic_model, megamind):
    folder, bundle, sha = synthetic_model
    fusion = detector_metadata(DetectorConfig(kind="fusion", yolo_model="yolov8n.pt"))
    path, _ = export_onnx(bundle, folder / "fusion.onnx", model_sha256=sha, detector=fusion)
    message = one_line_error(runtime("--model", str(path), "--video", str(megamind)))
    assert "--objects-model" in message and "yolov8n.pt" in message


def test_the_export_names_the_object_model_and_no_path_of_this_machine(tmp_path):
    recorded = detector_metadata(FUSION)
    assert not set(DETECTOR_KEYS_DROPPED) & set(recorded)
    assert recorded["yolo_model"] == DEFAULT_OBJECT_MODEL
    objects = recorded["objects"]
    assert (objects["backend"], objects["model"], objects["sha256"]) == ("tflite-ssd", SSD_MODEL_FILE, SSD_MODEL_SHA256)
    assert (objects["labels"], objects["labels_sha256"]) == (SSD_LABELS_FILE, SSD_LABELS_SHA256)
    assert (objects["score_threshold"], objects["class_thresholds"]) == (0.3, {"person": 0.5})
    assert str(MODELS_DIR) not in json.dumps(recorded) and detector_metadata(MEDIAPIPE)["objects"] is None
    # Weights of one's own, wherever they lie: the file's name and bytes, not its folder.
    weights = tmp_path / "weights" / "yolov8n.pt"
    weights.parent.mkdir()
    weights.write_bytes(b"weights")
    recorded = detector_metadata(DetectorConfig(kind="yolo", yolo_model=str(weights), cache_dir=tmp_path))
    assert recorded["yolo_model"] == "yolov8n.pt" and str(tmp_path) not in json.dumps(recorded)
    assert recorded["objects"] == {
        "backend": "yolo",
        "model": "yolov8n.pt",
        "sha256": hashlib.sha256(b"weights").hexdigest(),
    }


def test_the_object_model_must_be_the_one_the_features_came_from(synthetic_model, megamind, tmp_path):
    folder, bundle, sha = synthetic_model
    path, _ = export_onnx(bundle, folder / "ssd.onnx", model_sha256=sha, detector=detector_metadata(FUSION))
    model, labels = default_detector_paths(MODELS_DIR)
    elsewhere = tmp_path / "detector"
    elsewhere.mkdir()
    data = bytearray(model.read_bytes())
    data[-1] ^= 1  # one bit off: another detector as far as the features are concerned
    (elsewhere / model.name).write_bytes(bytes(data))
    (elsewhere / labels.name).write_bytes(labels.read_bytes())
    refused = one_line_error(
        runtime("--model", str(path), "--video", str(megamind), "--objects-model", str(elsewhere / model.name))
    )
    assert f"{model.name} is not the file this model's object features came from" in refused
    (elsewhere / model.name).write_bytes(model.read_bytes())
    (elsewhere / labels.name).write_text("0 person\n1 bicycle\n")
    refused = one_line_error(
        runtime("--model", str(path), "--video", str(megamind), "--objects-model", str(elsewhere / model.name))
    )
    assert f"{labels.name} is not the file" in refused
    onnx_file = tmp_path / "yolov8n.onnx"
    onnx_file.write_bytes(b"onnx")
    refused = one_line_error(runtime("--model", str(path), "--video", str(megamind), "--objects-model", str(onnx_file)))
    assert "a TFLite SSD" in refused and "must be that file" in refused
    # And the other way round: a YOLO model is not run with the SSD.
    yolo, _ = export_onnx(bundle, folder / "yolo.onnx", model_sha256=sha,
                          detector=detector_metadata(DetectorConfig(kind="yolo", yolo_model="yolov8n.pt")))  # fmt: skip
    refused = one_line_error(runtime("--model", str(yolo), "--video", str(megamind), "--objects-model", str(model)))
    assert "must be an ONNX export" in refused
    # The default detector where the server keeps it (TASKML_MODELS_DIR), here nowhere.
    refused = one_line_error(
        runtime("--model", str(path), "--video", str(megamind), env={"TASKML_MODELS_DIR": str(tmp_path)})
    )
    assert "not installed here" in refused and "scripts/fetch_models.sh" in refused


def test_a_format_1_file_with_the_default_detector_still_gets_it():
    """Files exported before the object model was recorded name only ``coco-ssd-mobilenet-v2``: the
    pinned file, checked against the pinned sha256, with the extractor's thresholds."""
    from taskml.pipeline.objects import TFLiteSSDDetector
    from taskml.runtime.objects import object_stage

    stage = object_stage(DetectorConfig(kind="fusion"), None)
    assert isinstance(stage, TFLiteSSDDetector)
    assert (stage.info["sha256"], stage.info["score_threshold"], stage.class_thresholds) == (
        SSD_MODEL_SHA256, 0.3, {"person": 0.5}
    )  # fmt: skip
    stage.close()


def test_features_from_unknown_detectors_are_refused(synthetic_model, megamind):
    folder, bundle, sha = synthetic_model
    path, _ = export_onnx(bundle, folder / "synthetic.onnx", model_sha256=sha, detector={"kind": "synthetic"})
    assert "detector 'synthetic' unknown" in one_line_error(runtime("--model", str(path), "--video", str(megamind)))
    path, _ = export_onnx(bundle, folder / "none.onnx", model_sha256=sha, detector=None)
    assert "which detectors" in one_line_error(runtime("--model", str(path), "--video", str(megamind)))
    damaged = {"kind": "fusion", "objects": {"backend": "tflite-ssd", "sha256": 5}}
    path, _ = export_onnx(bundle, folder / "damaged.onnx", model_sha256=sha, detector=damaged)
    assert "record cannot be read" in one_line_error(runtime("--model", str(path), "--video", str(megamind)))


def test_a_source_that_cannot_be_opened_is_one_line(synthetic_model, tmp_path):
    folder, bundle, sha = synthetic_model
    path, _ = export_onnx(bundle, folder / "ok.onnx", model_sha256=sha, detector=detector_metadata(MEDIAPIPE))
    (tmp_path / "video.avi").write_bytes(b"\x00" * 1000)
    assert "can be decoded" in one_line_error(runtime("--model", str(path), "--video", str(tmp_path / "video.avi")))
    assert "stream URL must start" in one_line_error(runtime("--model", str(path), "--url", "file:///etc/passwd"))


# ------------------------------------------------------------------ objects without torch


def test_numpy_nms_keeps_what_torchvision_keeps():
    import torch
    import torchvision

    from taskml.runtime.objects import batched_nms

    rng = np.random.default_rng(0)
    for n in (0, 1, 30, 400, 1500):  # 1500 boxes: torchvision's per-class path
        xy = rng.uniform(0, 600, size=(n, 2)).astype(np.float32)
        wh = rng.uniform(5, 120, size=(n, 2)).astype(np.float32)
        boxes = np.concatenate([xy, xy + wh], axis=1)
        scores = rng.uniform(0.25, 1, size=n).astype(np.float32)
        classes = rng.integers(0, 5, size=n)
        expected = torchvision.ops.batched_nms(
            torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(classes), 0.7
        ).numpy()
        assert np.array_equal(np.sort(batched_nms(boxes, scores, classes, 0.7)), np.sort(expected))


@pytest.mark.slow
def test_the_onnx_object_stage_finds_what_the_servers_finds(megamind, model_cache):
    from taskml.pipeline.detectors import ObjectDetector
    from taskml.runtime.objects import OnnxObjectDetector

    # The untrained detector (yolov8n.yaml) scores about 1e-4 at best: with a bar that low it
    # finds dozens of (meaningless) boxes per frame, which NMS then thins.
    config = DetectorConfig(kind="yolo", yolo_model=YOLO_SPEC, cache_dir=model_cache, yolo_conf=1e-4)
    server = ObjectDetector(config)
    exported_file = next(model_cache.glob("yolov8n-*.onnx"))  # the server's own ONNX export
    portable = OnnxObjectDetector(exported_file, config)
    found = 0
    for index, _, bgr in iter_frames(probe_video(megamind), sample_rate=45):
        rgb = np.ascontiguousarray(bgr[..., ::-1])
        a, b = server.process(rgb), portable.process(rgb)
        assert a["object_names"] == b["object_names"], index
        assert np.array_equal(a["object_boxes"], b["object_boxes"]) and np.array_equal(
            a["object_confidences"], b["object_confidences"]
        )
        found += len(a["object_names"])
    assert found > 0


@pytest.mark.slow
def test_a_stream_url_is_read_until_it_ends(exported, megamind, tmp_path):
    """--url: the video served over HTTP by a local server (OpenCV's FFmpeg reads it as a stream)."""
    import functools
    import http.server
    import threading

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(megamind.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{megamind.name}"
        done = runtime("--model", str(exported["rf-stats"][0]), "--url", url)
    finally:
        server.shutdown()
    # A stream is live: timed by the wall clock, and frames that arrive while the detectors are
    # busy are dropped (counted), as in a live session. The file arrives faster than real time,
    # so few frames are seen; the run ends by itself when the stream does.
    assert done.returncode == 0, done.stderr[-2000:]
    import re

    summary = re.search(r"taskml runtime: (\d+) frames, (\d+) windows, (\d+) frames dropped", done.stderr)
    assert summary, done.stderr[-2000:]
    frames, windows, dropped = map(int, summary.groups())
    assert frames >= 1 and frames + dropped >= 200
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(lines) == windows and {line["label"] for line in lines} <= {"holding_glass", "talking"}
