"""The default object detector on real video: a pretrained COCO SSD (TFLite) on Megamind.avi.

Megamind.avi (Debian's opencv-doc) shows a woman holding a champagne glass in the shots labelled
``holding_glass`` (samples/Megamind_labels.csv) and a man talking in the others.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from taskml.pipeline.ablation import run_ablation
from taskml.pipeline.dataset import DatasetSpec, build_dataset
from taskml.pipeline.detectors import Detector, DetectorConfig
from taskml.pipeline.errors import DependencyError, InputError
from taskml.pipeline.estimators import ModelParams
from taskml.pipeline.extraction import extract_features, iter_frames, probe_video, read_features_metadata
from taskml.pipeline.objects import (
    DEFAULT_OBJECT_MODEL,
    SSD_MODEL_FILE,
    SSD_MODEL_SHA256,
    default_detector_paths,
    make_object_detector,
)
from taskml.pipeline.training import TrainSpec
from taskml.pipeline.windows import WindowSpec
from tests.conftest import MEGAMIND_LABELS, MODELS, YOLO_SPEC

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def default_features(megamind, tmp_path_factory):
    """Megamind through fusion with the object detector a user gets by default (no --yolo-model)."""
    out = tmp_path_factory.mktemp("objects") / "megamind.parquet"
    config = DetectorConfig(kind="fusion", models_dir=MODELS)
    assert config.yolo_model == DEFAULT_OBJECT_MODEL == DetectorConfig(yolo_model="").yolo_model
    result = extract_features(megamind, out, config=config, labels=MEGAMIND_LABELS)
    return result, pd.read_parquet(out), out


def test_default_detector_finds_the_person_in_nearly_every_frame(default_features):
    _, frame, _ = default_features
    objects = frame["yolo_objects"].map(json.loads)
    assert objects.map(lambda names: "person" in names).mean() >= 0.9


def test_default_detector_finds_the_glass_where_she_holds_it(default_features):
    result, frame, _ = default_features
    objects = frame["yolo_objects"].map(json.loads)
    glass = frame[objects.map(lambda names: "wine glass" in names)]
    assert len(glass) >= 5
    assert set(glass["label"]) == {"holding_glass"}  # never in the talking shots
    # Its box lies in the picture and has a confidence, as YOLO's would.
    row = glass.iloc[0]
    names, boxes = json.loads(row["yolo_objects"]), np.array(json.loads(row["yolo_boxes"]))
    x0, y0, x1, y1 = boxes[names.index("wine glass")]
    assert 0 <= x0 < x1 <= result.info.width and 0 <= y0 < y1 <= result.info.height
    assert all(0 < c <= 1 for c in json.loads(row["yolo_confidences"]))


def test_which_detector_ran_is_recorded(default_features):
    result, _, path = default_features
    meta = read_features_metadata(path)
    assert meta["object_detector"]["backend"] == "tflite-ssd"
    assert meta["object_detector"]["model"] == SSD_MODEL_FILE
    assert meta["object_detector"]["sha256"] == SSD_MODEL_SHA256
    assert meta["yolo_model"] == DEFAULT_OBJECT_MODEL
    assert result.object_detector == meta["object_detector"]


def test_objects_only_beats_chance_where_objects_matter(default_features, tmp_path):
    """The ablation's objects-only model tells holding_glass from talking on Megamind (11 s: a small test)."""
    _, _, path = default_features
    spec = DatasetSpec(window=WindowSpec(window_sec=1.0, step_sec=0.1), ratios=(0.5, 0.25, 0.25), seed=42)
    build_dataset([path], tmp_path / "ds", spec=spec)
    meta = json.loads((tmp_path / "ds" / "metadata.json").read_text())
    assert set(meta["test_label_dist"]) == {"holding_glass", "talking"}
    majority = max(meta["test_label_dist"].values()) / meta["test_size"]
    report = run_ablation(
        tmp_path / "ds",
        spec=TrainSpec(model_type="rf", aggregation="stats", params=ModelParams(n_estimators=50), seed=0),
        groups=("objects",),
    )
    objects = report["groups"]["objects"]
    assert objects["accuracy"] > max(0.5, majority)
    assert objects["f1_macro"] > 0.5


def test_same_columns_from_every_backend(megamind, model_cache):
    info = probe_video(megamind)
    _, _, bgr = next(iter_frames(info))
    rgb = np.ascontiguousarray(bgr[..., ::-1])
    outputs = []
    for spec in (DEFAULT_OBJECT_MODEL, YOLO_SPEC):
        with Detector(DetectorConfig(kind="yolo", yolo_model=spec, models_dir=MODELS, cache_dir=model_cache)) as d:
            outputs.append((d.object_info, d.process(rgb)))
    (ssd_info, ssd), (yolo_info, yolo) = outputs
    assert ssd_info["backend"] == "tflite-ssd" and yolo_info["backend"].startswith("yolo-")
    assert yolo_info["untrained"] is True
    for det in (ssd, yolo):
        assert det.object_boxes.dtype == np.float32 and det.object_boxes.shape[1:] == (4,)
        assert det.object_confidences.dtype == np.float32
        assert len(det.object_names) == len(det.object_boxes) == len(det.object_confidences)


def test_missing_default_detector_says_how_to_get_it(tmp_path):
    with pytest.raises(DependencyError, match="scripts/fetch_models.sh"):
        make_object_detector(DetectorConfig(kind="yolo", models_dir=tmp_path))


def test_a_changed_model_file_is_refused(tmp_path):
    model, labels = default_detector_paths(MODELS)
    copy_model, copy_labels = default_detector_paths(tmp_path)
    copy_model.parent.mkdir(parents=True)
    shutil.copy(labels, copy_labels)
    data = bytearray(model.read_bytes())
    data[-1] ^= 0xFF
    copy_model.write_bytes(bytes(data))
    with pytest.raises(DependencyError, match="sha256"):
        make_object_detector(DetectorConfig(kind="yolo", models_dir=tmp_path))


def test_a_tflite_model_needs_its_label_map(tmp_path):
    model, _ = default_detector_paths(MODELS)
    shutil.copy(model, tmp_path / "mine.tflite")
    with pytest.raises(InputError, match="coco_labels.txt or labels.txt"):
        make_object_detector(DetectorConfig(kind="yolo", yolo_model=str(tmp_path / "mine.tflite")))
    (tmp_path / "labels.txt").write_text("0 person\nnot a label line\n")
    with pytest.raises(InputError, match="labels.txt line 2"):
        make_object_detector(DetectorConfig(kind="yolo", yolo_model=str(tmp_path / "mine.tflite")))
