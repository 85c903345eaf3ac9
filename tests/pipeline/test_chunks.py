"""Chunk planning and stitching (pure), and a chunked extraction against one run on real video."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from taskml.pipeline.agreement import agreement
from taskml.pipeline.chunks import Chunk, plan_chunks, stitch_chunks
from taskml.pipeline.errors import InputError
from taskml.pipeline.extraction import read_features_metadata, write_features
from tests.conftest import MEGAMIND_LABELS


def _times(seconds: float, fps: float = 24.0) -> np.ndarray:
    return np.arange(round(seconds * fps)) / fps


def test_a_video_no_longer_than_a_chunk_is_one_chunk():
    assert plan_chunks(times=_times(9), chunk_seconds=10, overlap_seconds=1) == [Chunk(0, 0, 216, 0)]
    assert plan_chunks(times=_times(9), chunk_seconds=0, overlap_seconds=1) == [Chunk(0, 0, 216, 0)]


def test_chunks_cover_every_frame_once_and_settle_one_overlap_earlier():
    chunks = plan_chunks(times=_times(13), chunk_seconds=4, overlap_seconds=1)  # 312 frames
    assert [(c.start, c.stop, c.settle) for c in chunks] == [(0, 96, 0), (96, 192, 72), (192, 312, 168)]
    assert sum(c.kept for c in chunks) == 312


def test_a_short_last_piece_joins_the_chunk_before_and_times_follow_the_clock():
    # 9 s: the piece after 8 s is 1 s, under half a chunk.
    chunks = plan_chunks(times=_times(9), chunk_seconds=4, overlap_seconds=1)
    assert [(c.start, c.stop) for c in chunks] == [(0, 96), (96, 216)]
    # A variable frame rate: boundaries fall on the clock's times, not on frame counts.
    times = np.concatenate([np.arange(0, 4, 0.1), 4 + np.arange(0, 6, 0.02)])
    chunks = plan_chunks(times=times, chunk_seconds=4, overlap_seconds=0.5)
    assert times[chunks[1].start] == pytest.approx(4.0) and times[chunks[1].settle] == pytest.approx(3.5)
    with pytest.raises(InputError):
        plan_chunks(times=np.array([]), chunk_seconds=4, overlap_seconds=1)


def _chunk_file(path, frames, metadata=None):
    frame = pd.DataFrame({"frame_index": np.asarray(frames, np.int64), "t": np.asarray(frames) / 24.0})
    frame["label"] = pd.Series([None] * len(frames), dtype="string")
    write_features(frame, path, metadata or {"frame_count": int(frames[-1]) + 1})
    return path


def test_stitching_keeps_every_frame_once_in_order(tmp_path):
    parts = [_chunk_file(tmp_path / "a.parquet", range(0, 5)), _chunk_file(tmp_path / "b.parquet", range(5, 9))]
    metadata = stitch_chunks(parts, tmp_path / "out.parquet")
    stitched = pd.read_parquet(tmp_path / "out.parquet")
    assert stitched["frame_index"].tolist() == list(range(9))
    assert metadata["frame_count"] == 9 and metadata["chunks"] == 2
    assert read_features_metadata(tmp_path / "out.parquet") == metadata


@pytest.mark.parametrize("second", [range(6, 9), range(4, 9), range(5, 9, 2)], ids=["gap", "duplicate", "skipped"])
def test_stitching_refuses_chunks_that_do_not_follow_one_another(tmp_path, second):
    parts = [_chunk_file(tmp_path / "a.parquet", range(0, 5)), _chunk_file(tmp_path / "b.parquet", second)]
    with pytest.raises(InputError, match="does not continue the frames before it"):
        stitch_chunks(parts, tmp_path / "out.parquet")
    assert not (tmp_path / "out.parquet").exists()


@pytest.mark.slow
def test_chunked_extraction_matches_one_run_frame_by_frame(megamind, tmp_path):
    """Megamind (270 frames, 11.3 s) in 4 s chunks with 1 s of settling, fusion with objects every
    2nd frame: landmarks within the agreement bar, every other column identical."""
    from taskml.pipeline.detectors import DetectorConfig
    from taskml.pipeline.extraction import extract_features, probe_video

    config = DetectorConfig(kind="fusion", object_every_k=2)
    whole = extract_features(megamind, tmp_path / "whole.parquet", config=config, labels=MEGAMIND_LABELS)
    info = probe_video(megamind)
    chunks = plan_chunks(times=info.clock.times_for(np.arange(info.frame_count)), chunk_seconds=4, overlap_seconds=1)
    assert len(chunks) == 3
    parts = []
    for chunk in chunks:
        part = tmp_path / f"chunk{chunk.index}.parquet"
        extract_features(megamind, part, config=config, labels=MEGAMIND_LABELS, frames=chunk.frames)
        parts.append(part)
    stitch_chunks(parts, tmp_path / "stitched.parquet")
    one = pd.read_parquet(whole.output)
    stitched = pd.read_parquet(tmp_path / "stitched.parquet")
    assert list(stitched.columns) == list(one.columns) and len(stitched) == len(one) == 270
    measured = agreement(one, stitched)
    assert min(measured.pose, measured.hands) >= 0.95, measured
    assert measured.objects == 1.0
    for column in ("video_id", "frame_index", "t", "label", "yolo_objects", "yolo_boxes", "yolo_confidences"):
        pd.testing.assert_series_equal(stitched[column], one[column], check_names=True)
    meta_one, meta_stitched = (
        read_features_metadata(whole.output),
        read_features_metadata(tmp_path / "stitched.parquet"),
    )
    assert {**meta_stitched, "chunks": None} == {**meta_one, "chunks": None}
