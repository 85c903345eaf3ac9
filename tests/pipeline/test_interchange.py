"""Label files in and out: exact round trips for every format through the video's own clock,
seconds landing on the frames they name (variable rate, non-zero start), misfits found, and
hostile input refused naming the line or field."""

from __future__ import annotations

import json

import pytest

from taskml.pipeline.clock import probe_clock
from taskml.pipeline.errors import InputError
from taskml.pipeline.interchange import (
    EXPORT_FORMATS,
    MAX_LABEL_FILE_BYTES,
    ExportMeta,
    ImportOptions,
    Span,
    VideoTarget,
    parse_label_file,
    write_label_file,
)
from taskml.pipeline.labels import read_labels
from tests.clips import vfr_clip
from tests.conftest import MEGAMIND_LABELS


@pytest.fixture(scope="module")
def vfr_target(tmp_path_factory):
    path = vfr_clip(tmp_path_factory.mktemp("interchange"))
    return VideoTarget(probe_clock(path), names=(path.name,), key="vfr_clip", width=64, height=48)


@pytest.fixture(scope="module")
def megamind_target(megamind):
    return VideoTarget(probe_clock(megamind), names=("Megamind.avi",), key="Megamind", width=720, height=528)


def megamind_spans() -> list[Span]:
    labels = read_labels(MEGAMIND_LABELS)
    spans: list[Span] = []
    for frame in sorted(labels.by_frame):
        label = labels.by_frame[frame]
        if spans and spans[-1].label == label and spans[-1].end == frame - 1:
            spans[-1] = Span(spans[-1].start, frame, label)
        else:
            spans.append(Span(frame, frame, label))
    return spans


VFR_SPANS = [Span(0, 9, "reach"), Span(25, 40, "grasp"), Span(41, 41, "tap"), Span(70, 89, "reach")]


def meta_for(target: VideoTarget) -> ExportMeta:
    return ExportMeta(video_id=target.key, name=target.names[0], width=target.width, height=target.height)


@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
@pytest.mark.parametrize("which", ["megamind", "vfr"])
def test_round_trip_is_exact(fmt, which, megamind_target, vfr_target):
    target, spans = (megamind_target, megamind_spans()) if which == "megamind" else (vfr_target, VFR_SPANS)
    exported = write_label_file(fmt, spans, target.clock, meta_for(target))
    parsed = parse_label_file(fmt, exported.data, target, source=exported.filename)
    assert parsed.spans == spans
    assert parsed.misfits == [] and parsed.frames_dropped == {}


BORIS_HEADER = "Observation id,Media file name,FPS,Subject,Behavior,Behavior type,Time\n"


def test_boris_seconds_land_on_the_clocks_frames(vfr_target):
    """1.1 s is frame 31 and 3.0 s frame 60 on this clock; ``t × 30`` would say 33 and 90."""
    text = BORIS_HEADER + (
        "obs,vfr_clip.mkv,30,,grasp,START,1.100\n"
        "obs,vfr_clip.mkv,30,,grasp,STOP,2.033\n"
        "obs,vfr_clip.mkv,30,,tap,POINT,3.000\n"
    )
    parsed = parse_label_file("boris", text.encode(), vfr_target)
    assert parsed.spans == [Span(31, 44, "grasp"), Span(60, 60, "tap")]
    assert parsed.misfits == []
    # ... and export gives the same seconds back (within half a frame: here exactly)
    exported = write_label_file("boris", parsed.spans, vfr_target.clock, meta_for(vfr_target)).data.decode()
    times = [float(line.split(",")[11]) for line in exported.splitlines()[1:]]
    assert times[:2] == pytest.approx([1.1, 2.033], abs=1e-9)


def test_activitynet_seconds_and_container_start(vfr_target):
    """Times are media time: 0.0 is frame 0 although the container starts at 1.5 s."""
    doc = {"database": {"vfr_clip": {"duration": 4.001, "annotations": [{"segment": [0.0, 1.1], "label": "a"}]}}}
    parsed = parse_label_file("activitynet", json.dumps(doc).encode(), vfr_target)
    assert parsed.spans == [Span(0, 30, "a")]


