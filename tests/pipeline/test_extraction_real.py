"""Real video through real MediaPipe and a real ultralytics YOLO (untrained weights)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from taskml.pipeline.detectors import DetectorConfig, ObjectDetector
from taskml.pipeline.errors import DependencyError, InputError
from taskml.pipeline.extraction import extract_features, iter_frames, probe_video, read_features_metadata
from taskml.pipeline.features import ALL_FEATURE_COLUMNS
from tests.conftest import MEGAMIND_LABELS, YOLO_SPEC

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fusion_features(megamind, model_cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("features") / "megamind.parquet"
    seen = []
    result = extract_features(
        megamind,
        out,
        config=DetectorConfig(kind="fusion", yolo_model=YOLO_SPEC, cache_dir=model_cache),
        labels=MEGAMIND_LABELS,
        progress=lambda done, total: seen.append((done, total)),
    )
    return result, pd.read_parquet(out), seen


def test_pose_found_on_at_least_90_percent_of_megamind(fusion_features):
    result, frame, _ = fusion_features
    assert result.num_frames == 270
    assert frame["pose_present"].mean() >= 0.9
    # Megamind shows hands in roughly half of its frames.
    hands = (frame["left_hand_present"] + frame["right_hand_present"]) > 0
    assert 0.2 <= hands.mean() <= 0.9


def test_parquet_schema_and_raw_detections(fusion_features):
    _, frame, _ = fusion_features
    required = [
        "video_id",
        "frame_index",
        "t",
        "mp_pose_landmarks",
        "mp_left_hand_landmarks",
        "mp_right_hand_landmarks",
        "yolo_objects",
        "yolo_boxes",
        "yolo_confidences",
        "pose_present",
        "left_hand_present",
        "right_hand_present",
        "label",
        *ALL_FEATURE_COLUMNS,
    ]
    assert not [c for c in required if c not in frame.columns]
    assert frame["frame_index"].tolist() == list(range(270))
    assert (frame["video_id"] == "Megamind").all()
    posed = frame[frame["pose_present"] == 1].iloc[0]
    pose = json.loads(posed["mp_pose_landmarks"])
    assert np.array(pose).shape == (33, 4)
    hand_row = frame[frame["right_hand_present"] == 1].iloc[0]
    assert np.array(json.loads(hand_row["mp_right_hand_landmarks"])).shape == (21, 3)
    # YOLO ran on every frame: the lists are present (possibly empty), never null.
    assert frame["yolo_objects"].notna().all()
    assert all(isinstance(json.loads(v), list) for v in frame["yolo_boxes"])
    for column in ("right_elbow_angle", "left_elbow_angle", "right_hand_x", "right_hand_speed"):
        assert frame[column].dtype == np.float32


def test_missing_detections_are_nan_not_zero(fusion_features):
    _, frame, _ = fusion_features
    no_left = frame[frame["left_hand_present"] == 0]
    assert len(no_left) > 0
    assert no_left["left_hand_0_x"].isna().all()
    assert no_left["mp_left_hand_landmarks"].isna().all()
    no_pose = frame[frame["pose_present"] == 0]
    assert no_pose["right_elbow_angle"].isna().all()
    # Untrained YOLO finds nothing at the default threshold: distances are NaN, not 0.
    no_objects = frame[frame["num_objects"] == 0]
    assert no_objects["right_hand_obj_dist"].isna().all()


def test_angles_and_speeds_are_plausible(fusion_features):
    _, frame, _ = fusion_features
    angles = frame["right_elbow_angle"].dropna()
    assert len(angles) > 100
    assert ((angles >= 0) & (angles <= 180)).all()
    # Speed is per second: displacement between consecutive frames divided by their time step.
    rows = frame[["t", "right_hand_x", "right_hand_y", "right_hand_speed"]].dropna().index
    i = next(i for i in rows if i - 1 in rows)
    aspect = 720 / 528
    dx = (frame.at[i, "right_hand_x"] - frame.at[i - 1, "right_hand_x"]) * aspect
    dy = frame.at[i, "right_hand_y"] - frame.at[i - 1, "right_hand_y"]
    dt = frame.at[i, "t"] - frame.at[i - 1, "t"]
    assert frame.at[i, "right_hand_speed"] == pytest.approx(np.hypot(dx, dy) / dt, rel=1e-3)


def test_label_join_keeps_unlabelled_frames_unlabelled(fusion_features):
    result, frame, _ = fusion_features
    assert pd.isna(frame.at[0, "label"])  # frame 0 is black and unlabelled
    assert frame.at[1, "label"] == "holding_glass"
    assert frame.at[98, "label"] == "talking"
    assert frame.at[154, "label"] == "holding_glass"
    assert result.num_labeled == 269
    assert set(frame["label"].dropna()) == {"holding_glass", "talking"}


def test_timestamps_from_decoder_and_progress(fusion_features):
    _, frame, seen = fusion_features
    t = frame["t"].to_numpy()
    assert t[0] == 0
    assert np.all(np.diff(t) > 0)
    assert t[-1] == pytest.approx(269 / 23.976, abs=1e-3)
    assert seen[-1] == (270, 270)
    meta = read_features_metadata(fusion_features[0].output)
    assert meta["fps"] == pytest.approx(23.976, abs=1e-3)
    assert meta["detector"] == "fusion" and meta["frame_count"] == 270


def test_sample_rate_keeps_real_time(megamind, tmp_path):
    out = tmp_path / "every3.parquet"
    # The labels reach the last frame (269), which sampling skips: still a frame of the video.
    result = extract_features(
        megamind, out, config=DetectorConfig(kind="mediapipe"), sample_rate=3, labels=MEGAMIND_LABELS
    )
    frame = pd.read_parquet(out)
    assert result.num_frames == 90
    assert read_features_metadata(out)["frame_count"] == 270
    assert frame["label"].notna().sum() == 89  # every sampled frame but 0, which the CSV leaves unlabelled
    assert frame["frame_index"].tolist() == list(range(0, 270, 3))
    assert np.allclose(frame["t"], frame["frame_index"] / 23.976, atol=1e-3)
    # mediapipe-only: objects were not looked for, so their columns are missing, not empty.
    assert frame["yolo_objects"].isna().all() and frame["num_objects"].isna().all()


def test_onnx_backend_matches_ultralytics_predict(megamind, model_cache):
    """The ONNX Runtime path computes what ultralytics' torch model computes, on the same weights."""
    import torch

    from taskml.pipeline.detectors import letterbox

    info = probe_video(megamind)
    frames = [bgr[..., ::-1].copy() for i, _, bgr in iter_frames(info) if i in (30, 120, 220)]
    common = {"yolo_model": YOLO_SPEC, "cache_dir": model_cache, "yolo_conf": 1e-7}
    onnx = ObjectDetector(DetectorConfig(kind="yolo", yolo_backend="onnx", **common))
    torch_ = ObjectDetector(DetectorConfig(kind="yolo", yolo_backend="torch", **common))
    network = torch_._yolo.model.eval()
    for rgb in frames:
        image, _, _ = letterbox(rgb, 640)
        blob = np.ascontiguousarray(image.transpose(2, 0, 1)[None], dtype=np.float32) / 255.0
        raw_onnx = onnx._session.run(None, {onnx._session.get_inputs()[0].name: blob})[0]
        with torch.inference_mode():
            raw_torch = network(torch.from_numpy(blob))[0].numpy()
        assert raw_onnx.shape == raw_torch.shape
        assert np.allclose(raw_onnx, raw_torch, atol=1e-3, rtol=1e-3)
        # After thresholds and NMS both paths keep as many boxes, with the same scores.
        a, b = onnx.process(rgb), torch_.process(rgb)
        assert len(a["object_names"]) == len(b["object_names"]) > 0
        assert np.allclose(np.sort(a["object_confidences"]), np.sort(b["object_confidences"]), atol=1e-4)


def test_yolo_weights_that_cannot_be_had_fail_in_one_line(tmp_path):
    with pytest.raises(DependencyError) as info:
        ObjectDetector(DetectorConfig(kind="yolo", yolo_model=str(tmp_path / "missing-weights.pt")))
    message = str(info.value)
    assert "\n" not in message and "--yolo-model" in message


def test_not_a_video_is_refused(tmp_path):
    fake = tmp_path / "clip.mp4"
    fake.write_text("this is not a video\n" * 100)
    with pytest.raises(InputError, match="not a video"):
        extract_features(fake, tmp_path / "out.parquet", config=DetectorConfig(kind="mediapipe"))
    assert not (tmp_path / "out.parquet").exists()


def test_labels_outside_the_video_are_refused_before_detection(megamind, tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("frame_index,label\n10,a\n9000,b\n")
    with pytest.raises(InputError, match=r"line 3: frame 9000 is outside the video \(270 frames"):
        extract_features(megamind, tmp_path / "out.parquet", labels=labels, config=DetectorConfig(kind="mediapipe"))
    assert list(tmp_path.iterdir()) == [labels]
