"""Label CSVs: both formats, tolerance of harmless noise, one-line errors that name the line."""

from __future__ import annotations

import numpy as np
import pytest

from taskml.pipeline.errors import InputError
from taskml.pipeline.labels import parse_labels, read_labels


def error_of(text: str, **kwargs) -> str:
    with pytest.raises(InputError) as info:
        parse_labels(text, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_per_frame_format():
    labels = parse_labels("frame_index,label\n0,reach\n1,reach\n4,grasp\n")
    assert labels.by_frame == {0: "reach", 1: "reach", 4: "grasp"}
    assert labels.classes == ["grasp", "reach"]
    assert len(labels) == 3
    assert labels.line_of == {0: 2, 1: 3, 4: 4}


def test_span_format_is_inclusive():
    labels = parse_labels("start_frame,end_frame,label\n0,2,reach\n5,5,grasp\n")
    assert labels.by_frame == {0: "reach", 1: "reach", 2: "reach", 5: "grasp"}
    assert labels.line_of[2] == 2 and labels.line_of[5] == 3


def test_unlabelled_frames_stay_none():
    labels = parse_labels("frame_index,label\n1,reach\n3,grasp\n")
    out = labels.for_frames(np.arange(5))
    assert out.tolist() == [None, "reach", None, "grasp", None]


def test_header_and_cell_whitespace_case_and_blank_lines_tolerated():
    text = " Frame_Index , LABEL \r\n 0 , reach \r\n\r\n   ,  \r\n2,grasp\r\n"
    labels = parse_labels(text)
    assert labels.by_frame == {0: "reach", 2: "grasp"}


def test_read_labels_strips_utf8_bom(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_bytes("\ufeffstart_frame,end_frame,label\n0,1,reach\n".encode())
    labels = read_labels(path)
    assert labels.by_frame == {0: "reach", 1: "reach"}
    assert labels.source == "labels.csv"


def test_same_label_twice_for_a_frame_is_fine():
    labels = parse_labels("start_frame,end_frame,label\n0,3,reach\n2,5,reach\n")
    assert sorted(labels.by_frame) == list(range(6))
    assert labels.line_of[2] == 2  # the first line that set it


def test_wrong_columns_names_line_1():
    message = error_of("frame,label\n0,reach\n", source="x.csv")
    assert message.startswith("x.csv line 1:")
    assert "frame_index,label" in message


def test_empty_file():
    assert "empty" in error_of("")


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("frame_index,label\n0,reach\n1.5,reach\n", 3, "not an integer"),
        ("frame_index,label\n0,reach\nabc,reach\n", 3, "not an integer"),
        ("frame_index,label\n0,reach\n1,reach\n-4,reach\n", 4, "negative"),
        ("start_frame,end_frame,label\n0,x,reach\n", 2, "not an integer"),
        ("start_frame,end_frame,label\n0,2,reach\n-1,3,grasp\n", 3, "negative"),
        ("start_frame,end_frame,label\n0,2,reach\n9,4,grasp\n", 3, "before"),
        ("frame_index,label\n0,reach\n1,  \n", 3, "empty label"),
        ("frame_index,label\n0,reach\n1,reach,extra\n", 3, "fields"),
    ],
)
def test_bad_rows_name_their_line(text, line, words):
    message = error_of(text, source="lab.csv")
    assert f"lab.csv line {line}:" in message
    assert words in message


def test_conflicting_duplicate_frame_names_both_lines():
    message = error_of("frame_index,label\n0,reach\n1,reach\n0,grasp\n", source="lab.csv")
    assert "lab.csv line 4:" in message
    assert "line 2" in message
    assert "'reach'" in message and "'grasp'" in message


def test_overlapping_spans_with_different_labels_conflict():
    message = error_of("start_frame,end_frame,label\n0,10,reach\n8,12,grasp\n")
    assert "line 3" in message and "frame 8" in message


def test_header_only_has_no_labelled_frames():
    assert "no labelled frames" in error_of("frame_index,label\n")