def test_misfits_are_named(vfr_target):
    boris = BORIS_HEADER + "obs,other.mp4,25,,grasp,START,1\nobs,other.mp4,25,,grasp,STOP,9\n"
    parsed = parse_label_file("boris", boris.encode(), vfr_target)
    fields = {m.field for m in parsed.misfits}
    assert {"Media file name", "FPS"} <= fields
    assert any("beyond the video's end" in m.message for m in parsed.misfits)
    assert parsed.frames_dropped["beyond_end"] > 0
    assert parsed.spans and parsed.spans[-1].end == 89  # with force, the part inside the video stays

    doc = {"database": {"vfr_clip": {"duration": 60, "fps": 25, "annotations": []}}}
    fields = {m.field for m in parse_label_file("activitynet", json.dumps(doc).encode(), vfr_target).misfits}
    assert fields == {"database.vfr_clip.duration", "database.vfr_clip.fps"}

    ls = [{"id": 7, "data": {"video": "/data/upload/3/ab12cd-other.mp4"}, "annotations": [{"result": []}]}]
    assert [m.field for m in parse_label_file("label_studio", json.dumps(ls).encode(), vfr_target).misfits] == [
        "data.video"
    ]


def test_label_studio_frames_count_from_one_at_the_task_rate(megamind_target):
    result = {"type": "timelinelabels", "value": {"ranges": [{"start": 1, "end": 24}], "timelinelabels": ["talk"]}}
    tasks = [
        {"id": 1, "data": {"video": "/data/upload/1/9f8e7d6c-vtest.avi"}, "annotations": [{"result": []}]},
        {"id": 2, "data": {"video": "/data/upload/1/1a2b3c4d-Megamind.avi"},
         "annotations": [{"id": 5, "result": [result], "updated_at": "2026-01-01"}],
         "predictions": [{"result": []}]},
    ]  # fmt: skip
    parsed = parse_label_file("label_studio", json.dumps(tasks).encode(), megamind_target)
    assert parsed.spans == [Span(0, 23, "talk")] and parsed.declared["tasks_skipped"] == 1
    # A project left at Label Studio's default 24 fps does not fit a 23.976 fps video ...
    parsed = parse_label_file("label_studio", json.dumps(tasks).encode(), megamind_target, ImportOptions(fps=24))
    assert [m.field for m in parsed.misfits] == ["fps"]
    # ... and forced, its frame numbers are converted through time, not taken as they are
    assert parsed.spans == [Span(0, 23, "talk")]  # 24 frames at 24 fps = 1 s = 23.976 frames
    with pytest.raises(InputError, match="no predictions"):
        parse_label_file(
            "label_studio", json.dumps(tasks[:1]).encode(), megamind_target, ImportOptions(source="predictions")
        )


def test_cvat_step_and_start_frame(megamind_target):
    xml = b"""<?xml version="1.0"?><annotations><version>1.1</version><meta><task><size>3</size>
    <start_frame>10</start_frame><frame_filter>step=5</frame_filter></task></meta>
    <image id="0" name="frame_000010.png"><tag label="a"/></image>
    <image id="1" name="frame_000015.png"><tag label="a"/></image>
    <image id="2" name="frame_000020.png"><tag label="b"/><tag label="c"/></image></annotations>"""
    parsed = parse_label_file("cvat_images", xml, megamind_target)
    assert parsed.spans == [Span(10, 19, "a")]
    assert parsed.frames_dropped == {"conflicting_labels": 5}


