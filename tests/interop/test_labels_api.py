"""Label import/export through the API and the commands, on real Megamind.avi and a synthetic
variable-rate clip: the clock on the video, exact round trips for every format, misfits refused
naming the field with nothing applied, replace and merge."""

from __future__ import annotations

import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from taskml.pipeline.interchange import EXPORT_FORMATS
from tests.api.factories import upload
from tests.clips import vfr_clip
from tests.conftest import MEGAMIND_LABELS
from videos.models import LabelSpan

MEGAMIND_SPANS = [(1, 97, "holding_glass"), (98, 153, "talking"), (154, 199, "holding_glass"), (200, 269, "talking")]


@pytest.fixture
def api(alice, client_for):
    return client_for(alice)


@pytest.fixture
def megamind_video(api, megamind):
    response = api.post(
        "/api/v1/videos/",
        {"video": upload(megamind), "labels_csv": upload(MEGAMIND_LABELS)},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    return response.json()


@pytest.fixture
def vfr_video(api, tmp_path):
    response = api.post("/api/v1/videos/", {"video": upload(vfr_clip(tmp_path))}, format="multipart")
    assert response.status_code == 201, response.content
    return response.json()


def spans_of(video_id: int) -> list[tuple[int, int, str]]:
    return list(LabelSpan.objects.filter(video_id=video_id).order_by("start_frame").values_list(
        "start_frame", "end_frame", "label"))  # fmt: skip


def export(api, video_id: int, fmt: str) -> bytes:
    response = api.get(f"/api/v1/videos/{video_id}/labels/export/", {"format": fmt})
    assert response.status_code == 200, response.content
    assert "attachment" in response["Content-Disposition"]
    return response.content


def import_file(api, video_id: int, fmt: str, data: bytes, name: str = "labels", **fields):
    return api.post(
        f"/api/v1/videos/{video_id}/labels/import/",
        {"file": SimpleUploadedFile(name, data), "format": fmt, **fields},
        format="multipart",
    )


def test_clock_on_the_video_and_in_the_api(api, megamind_video, vfr_video):
    assert megamind_video["nominal_fps"] == pytest.approx(23.976) and megamind_video["frame_count"] == 270
    assert megamind_video["variable_frame_rate"] is False and megamind_video["clock_irregular"] is False
    assert vfr_video["variable_frame_rate"] is True and vfr_video["clock_irregular"] is True
    assert vfr_video["first_timestamp"] == pytest.approx(1.5) and vfr_video["frame_count"] == 90
    clock = api.get(f"/api/v1/videos/{vfr_video['id']}/clock/").json()
    assert clock["timestamps"][31] == pytest.approx(1.1) and len(clock["timestamps"]) == 90


@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_round_trip_through_the_api_on_megamind(fmt, api, megamind_video):
    vid = megamind_video["id"]
    assert spans_of(vid) == MEGAMIND_SPANS
    data = export(api, vid, fmt)
    LabelSpan.objects.filter(video_id=vid).delete()
    response = import_file(api, vid, fmt, data, name=f"Megamind.{fmt}")
    assert response.status_code == 200, response.content
    report = response.json()
    assert spans_of(vid) == MEGAMIND_SPANS
    assert set(LabelSpan.objects.filter(video_id=vid).values_list("source", flat=True)) == {
        f"import:{'csv' if fmt == 'csv_frames' else fmt}"
    }
    assert report["frames_labelled"] == {"holding_glass": 143, "talking": 126}
    assert report["frames_dropped"] == {} and report["forced"] == []


def test_round_trip_on_the_variable_rate_clip(api, vfr_video):
    vid = vfr_video["id"]
    boris = (
        b"Observation id,Media file name,FPS,Subject,Behavior,Behavior type,Time\n"
        b"o,vfr_clip.mkv,30,,grasp,START,1.1\no,vfr_clip.mkv,30,,grasp,STOP,2.033\n"
        b"o,vfr_clip.mkv,30,,reach,START,0\no,vfr_clip.mkv,30,,reach,STOP,0.5\n"
    )
    response = import_file(api, vid, "boris", boris, name="obs.csv")
    assert response.status_code == 200, response.content
    assert spans_of(vid) == [(0, 14, "reach"), (31, 44, "grasp")]
    expected = spans_of(vid)
    for fmt in EXPORT_FORMATS:
        data = export(api, vid, fmt)
        assert import_file(api, vid, fmt, data, name=f"vfr.{fmt}").status_code == 200
        assert spans_of(vid) == expected, fmt


def test_a_misfit_is_refused_naming_the_field_and_nothing_changes(api, megamind_video):
    vid = megamind_video["id"]
    boris = (
        b"Observation id,Media file name,FPS,Subject,Behavior,Behavior type,Time\n"
        b"o,Megamind.avi,25,,talking,START,0\no,Megamind.avi,25,,talking,STOP,20\n"
    )
    response = import_file(api, vid, "boris", boris)
    assert response.status_code == 400
    message = response.json()["file"][0]
    assert "FPS: 25 differs from the video's 23.976 fps" in message and "beyond the video's end" in message
    assert spans_of(vid) == MEGAMIND_SPANS  # nothing half-applied
    forced = import_file(api, vid, "boris", boris, force="true")
    assert forced.status_code == 200
    report = forced.json()
    assert spans_of(vid) == [(0, 269, "talking")]
    assert report["frames_dropped"]["beyond_end"] > 0 and any(f.startswith("FPS") for f in report["forced"])


def test_merge_keeps_what_the_file_does_not_touch(api, megamind_video):
    vid = megamind_video["id"]
    doc = {"database": {"Megamind": {"annotations": [{"segment": [0.0, 1.0], "label": "waving"}]}}}
    response = import_file(api, vid, "activitynet", json.dumps(doc).encode(), mode="merge")
    assert response.status_code == 200, response.content
    assert response.json()["spans_replaced"] == 1
    assert spans_of(vid) == [(0, 23, "waving"), (24, 97, "holding_glass"), *MEGAMIND_SPANS[1:]]


def test_bad_requests(api, megamind_video, bob, client_for):
    vid = megamind_video["id"]
    assert import_file(api, vid, "pdf", b"x").json()["format"]
    assert "line 2" in import_file(api, vid, "csv", b"start_frame,end_frame,label\nx,1,a\n").json()["file"][0]
    assert api.get(f"/api/v1/videos/{vid}/labels/export/", {"format": "xlsx"}).status_code == 400
    assert client_for(bob).get(f"/api/v1/videos/{vid}/labels/export/", {"format": "csv"}).status_code == 404
    assert import_file(client_for(bob), vid, "csv", b"frame_index,label\n1,a\n").status_code == 404


def test_commands(megamind_video, tmp_path):
    vid = str(megamind_video["id"])
    out = tmp_path / "mega.xml"
    call_command(
        "export_labels", "--video-id", vid, "--format", "cvat_images", "--output", str(out), stdout=io.StringIO()
    )
    LabelSpan.objects.filter(video_id=vid).delete()
    stdout = io.StringIO()
    call_command("import_labels", str(out), "--video-id", vid, "--format", "cvat_images", stdout=stdout)
    assert "4 span(s) imported from cvat_images" in stdout.getvalue()
    assert spans_of(int(vid)) == MEGAMIND_SPANS
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"database": {"Megamind": {"duration": 99, "annotations": []}}}))
    with pytest.raises(CommandError, match=r"database.Megamind.duration: 99 s differs"):
        call_command("import_labels", str(bad), "--video-id", vid, "--format", "activitynet")
    with pytest.raises(CommandError, match=r"^fps must be between 0.001 and 1000 fps, got 0$"):
        call_command("import_labels", str(bad), "--video-id", vid, "--format", "label_studio", "--fps", "0")
    with pytest.raises(CommandError, match="--video-id: no video"):
        call_command("export_labels", "--video-id", "nope", "--format", "csv")


def test_the_labellers_frames_are_found_by_timestamp(api, vfr_video):
    """OpenCV seeks by index / fps: on a variable-rate clip frame 60 would show frame 57."""
    import cv2
    import numpy as np

    from tests.clips import frame_number

    for index in (0, 31, 60, 75, 89):
        response = api.get(f"/api/v1/videos/{vfr_video['id']}/frames/{index}/", {"width": 64})
        assert response.status_code == 200
        image = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR)
        assert frame_number(image) == index
    assert "outside the video (0..89)" in api.get(f"/api/v1/videos/{vfr_video['id']}/frames/90/").json()["index"][0]
