"""Derived per-frame features, shared by offline extraction and live inference.

Coordinates. MediaPipe gives landmarks normalised by image width (x) and height (y), which
are not the same unit unless the image is square. Every distance and speed here is computed in
*image-height units* (pixels divided by the image height): x is rescaled by width/height first,
so a distance means the same thing horizontally and vertically, and pixel boxes from YOLO are
divided by the height to match. Hand positions (``*_hand_x/_y``) are reported in MediaPipe's
normalised image coordinates (0..1 across the frame), which are easy to read.

Missing detections are NaN, never zeros that look like data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .detectors import FrameDetections

POSE_LANDMARKS = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel",
    "right_heel", "left_foot_index", "right_foot_index",
)  # fmt: skip
P = {name: i for i, name in enumerate(POSE_LANDMARKS)}
HAND_POINTS = 21
HAND_WRIST, HAND_MIDDLE_MCP = 0, 9
MIN_VISIBILITY = 0.5
# Objects a hand is "near": everything YOLO finds except people, whose box always holds the hand.
IGNORED_OBJECT_CLASSES = frozenset({"person"})

# (name, first, vertex, last): angle at the vertex, in degrees.
ANGLES = (
    ("right_elbow_angle", "right_shoulder", "right_elbow", "right_wrist"),
    ("left_elbow_angle", "left_shoulder", "left_elbow", "left_wrist"),
    ("right_shoulder_angle", "right_hip", "right_shoulder", "right_elbow"),
    ("left_shoulder_angle", "left_hip", "left_shoulder", "left_elbow"),
    ("right_wrist_angle", "right_elbow", "right_wrist", "right_index"),
    ("left_wrist_angle", "left_elbow", "left_wrist", "left_index"),
)
SIDES = ("left", "right")

POSE_COLUMNS = [f"pose_{name}_{axis}" for name in POSE_LANDMARKS for axis in "xyz"]
HAND_COLUMNS = [f"{side}_hand_{i}_{axis}" for side in SIDES for i in range(HAND_POINTS) for axis in "xyz"]
ANGLE_COLUMNS = [a[0] for a in ANGLES]
HAND_MOTION_COLUMNS = [f"{side}_hand_{what}" for side in ("right", "left") for what in ("x", "y", "speed")]
OBJECT_COLUMNS = ["right_hand_obj_dist", "left_hand_obj_dist", "num_objects"]
PRESENCE_COLUMNS = ["pose_present", "left_hand_present", "right_hand_present"]

# Feature groups a dataset can be built from (ablations pick a subset).
FEATURE_GROUPS: dict[str, list[str]] = {
    "pose": ["pose_present", *ANGLE_COLUMNS, *POSE_COLUMNS],
    "hands": ["left_hand_present", "right_hand_present", *HAND_MOTION_COLUMNS, *HAND_COLUMNS],
    "objects": OBJECT_COLUMNS,
}
ALL_FEATURE_COLUMNS = [c for group in FEATURE_GROUPS.values() for c in group]
# ``other``: every numeric column of the features file outside the groups above and outside the
# identifying columns (a user's own sensor channels, a public data set's series). Asked for by
# name only: the default groups stay pose, hands, objects.
OTHER_GROUP = "other"
DATASET_GROUPS = (*FEATURE_GROUPS, OTHER_GROUP)
RESERVED_COLUMNS = frozenset({"video_id", "t", "frame_index", "label", "time", "timestamp", "start_t"})

# Where each column sits in the feature matrix (rows in ALL_FEATURE_COLUMNS order), so that a
# frame's whole row is computed as arrays, not column by column.
COLUMN_INDEX = {name: i for i, name in enumerate(ALL_FEATURE_COLUMNS)}
_ANGLE_POINTS = np.array([[P[a], P[b], P[c]] for _, a, b, c in ANGLES])  # (angles, 3): first, vertex, last
_ANGLE_ROWS = np.array([COLUMN_INDEX[c] for c in ANGLE_COLUMNS])
_POSE_ROWS = np.array([COLUMN_INDEX[c] for c in POSE_COLUMNS])
_HAND_ROWS = {
    side: np.array([COLUMN_INDEX[f"{side}_hand_{i}_{axis}"] for i in range(HAND_POINTS) for axis in "xyz"])
    for side in SIDES
}
_OBJECT_ROWS = np.array([COLUMN_INDEX[c] for c in OBJECT_COLUMNS])


@dataclass(frozen=True)
class DetectionArrays:
    """Detections of N frames of one video, stacked; NaN where nothing was detected."""

    t: np.ndarray  # (N,) seconds
    pose: np.ndarray  # (N, 33, 4) x, y, z, visibility (normalised image coordinates)
    pose_world: np.ndarray  # (N, 33, 3) metres, hip-centred (MediaPipe world landmarks)
    left_hand: np.ndarray  # (N, 21, 3) the person's left hand
    right_hand: np.ndarray  # (N, 21, 3)
    boxes: list[np.ndarray]  # N arrays (k, 4) of xyxy pixel boxes
    names: list[list[str]]  # N lists of k class names
    width: int
    height: int


def joint_angle(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Angle ABC at vertex b, in degrees, for arrays of points (..., D); NaN if degenerate."""
    ba = a - b
    bc = c - b
    norms = np.linalg.norm(ba, axis=-1) * np.linalg.norm(bc, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.sum(ba * bc, axis=-1) / norms
    cos = np.where(norms > 1e-12, cos, np.nan)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def speeds(xy: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Speed per second between consecutive rows (first row NaN); NaN across missing points."""
    out = np.full(len(t), np.nan)
    if len(t) < 2:
        return out
    dt = np.diff(t)
    step = np.linalg.norm(np.diff(xy, axis=0), axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out[1:] = np.where(dt > 0, step / dt, np.nan)
    return out


def point_box_distance(point: np.ndarray, boxes: np.ndarray) -> float:
    """Distance from a point (2,) to the nearest box (k, 4) xyxy; 0 inside a box, NaN if none."""
    if boxes.size == 0 or np.isnan(point).any():
        return float("nan")
    dx = np.maximum.reduce([boxes[:, 0] - point[0], np.zeros(len(boxes)), point[0] - boxes[:, 2]])
    dy = np.maximum.reduce([boxes[:, 1] - point[1], np.zeros(len(boxes)), point[1] - boxes[:, 3]])
    return float(np.min(np.hypot(dx, dy)))


def _isotropic(points: np.ndarray, aspect: float) -> np.ndarray:
    """Normalised (x, y[, z]) → image-height units: x and z are scaled by width/height."""
    out = points[..., :3].astype(np.float64, copy=True)
    out[..., 0] *= aspect
    if out.shape[-1] > 2:
        out[..., 2] *= aspect
    return out


def hand_positions(arrays: DetectionArrays, side: str) -> np.ndarray:
    """(N, 2) normalised position of a hand: the centre of its 21 landmarks, or else the pose
    wrist when it is visible, or NaN."""
    hand = arrays.left_hand if side == "left" else arrays.right_hand
    # A hand is found whole or not at all, so a plain mean keeps NaN for a missing hand.
    centre = hand[..., :2].mean(axis=1)
    wrist = arrays.pose[:, P[f"{side}_wrist"], :2]
    wrist_ok = arrays.pose[:, P[f"{side}_wrist"], 3] >= MIN_VISIBILITY
    fallback = np.where(wrist_ok[:, None], wrist, np.nan)
    return np.where(np.isnan(centre), fallback, centre)


def _normalised_pose(arrays: DetectionArrays, aspect: float) -> np.ndarray:
    """Pose landmarks centred on the mid-shoulder and divided by the shoulder width (N, 33, 3).

    Shoulders are used rather than hips because task videos are often framed on the upper body.
    """
    pts = _isotropic(arrays.pose, aspect)
    centre = (pts[:, P["left_shoulder"]] + pts[:, P["right_shoulder"]]) / 2
    scale = np.linalg.norm(pts[:, P["left_shoulder"], :2] - pts[:, P["right_shoulder"], :2], axis=-1)
    scale = np.where(scale > 1e-3, scale, np.nan)
    return (pts - centre[:, None, :]) / scale[:, None, None]


def _normalised_hand(hand: np.ndarray, aspect: float) -> np.ndarray:
    """Hand landmarks relative to the wrist, divided by the wrist→middle-knuckle length."""
    pts = _isotropic(hand, aspect)
    wrist = pts[:, HAND_WRIST]
    scale = np.linalg.norm(pts[:, HAND_MIDDLE_MCP, :2] - wrist[:, :2], axis=-1)
    scale = np.where(scale > 1e-6, scale, np.nan)
    return (pts - wrist[:, None, :]) / scale[:, None, None]


def derive_matrix(arrays: DetectionArrays) -> np.ndarray:
    """All numeric per-frame feature columns (see FEATURE_GROUPS) for N frames of one video, as
    one float32 array of shape (len(ALL_FEATURE_COLUMNS), N): row ``COLUMN_INDEX[name]`` is the
    column ``name``."""
    n = len(arrays.t)
    aspect = arrays.width / arrays.height
    out = np.empty((len(ALL_FEATURE_COLUMNS), n), np.float32)

    out[COLUMN_INDEX["pose_present"]] = ~np.isnan(arrays.pose[:, 0, 0])
    out[COLUMN_INDEX["left_hand_present"]] = ~np.isnan(arrays.left_hand[:, 0, 0])
    out[COLUMN_INDEX["right_hand_present"]] = ~np.isnan(arrays.right_hand[:, 0, 0])

    # Angles from MediaPipe's metric world landmarks: they do not foreshorten with the camera.
    # All of them at once: (N, angles, 3) points; an angle needs its three landmarks visible.
    world = arrays.pose_world
    angle = joint_angle(world[:, _ANGLE_POINTS[:, 0]], world[:, _ANGLE_POINTS[:, 1]], world[:, _ANGLE_POINTS[:, 2]])
    visible = np.all(arrays.pose[:, _ANGLE_POINTS, 3] >= MIN_VISIBILITY, axis=-1)
    out[_ANGLE_ROWS] = np.where(visible, angle, np.nan).T

    for side in ("right", "left"):
        pos = hand_positions(arrays, side)
        out[COLUMN_INDEX[f"{side}_hand_x"]] = pos[:, 0]
        out[COLUMN_INDEX[f"{side}_hand_y"]] = pos[:, 1]
        iso = pos * np.array([aspect, 1.0])
        out[COLUMN_INDEX[f"{side}_hand_speed"]] = speeds(iso, arrays.t)
        dist = np.full(n, np.nan)
        for i in range(n):
            names, boxes = arrays.names[i], arrays.boxes[i]
            keep = [j for j, name in enumerate(names) if name not in IGNORED_OBJECT_CLASSES]
            if keep:
                dist[i] = point_box_distance(iso[i], boxes[keep] / arrays.height)
        out[COLUMN_INDEX[f"{side}_hand_obj_dist"]] = dist
    out[COLUMN_INDEX["num_objects"]] = [
        sum(name not in IGNORED_OBJECT_CLASSES for name in names) for names in arrays.names
    ]

    out[_POSE_ROWS] = _normalised_pose(arrays, aspect).reshape(n, -1).T
    for side, hand in (("left", arrays.left_hand), ("right", arrays.right_hand)):
        out[_HAND_ROWS[side]] = _normalised_hand(hand, aspect).reshape(n, -1).T
    return out


def derive_features(arrays: DetectionArrays) -> dict[str, np.ndarray]:
    """The columns of :func:`derive_matrix` by name."""
    return dict(zip(ALL_FEATURE_COLUMNS, derive_matrix(arrays), strict=True))


def stack_detections(t: np.ndarray, detections: list[FrameDetections], width: int, height: int) -> DetectionArrays:
    n = len(detections)

    def stack(attr: str, shape: tuple[int, ...]) -> np.ndarray:
        out = np.full((n, *shape), np.nan, np.float32)
        for i, det in enumerate(detections):
            value = getattr(det, attr)
            if value is not None:
                out[i] = value
        return out

    return DetectionArrays(
        t=np.asarray(t, np.float64),
        pose=stack("pose", (33, 4)),
        pose_world=stack("pose_world", (33, 3)),
        left_hand=stack("left_hand", (21, 3)),
        right_hand=stack("right_hand", (21, 3)),
        boxes=[d.object_boxes for d in detections],
        names=[list(d.object_names) for d in detections],
        width=width,
        height=height,
    )


def feature_matrix(arrays: DetectionArrays, *, with_objects: bool) -> np.ndarray:
    """:func:`derive_matrix`, with the object rows NaN when objects were not looked for."""
    matrix = derive_matrix(arrays)
    if not with_objects:  # not looked for is not the same as found nothing
        matrix[_OBJECT_ROWS] = np.nan
    return matrix


def numeric_features(arrays: DetectionArrays, *, with_objects: bool) -> dict[str, np.ndarray]:
    """The derived feature columns by name; object columns are NaN when objects were not looked for."""
    return dict(zip(ALL_FEATURE_COLUMNS, feature_matrix(arrays, with_objects=with_objects), strict=True))