def test_mstcn_mapping_and_background(megamind_target):
    mapping = b"0 background\n1 pour\n2 stir\n"
    text = "0\n1\n1\n2\n0\n" + "0\n" * 10
    parsed = parse_label_file("mstcn", text.encode(), megamind_target, ImportOptions(mapping=mapping))
    assert parsed.spans == [Span(1, 2, "pour"), Span(3, 3, "stir")]
    with pytest.raises(InputError, match=r"line 2: class '7' is not in mapping.txt"):
        parse_label_file("mstcn", b"0\n7\n", megamind_target, ImportOptions(mapping=mapping))
    too_many = ("talk\n" * 300).encode()
    parsed = parse_label_file("mstcn", too_many, megamind_target)
    assert parsed.frames_dropped == {"beyond_end": 30} and parsed.misfits[0].field.endswith("line 300")


@pytest.mark.parametrize(
    ("fmt", "data", "message"),
    [
        ("cvat_images", b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><annotations/>', "refused XML"),
        ("cvat_images", b"<annotations>\n<image id='0'>\n</annotations>", "line 3: not well-formed"),
        ("label_studio", b'[{"data": {}}\n,', "line 2: not JSON"),
        (
            "activitynet",
            b'{"database": {"Megamind": {"annotations": [{"segment": [1, "x"], "label": "a"}]}}}',
            r"segment\[1\]: time 'x' is not a number",
        ),
        ("boris", (BORIS_HEADER + "o,Megamind.avi,23.976,,a,STOP,1\n").encode(), "line 2: STOP of 'a' without"),
        ("boris", (BORIS_HEADER + "o,Megamind.avi,23.976,,a,START,-1\n").encode(), "line 2 Time: time -1 is negative"),
        ("csv", b"start_frame,end_frame,label\n5,2,a\n", "line 2: end_frame 2 is before"),
        ("mstcn", b"a\n\nb\n", "line 2: empty line"),
        ("mstcn", b"\xff\xfea\x00", "UTF-16"),
        (
            "activitynet",
            b'{"database": {"Megamind": {"annotations": [{"segment": [0, 1], "label": "' + b"x" * 201 + b'"}]}}}',
            "at most 200",
        ),
    ],  # fmt: skip
)
def test_hostile_or_malformed_input_is_refused_naming_where(fmt, data, message, megamind_target):
    with pytest.raises(InputError, match=message):
        parse_label_file(fmt, data, megamind_target)


def test_size_cap_before_parsing(megamind_target):
    with pytest.raises(InputError, match="limited to"):
        parse_label_file("mstcn", b"a\n" * (MAX_LABEL_FILE_BYTES // 2 + 1), megamind_target)


def test_predictions_carry_scores(megamind_target):
    spans = [Span(0, 100, "talk", 0.75), Span(101, 269, "drink", 0.5)]
    meta = ExportMeta(video_id="Megamind", name="Megamind.avi", model_version="v3")
    ls = json.loads(write_label_file("label_studio", spans, megamind_target.clock, meta).data)
    prediction = ls[0]["predictions"][0]
    assert prediction["model_version"] == "v3" and prediction["score"] == 0.625
    assert prediction["result"][0]["value"]["ranges"] == [{"start": 1, "end": 101}]
    results = json.loads(write_label_file("activitynet", spans, megamind_target.clock, meta).data)["results"]
    assert results["Megamind"][1] == {
        "segment": [pytest.approx(101 * 125 / 2997, abs=1e-6), pytest.approx(270 * 125 / 2997, abs=1e-6)],
        "label": "drink",
        "score": 0.5,
    }


@pytest.mark.parametrize("fmt", ["csv", "label_studio", "cvat_images", "boris", "activitynet", "mstcn"])
def test_any_bytes_are_read_or_refused_never_crash(fmt, megamind_target):
    """Random and mangled input: every outcome is spans or an InputError, never another exception."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    seeds = [write_label_file(fmt, megamind_spans(), megamind_target.clock, meta_for(megamind_target)).data]

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(st.one_of(st.binary(max_size=400), st.builds(
        lambda cut, junk: seeds[0][:cut] + junk + seeds[0][cut:], st.integers(0, len(seeds[0])), st.binary(max_size=20)
    )))  # fmt: skip
    def check(data):
        try:
            parse_label_file(fmt, data, megamind_target, ImportOptions(mapping=b"0 a\n"))
        except InputError:
            pass

    check()