def test_check_within_names_the_csv_line_of_the_out_of_range_frame():
    labels = parse_labels("frame_index,label\n0,reach\n3,reach\n12,grasp\n11,grasp\n", source="lab.csv")
    labels.check_within(13)  # 0..12 all exist
    with pytest.raises(InputError) as info:
        labels.check_within(10)
    message = str(info.value)
    # Frames 12 (line 4) and 11 (line 5) are out of range; the first line is reported.
    assert message.startswith("lab.csv line 4: frame 12")
    assert "2 labelled frame(s)" in message
    assert "\n" not in message


def test_check_within_for_spans_reports_the_span_line():
    labels = parse_labels("start_frame,end_frame,label\n0,4,reach\n5,20,grasp\n", source="s.csv")
    with pytest.raises(InputError, match=r"s\.csv line 3: frame 10 "):
        labels.check_within(10)


def test_read_labels_non_utf8_is_input_error(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("frame_index,label\n0,caf\xe9\n".encode("latin-1"))
    with pytest.raises(InputError) as info:
        read_labels(path)
    assert "UTF-8" in str(info.value)
    assert "latin.csv" in str(info.value)


def test_read_labels_missing_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_labels(tmp_path / "nope.csv")


# ---------------------------------------------------------------- relabelling a features file


def _features(tmp_path, labels):
    import pandas as pd

    from tests.pipeline.conftest import write_feature_file

    frame = pd.DataFrame(
        {"video_id": pd.Series(["v"] * 6, dtype="string"), "frame_index": np.arange(0, 12, 2), "t": np.arange(6) / 5}
    )
    frame["right_elbow_angle"] = np.linspace(0, 1, 6, dtype=np.float32)
    if labels is not None:
        frame["label"] = pd.Series(labels, dtype="string")
    return write_feature_file(tmp_path / "v.parquet", frame)


def test_relabel_rewrites_only_the_label_column(tmp_path):
    import pyarrow.parquet as pq

    from taskml.pipeline.extraction import read_features_metadata, relabel_features
    from taskml.pipeline.labels import FrameLabels

    path = _features(tmp_path, ["a", "a", "a", "b", "b", None])
    before = pq.read_table(path)
    labels = FrameLabels(by_frame={f: ("reach" if f < 6 else "place") for f in range(11)}, source="spans")
    result = relabel_features(path, labels)
    after = pq.read_table(path)
    # frames 0,2,4 → reach; 6,8,10 → place (frame 10 is labelled now)
    assert after.column("label").to_pylist() == ["reach"] * 3 + ["place"] * 3
    assert (result.changed, result.num_labeled, result.distribution) == (True, 6, {"place": 3, "reach": 3})
    assert after.drop(["label"]).equals(before.drop(["label"]))
    assert read_features_metadata(path)["labels_source"] == "spans"
    assert not list(tmp_path.glob(".*.tmp"))

    mtime = path.stat().st_mtime_ns
    again = relabel_features(path, labels)
    assert again.changed is False and path.stat().st_mtime_ns == mtime  # already in line: not written


def test_relabel_adds_a_label_column_and_can_clear_it(tmp_path):
    import pyarrow.parquet as pq

    from taskml.pipeline.extraction import relabel_features
    from taskml.pipeline.labels import FrameLabels

    path = _features(tmp_path, None)
    assert relabel_features(path, None).changed is False  # no labels before, none now
    relabel_features(path, FrameLabels(by_frame={0: "a", 2: "b"}, source="spans"))
    assert pq.read_table(path).column("label").to_pylist() == ["a", "b", None, None, None, None]
    result = relabel_features(path, None)
    assert result.changed and result.num_labeled == 0
    assert pq.read_table(path).column("label").to_pylist() == [None] * 6


def test_relabel_refuses_a_file_that_is_not_features(tmp_path):
    from taskml.pipeline.extraction import relabel_features

    bogus = tmp_path / "x.parquet"
    bogus.write_bytes(b"not parquet")
    with pytest.raises(InputError, match="not a Parquet features file"):
        relabel_features(bogus, None)
