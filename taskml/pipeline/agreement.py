"""How closely a cheaper extraction agrees with the reference (every detector on every frame).

The price list for doing less work (objects every k-th frame, lighter MediaPipe models, chunks):
each measure compares two features tables of the same clip, frame by frame (joined on
``frame_index``), and is a share in 0..1 where 1 is perfect agreement.

- **pose**: per frame, the share of the 33 pose landmarks whose (x, y) lies within
  ``pose_tolerance`` (default 0.1) of the reference landmark, in units of the diagonal of the
  reference pose's bounding box (a PCK score: scale-free, so a small far person counts as much as a
  near one). A frame where one table has a pose and the other none scores 0; neither: 1. The
  agreement is the mean over frames. Beside it, ``pose_median_error``: the median over frames with
  both poses of the median landmark error in the same units.
- **hands**: the share of frames where both tables agree on which hands are present (left, right).
- **objects**: the share of frames whose boxes match: the same number of boxes, and each
  reference box paired with a distinct candidate box of the same class at IoU ≥ ``iou`` (0.5).
  Frames with no boxes on either side match.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

POSE_TOLERANCE = 0.1
IOU_THRESHOLD = 0.5


@dataclass(frozen=True)
class Agreement:
    frames: int  # frames in both tables
    pose: float
    pose_median_error: float  # nan when no frame has a pose in both
    hands: float
    objects: float | None  # None when either table has no object columns

    @property
    def minimum(self) -> float:
        return min(v for v in (self.pose, self.hands, self.objects) if v is not None)

    def as_dict(self) -> dict:
        return asdict(self)


def _points(text) -> np.ndarray | None:
    """A JSON landmarks cell; anything but text (None, NaN, pandas' NA) is a missing detection."""
    return np.asarray(json.loads(text), np.float64) if isinstance(text, str) else None


def _json_list(text) -> list:
    return json.loads(text) if isinstance(text, str) else []


def pose_frame_agreement(
    reference: np.ndarray | None, candidate: np.ndarray | None, *, tolerance: float = POSE_TOLERANCE
) -> tuple[float, float]:
    """(share of landmarks within tolerance, median normalised error) for one frame's poses."""
    if reference is None or candidate is None:
        return (1.0 if reference is None and candidate is None else 0.0), float("nan")
    ref, cand = reference[:, :2], candidate[:, :2]
    scale = float(np.linalg.norm(ref.max(axis=0) - ref.min(axis=0))) or 1e-6
    errors = np.linalg.norm(cand - ref, axis=1) / scale
    return float((errors <= tolerance).mean()), float(np.median(errors))


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` (N, 4 xyxy) with every box in ``b`` (M, 4): (N, M)."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def boxes_match(
    reference_boxes, reference_names, candidate_boxes, candidate_names, *, iou: float = IOU_THRESHOLD
) -> bool:
    """Whether two frames' detections are the same objects: equal counts, every reference box
    paired with a distinct candidate box of its class at IoU ≥ ``iou`` (best pairs first)."""
    ref = np.asarray(reference_boxes, np.float64).reshape(-1, 4)
    cand = np.asarray(candidate_boxes, np.float64).reshape(-1, 4)
    if len(ref) != len(cand):
        return False
    if not len(ref):
        return True
    overlaps = box_iou(ref, cand)
    same_class = np.array([[r == c for c in candidate_names] for r in reference_names], bool)
    overlaps = np.where(same_class, overlaps, 0.0)
    used_ref, used_cand = set(), set()
    for flat in np.argsort(-overlaps, axis=None):
        i, j = np.unravel_index(flat, overlaps.shape)
        if overlaps[i, j] < iou:
            break
        if i in used_ref or j in used_cand:
            continue
        used_ref.add(i)
        used_cand.add(j)
    return len(used_ref) == len(ref)


def agreement(
    reference: pd.DataFrame,
    candidate: pd.DataFrame,
    *,
    pose_tolerance: float = POSE_TOLERANCE,
    iou: float = IOU_THRESHOLD,
) -> Agreement:
    """Agreement of ``candidate`` with ``reference`` (two features tables of the same video)."""
    joined = reference.merge(candidate, on="frame_index", suffixes=("_ref", "_cand"))
    n = len(joined)
    if not n:
        return Agreement(frames=0, pose=0.0, pose_median_error=float("nan"), hands=0.0, objects=None)
    pose_scores, pose_errors = [], []
    for ref_text, cand_text in zip(joined["mp_pose_landmarks_ref"], joined["mp_pose_landmarks_cand"], strict=True):
        score, error = pose_frame_agreement(_points(ref_text), _points(cand_text), tolerance=pose_tolerance)
        pose_scores.append(score)
        if not np.isnan(error):
            pose_errors.append(error)
    hands_same = np.ones(n, bool)
    for side in ("left", "right"):
        column = f"mp_{side}_hand_landmarks"
        hands_same &= joined[f"{column}_ref"].isna().to_numpy() == joined[f"{column}_cand"].isna().to_numpy()
    objects = None
    if (
        "yolo_boxes_ref" in joined
        and joined["yolo_boxes_ref"].notna().any()
        and joined["yolo_boxes_cand"].notna().any()
    ):
        columns = [
            joined[name] for name in ("yolo_boxes_ref", "yolo_objects_ref", "yolo_boxes_cand", "yolo_objects_cand")
        ]
        matches = [
            boxes_match(_json_list(rb), _json_list(rn), _json_list(cb), _json_list(cn), iou=iou)
            for rb, rn, cb, cn in zip(*columns, strict=True)
        ]
        objects = float(np.mean(matches))
    return Agreement(
        frames=n,
        pose=float(np.mean(pose_scores)),
        pose_median_error=float(np.median(pose_errors)) if pose_errors else float("nan"),
        hands=float(hands_same.mean()),
        objects=objects,
    )
