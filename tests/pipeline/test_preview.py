"""Pictures of a live session: a bounded rate, a bounded size, overlays in image fractions."""

from __future__ import annotations

import base64

import cv2
import numpy as np
import pytest

from taskml.pipeline.detectors import FrameDetections
from taskml.pipeline.errors import InputError
from taskml.pipeline.preview import FramePreview, PreviewSpec, overlays


def test_pictures_come_at_most_fps_times_a_second():
    preview = FramePreview(PreviewSpec(fps=4))
    times = np.arange(0, 10, 1 / 30)  # a 30 fps source for 10 s
    due = [t for t in times if preview.due(t)]
    assert 39 <= len(due) <= 41
    assert min(np.diff(due)) >= 0.25 - 1 / 30
    assert not any(FramePreview(PreviewSpec(fps=0)).due(t) for t in times)
    # The first picture, and the first after a pause, are never followed by another at once.
    preview = FramePreview(PreviewSpec(fps=4))
    bursts = [1000.0, 1000.01, 1000.02, 1005.0, 1005.01, 1005.3]
    assert [t for t in bursts if preview.due(t)] == [1000.0, 1005.0, 1005.3]


def test_a_picture_is_scaled_down_never_up():
    preview = FramePreview(PreviewSpec(width=480))
    big = np.zeros((1080, 1920, 3), np.uint8)
    big[:, :960] = 255
    picture = preview.encode(big)
    assert (picture["width"], picture["height"]) == (480, 270)
    decoded = cv2.imdecode(np.frombuffer(base64.b64decode(picture["jpeg_base64"]), np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == (270, 480, 3) and decoded[:, :200].mean() > 200 and decoded[:, 280:].mean() < 50
    small = preview.encode(np.zeros((120, 160, 3), np.uint8))
    assert (small["width"], small["height"]) == (160, 120)


def test_overlays_are_fractions_of_the_source_frame():
    pose = np.zeros((33, 4), np.float32)
    pose[0] = (0.25, 0.5, -0.1, 0.9)
    hand = np.full((21, 3), 0.5, np.float32)
    detections = FrameDetections(
        pose=pose,
        right_hand=hand,
        object_names=("wine glass",),
        object_boxes=np.array([[64, 48, 128, 96]], np.float32),
        object_confidences=np.array([0.58], np.float32),
    )
    out = overlays(detections, 640, 480)
    assert out["pose"][0] == [0.25, 0.5, 0.9]  # x, y, visibility
    assert out["left_hand"] is None and out["right_hand"][0] == [0.5, 0.5]
    assert out["objects"] == [{"name": "wine glass", "box": [0.1, 0.1, 0.2, 0.2], "confidence": 0.58}]
    assert overlays(FrameDetections(), 640, 480) == {"pose": None, "left_hand": None, "right_hand": None, "objects": []}


@pytest.mark.parametrize("kwargs", [{"fps": -1}, {"fps": 60}, {"width": 10}, {"quality": 100}])
def test_bad_preview_settings_are_refused(kwargs):
    with pytest.raises(InputError):
        PreviewSpec(**kwargs)
