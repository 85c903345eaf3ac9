"""Derived per-frame features: hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from taskml.pipeline.features import (
    ALL_FEATURE_COLUMNS,
    ANGLE_COLUMNS,
    HAND_COLUMNS,
    POSE_COLUMNS,
    DetectionArrays,
    P,
    derive_features,
    joint_angle,
    point_box_distance,
    speeds,
)

NAN = float("nan")


# --------------------------------------------------------------------------- joint_angle


def test_joint_angle_right_angle_is_90():
    assert joint_angle(np.array([1.0, 0.0]), np.array([0.0, 0.0]), np.array([0.0, 1.0])) == pytest.approx(90.0)


def test_joint_angle_straight_is_180_and_folded_is_0():
    a, b, c = np.array([-2.0, 0, 0]), np.array([0.0, 0, 0]), np.array([3.0, 0, 0])
    assert joint_angle(a, b, c) == pytest.approx(180.0)
    assert joint_angle(c, b, c * 2) == pytest.approx(0.0, abs=1e-6)


def test_joint_angle_45_degrees_in_3d_arrays():
    a = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 5.0]])
    b = np.zeros((2, 3))
    c = np.array([[1.0, 1.0, 0.0], [0.0, 5.0, 0.0]])
    np.testing.assert_allclose(joint_angle(a, b, c), [45.0, 90.0])


def test_joint_angle_degenerate_or_missing_is_nan():
    b = np.array([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    a = np.array([[0.0, 0.0], [1.0, 0.0], [NAN, 0.0]])  # a == b, fine, missing point
    c = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    out = joint_angle(a, b, c)
    assert math.isnan(out[0])
    assert out[1] == pytest.approx(90.0)
    assert math.isnan(out[2])


# --------------------------------------------------------------------------- speeds


def test_speeds_are_per_second_not_per_frame():
    t = np.arange(5) * 0.5
    xy = np.column_stack([np.arange(5) * 0.1, np.zeros(5)])
    out = speeds(xy, t)
    assert math.isnan(out[0])
    np.testing.assert_allclose(out[1:], 0.2)


def test_speeds_use_actual_time_steps_and_diagonal_distance():
    t = np.array([0.0, 0.5, 1.5])
    xy = np.array([[0.0, 0.0], [0.3, 0.4], [0.3, 0.9]])  # 0.5 in 0.5 s, then 0.5 in 1 s
    out = speeds(xy, t)
    np.testing.assert_allclose(out[1:], [1.0, 0.5])


def test_speeds_nan_across_missing_point():
    t = np.arange(5) * 0.1
    xy = np.column_stack([np.arange(5) * 0.01, np.zeros(5)])
    xy[2] = NAN
    out = speeds(xy, t)
    assert np.isnan(out[[0, 2, 3]]).all()
    np.testing.assert_allclose(out[[1, 4]], 0.1)


def test_speeds_single_row_is_nan():
    out = speeds(np.array([[0.1, 0.2]]), np.array([0.0]))
    assert out.shape == (1,) and math.isnan(out[0])


# --------------------------------------------------------------------------- point_box_distance


def test_point_inside_box_is_zero():
    assert point_box_distance(np.array([5.0, 5.0]), np.array([[0.0, 0.0, 10.0, 10.0]])) == 0.0


def test_point_outside_box_to_edge_and_corner():
    box = np.array([[0.0, 0.0, 10.0, 10.0]])
    assert point_box_distance(np.array([13.0, 5.0]), box) == pytest.approx(3.0)  # right edge
    assert point_box_distance(np.array([5.0, -2.0]), box) == pytest.approx(2.0)  # top edge
    assert point_box_distance(np.array([13.0, 14.0]), box) == pytest.approx(5.0)  # corner: 3-4-5


def test_point_box_distance_takes_nearest_box():
    boxes = np.array([[0.0, 0.0, 1.0, 1.0], [5.0, 5.0, 6.0, 6.0]])
    assert point_box_distance(np.array([4.0, 5.5]), boxes) == pytest.approx(1.0)


def test_point_box_distance_no_boxes_or_missing_point_is_nan():
    assert math.isnan(point_box_distance(np.array([1.0, 1.0]), np.zeros((0, 4))))
    assert math.isnan(point_box_distance(np.array([NAN, 1.0]), np.array([[0.0, 0.0, 2.0, 2.0]])))


# --------------------------------------------------------------------------- derive_features


def empty_arrays(n: int, *, t=None, width: int = 200, height: int = 100) -> DetectionArrays:
    """Nothing detected in any of n frames; tests fill in what they need (arrays are mutable)."""
    return DetectionArrays(
        t=np.arange(n) * 0.5 if t is None else np.asarray(t, np.float64),
        pose=np.full((n, 33, 4), np.nan),
        pose_world=np.full((n, 33, 3), np.nan),
        left_hand=np.full((n, 21, 3), np.nan),
        right_hand=np.full((n, 21, 3), np.nan),
        boxes=[np.zeros((0, 4)) for _ in range(n)],
        names=[[] for _ in range(n)],
        width=width,
        height=height,
    )


def put_pose(arrays: DetectionArrays, i: int, visibility: float = 0.9) -> None:
    """A whole pose in frame i: every landmark at the image centre, then a few placed."""
    arrays.pose[i, :, :2] = 0.5
    arrays.pose[i, :, 2] = 0.0
    arrays.pose[i, :, 3] = visibility
    arrays.pose_world[i] = 0.0
    arrays.pose[i, P["left_shoulder"], :2] = (0.6, 0.5)
    arrays.pose[i, P["right_shoulder"], :2] = (0.4, 0.5)
    arrays.pose[i, P["nose"], :2] = (0.5, 0.3)
    # World: right elbow bent at 90 degrees, left arm straight.
    arrays.pose_world[i, P["right_shoulder"]] = (0.0, 1.0, 0.0)
    arrays.pose_world[i, P["right_elbow"]] = (0.0, 0.0, 0.0)
    arrays.pose_world[i, P["right_wrist"]] = (1.0, 0.0, 0.0)
    arrays.pose_world[i, P["left_shoulder"]] = (0.0, 1.0, 0.0)
    arrays.pose_world[i, P["left_elbow"]] = (0.0, 0.0, 0.0)
    arrays.pose_world[i, P["left_wrist"]] = (0.0, -1.0, 0.0)


def test_derive_features_returns_every_column_as_float32():
    cols = derive_features(empty_arrays(3))
    assert list(cols) == ALL_FEATURE_COLUMNS
    for name, values in cols.items():
        assert values.shape == (3,), name
        assert values.dtype == np.float32, name


def test_missing_pose_gives_nan_angles_not_zero():
    arrays = empty_arrays(2)
    put_pose(arrays, 0)
    cols = derive_features(arrays)
    assert cols["right_elbow_angle"][0] == pytest.approx(90.0)
    assert cols["left_elbow_angle"][0] == pytest.approx(180.0)
    assert cols["pose_present"].tolist() == [1.0, 0.0]
    for name in ANGLE_COLUMNS + POSE_COLUMNS:
        assert math.isnan(cols[name][1]), name


def test_angle_nan_when_a_joint_is_not_visible():
    arrays = empty_arrays(1)
    put_pose(arrays, 0)
    arrays.pose[0, P["right_wrist"], 3] = 0.2
    cols = derive_features(arrays)
    assert math.isnan(cols["right_elbow_angle"][0])
    assert cols["left_elbow_angle"][0] == pytest.approx(180.0)


def test_pose_columns_centred_on_shoulders_in_height_units():
    # Width 200, height 100: shoulders at x 0.4/0.6 are 0.4 height units apart.
    arrays = empty_arrays(1)
    put_pose(arrays, 0)
    cols = derive_features(arrays)
    assert cols["pose_left_shoulder_x"][0] == pytest.approx(0.5)
    assert cols["pose_right_shoulder_x"][0] == pytest.approx(-0.5)
    assert cols["pose_nose_x"][0] == pytest.approx(0.0)
    assert cols["pose_nose_y"][0] == pytest.approx(-0.5)  # 0.2 height units above / 0.4


def test_hand_position_is_centre_of_landmarks_when_hand_found():
    arrays = empty_arrays(1)
    arrays.left_hand[0, :, 0] = np.linspace(0.2, 0.4, 21)  # mean 0.3
    arrays.left_hand[0, :, 1] = 0.6
    arrays.left_hand[0, :, 2] = 0.0
    cols = derive_features(arrays)
    assert cols["left_hand_present"][0] == 1.0
    assert cols["left_hand_x"][0] == pytest.approx(0.3)
    assert cols["left_hand_y"][0] == pytest.approx(0.6)
    assert math.isnan(cols["right_hand_x"][0])


def test_hand_position_falls_back_to_visible_pose_wrist():
    arrays = empty_arrays(2)
    put_pose(arrays, 0)
    put_pose(arrays, 1)
    arrays.pose[:, P["right_wrist"], :2] = (0.3, 0.7)
    arrays.pose[1, P["right_wrist"], 3] = 0.1  # not visible in frame 1
    cols = derive_features(arrays)
    assert cols["right_hand_present"].tolist() == [0.0, 0.0]
    assert cols["right_hand_x"][0] == pytest.approx(0.3)
    assert cols["right_hand_y"][0] == pytest.approx(0.7)
    assert math.isnan(cols["right_hand_x"][1]) and math.isnan(cols["right_hand_y"][1])
    # The hand's own landmarks stay missing: no zeros that look like data.
    right_landmarks = [c for c in HAND_COLUMNS if c.startswith("right_")]
    assert all(math.isnan(cols[c][0]) for c in right_landmarks)


def put_right_hand(arrays: DetectionArrays, i: int, x: float, y: float) -> None:
    arrays.right_hand[i, :, 0] = x
    arrays.right_hand[i, :, 1] = y
    arrays.right_hand[i, :, 2] = 0.0


def test_hand_object_distance_in_image_height_units_for_non_square_image():
    # 200 x 100 image: a hand at normalised (0.5, 0.5) is at pixel (100, 50) = (1.0, 0.5) heights.
    arrays = empty_arrays(5, width=200, height=100)
    for i in range(5):
        put_right_hand(arrays, i, 0.5, 0.5)
    person = [0.0, 0.0, 200.0, 100.0]  # holds the hand, must be ignored
    arrays.boxes[0] = np.array([[120.0, 40.0, 150.0, 60.0], person])  # 20 px right of the hand
    arrays.names[0] = ["cup", "person"]
    arrays.boxes[1] = np.array([person])
    arrays.names[1] = ["person"]
    arrays.boxes[2] = np.array([[90.0, 40.0, 110.0, 60.0]])  # around the hand
    arrays.names[2] = ["cup"]
    arrays.boxes[3] = np.array([[60.0, 10.0, 80.0, 30.0]])  # 20 px left and 20 px up: corner
    arrays.names[3] = ["box"]
    arrays.boxes[4] = np.array([[100.0, 70.0, 110.0, 90.0], [140.0, 40.0, 160.0, 60.0]])  # 20 px below / 40 px right
    arrays.names[4] = ["cup", "knife"]
    cols = derive_features(arrays)
    dist = cols["right_hand_obj_dist"]
    assert dist[0] == pytest.approx(0.2, abs=1e-6)
    assert math.isnan(dist[1])
    assert dist[2] == 0.0
    assert dist[3] == pytest.approx(math.hypot(0.2, 0.2), abs=1e-6)
    assert dist[4] == pytest.approx(0.2, abs=1e-6)
    assert cols["num_objects"].tolist() == [1.0, 0.0, 1.0, 1.0, 2.0]
    # No left hand and no visible left wrist: no distance even though objects are there.
    assert np.isnan(cols["left_hand_obj_dist"]).all()


def test_hand_object_distance_is_isotropic_vertically_too():
    # The same 0.2 height units straight down: 20 px at height 100.
    arrays = empty_arrays(1, width=200, height=100)
    put_right_hand(arrays, 0, 0.5, 0.5)
    arrays.boxes[0] = np.array([[90.0, 70.0, 110.0, 90.0]])
    arrays.names[0] = ["cup"]
    assert derive_features(arrays)["right_hand_obj_dist"][0] == pytest.approx(0.2, abs=1e-6)


def test_hand_speed_uses_t_and_height_units():
    # x moves 0.05 of the width per frame = 10 px = 0.1 heights, every 0.5 s -> 0.2 heights/s.
    t = [0.0, 0.5, 1.0, 2.0]
    arrays = empty_arrays(4, t=t, width=200, height=100)
    for i in range(4):
        put_right_hand(arrays, i, 0.3 + 0.05 * i, 0.5)
    speed = derive_features(arrays)["right_hand_speed"]
    assert math.isnan(speed[0])
    np.testing.assert_allclose(speed[1:], [0.2, 0.2, 0.1], rtol=1e-5)


def test_hand_speed_nan_around_a_frame_without_hand_or_wrist():
    arrays = empty_arrays(4)
    for i in (0, 1, 3):
        put_right_hand(arrays, i, 0.5, 0.5)
    speed = derive_features(arrays)["right_hand_speed"]
    assert speed[1] == pytest.approx(0.0)
    assert np.isnan(speed[[0, 2, 3]]).all()


# --------------------------------------------------------------------------- the per-frame table


def detection(pose: bool = False, right_hand: bool = False, objects: tuple = ()):
    from taskml.pipeline.detectors import FrameDetections

    kwargs = {}
    if pose:
        p = np.full((33, 4), 0.5, np.float32)
        p[P["left_shoulder"], 0], p[P["right_shoulder"], 0] = 0.6, 0.4
        kwargs["pose"] = p
        kwargs["pose_world"] = np.random.default_rng(0).normal(size=(33, 3)).astype(np.float32)
    if right_hand:
        kwargs["right_hand"] = np.full((21, 3), 0.25, np.float32)
    if objects:
        kwargs["object_names"] = tuple(name for name, _ in objects)
        kwargs["object_boxes"] = np.array([box for _, box in objects], np.float32)
        kwargs["object_confidences"] = np.full(len(objects), 0.9, np.float32)
    return FrameDetections(**kwargs)


def test_stack_detections_fills_missing_with_nan():
    from taskml.pipeline.extraction import stack_detections

    arrays = stack_detections(np.array([0.0, 0.1]), [detection(pose=True), detection(right_hand=True)], 640, 480)
    assert arrays.pose.shape == (2, 33, 4) and arrays.right_hand.shape == (2, 21, 3)
    assert not np.isnan(arrays.pose[0]).any() and np.isnan(arrays.pose[1]).all()
    assert np.isnan(arrays.right_hand[0]).all() and arrays.right_hand[1, 0, 0] == pytest.approx(0.25)
    assert np.isnan(arrays.left_hand).all()
    assert arrays.boxes[0].shape == (0, 4) and arrays.names == [[], []]
    assert (arrays.width, arrays.height) == (640, 480)


def test_detections_frame_columns_and_objects_not_looked_for_are_nan():
    import json

    from taskml.pipeline.extraction import detections_frame

    dets = [detection(pose=True, objects=(("cup", (10, 10, 20, 20)),)), detection(right_hand=True)]
    common = dict(video_id="vid", frame_index=np.array([0, 2]), t=np.array([0.0, 0.2]), detections=dets,
                  width=640, height=480)  # fmt: skip
    with_objects = detections_frame(**common, with_objects=True)
    without = detections_frame(**common, with_objects=False)
    for frame in (with_objects, without):
        assert {"video_id", "frame_index", "t", *ALL_FEATURE_COLUMNS} <= set(frame.columns)
        assert frame["frame_index"].tolist() == [0, 2]
        assert frame["video_id"].tolist() == ["vid", "vid"]
    assert with_objects["num_objects"].tolist() == [1.0, 0.0]
    assert json.loads(with_objects["yolo_objects"][0]) == ["cup"]
    assert np.isnan(without["num_objects"]).all()  # not looked for is not "found nothing"
    assert np.isnan(without["right_hand_obj_dist"]).all()
    assert without["yolo_objects"].isna().all()
    assert len(json.loads(with_objects["mp_pose_landmarks"][0])) == 33
    assert with_objects["mp_pose_landmarks"].isna().tolist() == [False, True]
    assert with_objects["pose_present"].tolist() == [1.0, 0.0]


def test_write_features_round_trip(tmp_path):
    import pandas as pd

    from taskml.pipeline.extraction import detections_frame, read_features_metadata, write_features

    frame = detections_frame(video_id="vid", frame_index=np.array([0, 1]), t=np.array([0.0, 0.1]),
                             detections=[detection(pose=True), detection()], width=64, height=48,
                             with_objects=False)  # fmt: skip
    path = tmp_path / "f.parquet"
    write_features(frame, path, {"fps": 10.0, "video_id": "vid"})
    assert read_features_metadata(path) == {"fps": 10.0, "video_id": "vid"}
    back = pd.read_parquet(path)
    assert list(back.columns) == list(frame.columns)
    np.testing.assert_array_equal(back["pose_nose_x"].to_numpy(), frame["pose_nose_x"].to_numpy())
    assert [p.name for p in tmp_path.iterdir()] == ["f.parquet"]  # no temporary file left


def clock_times(fps: float, pairs) -> list[float]:
    from taskml.pipeline.extraction import FrameClock

    clock = FrameClock(fps)
    return [clock.time_of(i, before, after) for i, (before, after) in enumerate(pairs)]


def test_frame_clock_position_after_read_is_current_frame():
    ms = 1000 / 25
    pairs = [(max(i - 1, 0) * ms, i * ms) for i in range(5)]
    np.testing.assert_allclose(clock_times(25.0, pairs), np.arange(5) / 25)


def test_frame_clock_position_after_read_is_next_frame():
    ms = 1000 / 25
    pairs = [(i * ms, (i + 1) * ms) for i in range(5)]
    np.testing.assert_allclose(clock_times(25.0, pairs), np.arange(5) / 25)


def test_frame_clock_repairs_backwards_and_missing_times():
    ms = 1000 / 10
    pairs = [(0, 0), (0, ms), (ms, 2 * ms), (2 * ms, 0.0), (0.0, float("nan"))]
    t = clock_times(10.0, pairs)
    np.testing.assert_allclose(t, [0.0, 0.1, 0.2, 0.3, 0.4])
    assert np.all(np.diff(t) > 0)
