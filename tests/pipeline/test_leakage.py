"""The leakage audit: distances of evaluation windows to training data, and recordings that
appear in more than one split."""

from __future__ import annotations

import json

import numpy as np
import pytest

from taskml.pipeline.dataset import build_dataset
from taskml.pipeline.leakage import first_frame_hash, leakage_audit
from tests.pipeline.conftest import feature_frame, small_spec, write_feature_file


def rows(video: str, starts) -> list[tuple]:
    return [(video, f"{video}.parquet", float(s), "a") for s in starts]


def test_distances_and_share():
    windows = {
        "train": rows("v1", np.arange(0, 10, 0.5)),  # 0..9.5, 2 s windows
        "val": rows("v2", [0, 1]),  # another video: no train window to be near
        "test": rows("v1", [12.0, 14.0, 20.0]),
    }
    audit = leakage_audit(windows, window_sec=2.0, sources=[])
    # gap to the nearest train window [9.5, 11.5): 0.5 s, 2.5 s, 8.5 s
    assert audit["test"]["distances"] == [0.5, 2.5, 8.5]
    assert audit["test"]["within_one_window"] == 1 and audit["test"]["share_within_one_window"] == pytest.approx(
        1 / 3, abs=1e-4
    )
    assert audit["val"]["distances"] == [None, None] and audit["val"]["with_train_in_same_video"] == 0
    assert "33% of the test windows" in audit["warning"]


def test_no_warning_for_whole_video_splits_and_duplicates_are_found():
    windows = {"train": rows("v1", [0, 1]), "val": rows("v2", [0]), "test": rows("v3", [0])}
    sources = [
        {"name": "v1.parquet", "video_id": "v1", "splits": ["train"], "source_sha256": "aa", "first_frame_hash": "f1"},
        {"name": "v2.parquet", "video_id": "v2", "splits": ["val"], "source_sha256": "bb", "first_frame_hash": "f2"},
        {"name": "v3.parquet", "video_id": "v3", "splits": ["test"], "source_sha256": "cc", "first_frame_hash": "f1"},
    ]
    audit = leakage_audit(windows, window_sec=2.0, sources=sources[:2])
    assert audit["warning"] is None and audit["duplicate_sources"] == []
    audit = leakage_audit(windows, window_sec=2.0, sources=sources)
    [duplicate] = audit["duplicate_sources"]
    assert duplicate["by"].startswith("first-frame hash") and {s["name"] for s in duplicate["sources"]} == {
        "v1.parquet", "v3.parquet"}  # fmt: skip
    assert "same recording" in audit["warning"]


def test_first_frame_hash_survives_reencoding(megamind):
    import cv2

    ok, frame = cv2.VideoCapture(str(megamind)).read()
    assert ok
    _, jpeg = cv2.imencode(".jpg", cv2.resize(frame, (360, 264)), [cv2.IMWRITE_JPEG_QUALITY, 60])
    again = cv2.imdecode(jpeg, cv2.IMREAD_COLOR)
    a, b = int(first_frame_hash(frame), 16), int(first_frame_hash(again), 16)
    assert bin(a ^ b).count("1") <= 4


def test_a_built_dataset_carries_the_audit(tmp_path):
    """One recording cut into train | val | test time blocks: the test block borders training data."""
    path = write_feature_file(tmp_path / "one.parquet", feature_frame("one", seconds=60))
    result = build_dataset([path], tmp_path / "ds", spec=small_spec())
    audit = json.loads((tmp_path / "ds" / "metadata.json").read_text())["leakage"]
    assert result.metadata.split_strategy == "temporal_blocks"
    assert audit["test"]["windows"] == result.metadata.test_size
    assert len(audit["test"]["distances"]) == audit["test"]["windows"]
    assert all(d is not None and d >= 0 for d in audit["test"]["distances"])
    assert audit["test"]["min_distance"] == min(audit["test"]["distances"])
