"""Agreement of a cheaper extraction with the reference, measure by measure (pure, no video)."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from taskml.pipeline.agreement import agreement, box_iou, boxes_match, pose_frame_agreement


def _pose(offset: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(0)
    points = np.zeros((33, 4))
    points[:, :2] = rng.uniform(0.2, 0.8, size=(33, 2)) + offset
    return points


def _row(frame: int, *, pose=None, left=False, right=False, boxes=(), names=()) -> dict:
    hand = json.dumps(np.zeros((21, 3)).tolist())
    return {
        "frame_index": frame,
        "mp_pose_landmarks": None if pose is None else json.dumps(pose.tolist()),
        "mp_left_hand_landmarks": hand if left else None,
        "mp_right_hand_landmarks": hand if right else None,
        "yolo_objects": json.dumps(list(names)),
        "yolo_boxes": json.dumps([list(b) for b in boxes]),
    }


def test_identical_tables_agree_fully():
    rows = [_row(i, pose=_pose(), left=i % 2 == 0, boxes=[(0, 0, 10, 10)], names=["cup"]) for i in range(5)]
    table = pd.DataFrame(rows)
    result = agreement(table, table.copy())
    assert (result.frames, result.pose, result.hands, result.objects) == (5, 1.0, 1.0, 1.0)
    assert result.pose_median_error == 0.0
    assert result.minimum == 1.0


def test_pose_scored_by_share_of_landmarks_within_tolerance_of_the_body_size():
    reference = _pose()
    diagonal = np.linalg.norm(reference[:, :2].max(0) - reference[:, :2].min(0))
    moved = reference.copy()
    moved[:10, 0] += 0.2 * diagonal  # 10 of 33 landmarks off by twice the tolerance
    share, error = pose_frame_agreement(reference, moved)
    assert share == pytest.approx(23 / 33)
    assert error == pytest.approx(0.0)  # the median landmark did not move
    assert pose_frame_agreement(reference, None) == (0.0, pytest.approx(math.nan, nan_ok=True))
    assert pose_frame_agreement(None, None)[0] == 1.0


def test_hand_presence_compared_side_by_side():
    ref = pd.DataFrame([_row(0, left=True), _row(1, right=True), _row(2), _row(3, left=True, right=True)])
    cand = pd.DataFrame([_row(0, left=True), _row(1, left=True), _row(2), _row(3, left=True)])
    assert agreement(ref, cand).hands == 0.5


def test_boxes_match_at_iou_half_with_the_same_class():
    assert box_iou(np.array([[0, 0, 10, 10]]), np.array([[5, 0, 15, 10]]))[0, 0] == pytest.approx(1 / 3)
    assert boxes_match([[0, 0, 10, 10]], ["cup"], [[1, 0, 11, 10]], ["cup"])
    assert not boxes_match([[0, 0, 10, 10]], ["cup"], [[1, 0, 11, 10]], ["person"])
    assert not boxes_match([[0, 0, 10, 10]], ["cup"], [[5, 0, 15, 10]], ["cup"])  # IoU 1/3
    assert not boxes_match([[0, 0, 10, 10]], ["cup"], [], [])
    assert boxes_match([], [], [], [])
    # Two boxes of one class: each needs its own partner.
    assert boxes_match(
        [[0, 0, 10, 10], [20, 0, 30, 10]], ["cup", "cup"], [[21, 0, 31, 10], [0, 0, 10, 10]], ["cup"] * 2
    )
    assert not boxes_match(
        [[0, 0, 10, 10], [20, 0, 30, 10]], ["cup", "cup"], [[0, 0, 10, 10], [1, 0, 11, 10]], ["cup"] * 2
    )


def test_object_agreement_is_the_share_of_frames_whose_boxes_match():
    ref = pd.DataFrame([_row(i, boxes=[(0, 0, 10, 10)], names=["cup"]) for i in range(4)])
    cand = ref.copy()
    cand.loc[3, "yolo_boxes"] = json.dumps([[50, 50, 60, 60]])
    assert agreement(ref, cand).objects == 0.75


def test_frames_joined_on_frame_index_and_no_objects_without_object_columns():
    ref = pd.DataFrame([_row(i, pose=_pose()) for i in range(4)])
    cand = pd.DataFrame([_row(i, pose=_pose()) for i in (3, 2, 1)])
    ref["yolo_boxes"] = ref["yolo_objects"] = None
    result = agreement(ref, cand)
    assert result.frames == 3 and result.pose == 1.0 and result.objects is None
