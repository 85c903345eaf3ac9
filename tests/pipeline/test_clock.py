"""The frame clock on real containers: Megamind.avi (B-frames, AVI) and synthetic PyAV clips
with a known variable frame rate and a first timestamp of 1.5 s."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from taskml.pipeline.clock import VideoClock, probe_clock, regular_clock
from taskml.pipeline.errors import InputError
from taskml.pipeline.extraction import iter_frames, probe_video
from tests.clips import VFR_START, cfr_clip, frame_number, vfr_clip, vfr_times


@pytest.fixture(scope="module")
def vfr(tmp_path_factory):
    return vfr_clip(tmp_path_factory.mktemp("clock"))


def test_megamind_clock_is_regular_and_counts_the_decoded_frames(megamind):
    clock = probe_clock(megamind)
    assert clock.frame_count == 270
    assert clock.nominal_fps == pytest.approx(23.976)
    # Frame 0 is at media time 0; the container's first pts is one frame in (B-frame reordering).
    np.testing.assert_allclose(clock.timestamps, np.arange(270) * 125 / 2997, atol=1e-9)
    assert clock.first_timestamp == pytest.approx(125 / 2997)
    facts = clock.facts()
    assert facts["variable_frame_rate"] is False and facts["irregular"] is False
    assert facts["duplicated_timestamps"] == 0 and facts["missing_timestamps"] == 0 and facts["gaps"] == 0


def test_variable_rate_and_non_zero_start_are_measured(vfr):
    clock = probe_clock(vfr)
    expected = np.round(vfr_times() * 1000) / 1000  # Matroska keeps milliseconds
    np.testing.assert_allclose(clock.timestamps, expected, atol=1e-9)
    assert clock.first_timestamp == pytest.approx(VFR_START)
    assert clock.variable and clock.irregular
    assert clock.nominal_fps == 30
    assert clock.mean_fps == pytest.approx(89 / expected[-1], rel=1e-6)
    assert clock.duration == pytest.approx(expected[-1] + (expected[-1] - expected[-2]))


def test_opencv_frames_are_the_clocks_frames(vfr):
    """Frame i that OpenCV decodes is frame i of the clock (its grey level encodes i), and the
    extraction's ``t`` is the clock's time, not i / fps. OpenCV's own frame count is wrong here."""
    info = probe_video(vfr)
    assert info.frame_count == 90
    assert cv2.VideoCapture(str(vfr)).get(cv2.CAP_PROP_FRAME_COUNT) != 90  # why the clock counts
    seen = [(i, t, frame_number(bgr)) for i, t, bgr in iter_frames(info)]
    assert len(seen) == 90
    for i, t, drawn in seen:
        assert drawn == i, f"frame {i} is the frame drawn as {drawn}"
        assert t == pytest.approx(info.clock.timestamps[i])


def test_conversions_snap_to_frames(vfr):
    clock = probe_clock(vfr)
    # 30 fps for frames 0..29 (0.967 s), then 15 fps: frame 31 starts at 1.1 s, frame 60 at 3.0 s.
    assert clock.frame_at(1.1) == 31
    assert clock.frame_at(3.0) == 60
    assert clock.frame_at(3.01) == 60
    assert clock.frames_between(1.1, 2.033) == (31, 44)
    assert clock.frames_between(1.1, 1.11) is None  # shorter than half a frame
    assert clock.seconds_of(31, 44) == pytest.approx((1.1, 2.033))
    # beyond the end: indices past the frame count (the caller refuses or drops them)
    assert clock.frame_at(clock.duration + 0.5) >= clock.frame_count
    assert clock.frames_between(3.9, clock.duration + 1)[1] >= clock.frame_count
    with pytest.raises(InputError, match="outside the video"):
        clock.start_of(90)


def test_storage_round_trip_is_exact(vfr, megamind):
    for clock in (probe_clock(vfr), probe_clock(megamind)):
        again = VideoClock.timestamps_from_bytes(clock.to_bytes())
        np.testing.assert_allclose(again, clock.timestamps, atol=1e-12)
    assert len(probe_clock(megamind).to_bytes()) < 200  # a regular clock packs to almost nothing


def test_constant_rate_clip_and_missing_frames(tmp_path):
    clock = probe_clock(cfr_clip(tmp_path, frames=50, fps=25))
    assert not clock.irregular and clock.frame_count == 50 and clock.mean_fps == pytest.approx(25)
    from tests.clips import write_clip

    dropped = np.delete(np.arange(50) / 25, [10, 11, 30])  # three frames lost
    clock = probe_clock(write_clip(tmp_path / "dropped.mkv", dropped, rate=25))
    assert clock.gaps == 3 and clock.irregular and not clock.variable


def test_regular_clock_is_marked_synthetic():
    clock = regular_clock(10, 5)
    assert clock.synthetic and clock.frame_at(0.25) == 2


def test_not_a_container(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 1000)
    with pytest.raises(InputError):
        probe_clock(junk)
