"""Pictures of a live session: the frames the detectors analysed, scaled JPEG at a bounded rate,
with what was found in them as plain numbers for a viewer to draw (pose skeleton, hand landmarks,
object boxes), so the overlays can be toggled without another picture.

Bounded on purpose: at most ``fps`` pictures a second, at most ``width`` pixels wide; the
choice is made before any encoding, so frames that are not shown cost nothing.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import cv2
import numpy as np

from .detectors import FrameDetections
from .errors import InputError

# MediaPipe's pose skeleton (the connections mp.solutions.pose.POSE_CONNECTIONS draws), by landmark index.
POSE_EDGES = (
    (11, 12), (11, 13), (13, 15), (12, 14), (14, 16), (11, 23), (12, 24), (23, 24), (23, 25), (25, 27),
    (24, 26), (26, 28), (27, 29), (29, 31), (27, 31), (28, 30), (30, 32), (28, 32), (15, 17), (15, 19),
    (15, 21), (17, 19), (16, 18), (16, 20), (16, 22), (18, 20), (0, 1), (1, 2), (2, 3), (3, 7), (0, 4),
    (4, 5), (5, 6), (6, 8), (9, 10),
)  # fmt: skip
HAND_EDGES = (
    (0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (5, 9), (9, 10), (10, 11), (11, 12),
    (9, 13), (13, 14), (14, 15), (15, 16), (13, 17), (17, 18), (18, 19), (19, 20), (0, 17),
)  # fmt: skip


@dataclass(frozen=True)
class PreviewSpec:
    fps: float = 4.0  # pictures a second at most; 0: none
    width: int = 480  # pixels, at most (never scaled up)
    quality: int = 70  # JPEG quality

    def __post_init__(self) -> None:
        if not 0 <= self.fps <= 30:
            raise InputError(f"preview fps must be between 0 and 30, got {self.fps}")
        if not 64 <= self.width <= 1920:
            raise InputError(f"preview width must be between 64 and 1920 pixels, got {self.width}")
        if not 10 <= self.quality <= 95:
            raise InputError(f"preview JPEG quality must be between 10 and 95, got {self.quality}")


class FramePreview:
    """Which frames become pictures (``due``), and the picture of one (``encode``)."""

    def __init__(self, spec: PreviewSpec | None = None) -> None:
        self.spec = spec or PreviewSpec()
        self._next = 0.0

    def due(self, now: float) -> bool:
        """True at most ``fps`` times a second of ``now`` (a monotonic clock, seconds)."""
        if self.spec.fps <= 0 or now < self._next:
            return False
        period = 1.0 / self.spec.fps
        # A little late (frames come when they come): keep the cadence, so the rate does not drift
        # down. Later than a period (the first picture, or after a pause): a period from now, never
        # the next frame at once as well, so no time span ever holds more than fps × span + 1.
        self._next = self._next + period if now - self._next < period else now + period
        return True

    def encode(self, bgr: np.ndarray) -> dict:
        """{jpeg_base64, width, height} of the frame scaled to at most ``width`` pixels wide."""
        h, w = bgr.shape[:2]
        if w > self.spec.width:
            bgr = cv2.resize(
                bgr, (self.spec.width, max(1, round(h * self.spec.width / w))), interpolation=cv2.INTER_AREA
            )
        ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, self.spec.quality])
        if not ok:
            raise InputError("a frame could not be encoded as JPEG")
        return {
            "jpeg_base64": base64.b64encode(data.tobytes()).decode("ascii"),
            "width": int(bgr.shape[1]),
            "height": int(bgr.shape[0]),
        }


def _points(values: np.ndarray | None, columns: int) -> list[list[float]] | None:
    if values is None:
        return None
    return np.round(np.asarray(values, np.float64)[:, :columns], 4).tolist()


def overlays(detections: FrameDetections, width: int, height: int) -> dict:
    """What the detectors found, in image fractions (0..1 of the source frame's width and height):
    ``pose`` 33 × [x, y, visibility], ``left_hand``/``right_hand`` 21 × [x, y], ``objects``
    [{name, box [x0, y0, x1, y1], confidence}]; None where nothing was found."""
    pose = None
    if detections.pose is not None:
        pose = np.round(np.asarray(detections.pose, np.float64)[:, [0, 1, 3]], 4).tolist()
    scale = np.array([width, height, width, height], np.float64)
    objects = [
        {
            "name": name,
            "box": np.round(np.asarray(box, np.float64) / scale, 4).tolist(),
            "confidence": round(float(c), 3),
        }
        for name, box, c in zip(
            detections.object_names, detections.object_boxes, detections.object_confidences, strict=True
        )
    ]
    return {
        "pose": pose,
        "left_hand": _points(detections.left_hand, 2),
        "right_hand": _points(detections.right_hand, 2),
        "objects": objects,
    }
