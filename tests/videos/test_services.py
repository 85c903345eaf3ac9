"""The videos app's services and selectors on the real database, without extraction jobs:
label spans, parameter checks, which feature file is a video's newest, the detectors' settings,
and the leaf delete of a video."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from jobs.models import JobStatus
from taskml.domain import Conflict, ValidationFailed
from taskml.pipeline.labels import FrameLabels
from tests.api.factories import ready_feature_file, video_row
from tests.messages import exactly
from videos.detectors import detector_config
from videos.models import FeatureFile, LabelSpan, Video
from videos.selectors import feature_file_latest
from videos.services import (
    extraction_params_check,
    label_span_create,
    label_span_replace_range,
    label_span_update,
    spans_from_labels,
    video_delete,
    video_frame_labels,
    video_labels_digest,
)

pytestmark = pytest.mark.django_db


def test_frame_labels_become_contiguous_spans():
    labels = FrameLabels(by_frame={0: "a", 1: "a", 2: "b", 4: "b", 5: "b", 6: "a"})
    assert spans_from_labels(labels) == [(0, 1, "a"), (2, 2, "b"), (4, 5, "b"), (6, 6, "a")]


@pytest.mark.parametrize(
    ("start", "end", "label", "message"),
    [
        (0, 3, "  ", "label: may not be blank"),
        (-1, 3, "a", "start_frame: -1 is negative"),
        (5, 3, "a", "end_frame: 3 is before start_frame 5"),
        (0, 20, "a", "end_frame: 20 is outside the video (20 frames)"),
    ],
)
def test_a_span_that_does_not_fit_its_video_names_the_field(alice, start, end, label, message):
    video = video_row(alice)  # 20 frames
    with pytest.raises(ValidationFailed, match=exactly(message)):
        label_span_create(video=video, start_frame=start, end_frame=end, label=label, source="browser", user=alice)
    assert not LabelSpan.objects.exists()


def test_span_sources_and_updates_are_checked_too(alice):
    video = video_row(alice)
    with pytest.raises(
        ValidationFailed,
        match=exactly(
            "source: 'guess' unknown; use one of csv, browser, suggestion, import:csv, import:label_studio, "
            "import:cvat_images, import:boris, import:activitynet, import:mstcn"
        ),
    ):
        label_span_create(video=video, start_frame=0, end_frame=1, label="a", source="guess", user=alice)
    span = label_span_create(video=video, start_frame=0, end_frame=1, label=" a ", source="browser", user=alice)
    assert span.label == "a"
    with pytest.raises(ValidationFailed, match=exactly("end_frame: 25 is outside the video (20 frames)")):
        label_span_update(span=span, end_frame=25)
    assert label_span_update(span=span, end_frame=4, label="b").end_frame == 4
    assert LabelSpan.objects.get(pk=span.pk).label == "b"


def test_labelling_a_range_trims_splits_and_replaces_what_was_there(alice):
    video = video_row(alice)
    for start, end, label in ((0, 9, "a"), (10, 12, "b"), (13, 19, "c")):
        LabelSpan.objects.create(video=video, start_frame=start, end_frame=end, label=label, source="csv")
    label_span_replace_range(video=video, start_frame=5, end_frame=14, label="x", source="browser", user=alice)
    spans = list(video.label_spans.order_by("start_frame").values_list("start_frame", "end_frame", "label"))
    assert spans == [(0, 4, "a"), (5, 14, "x"), (15, 19, "c")]

    label_span_replace_range(video=video, start_frame=7, end_frame=8, label="y", source="browser", user=alice)
    labels = video_frame_labels(video).by_frame
    assert [labels[f] for f in range(4, 11)] == ["a", "x", "x", "y", "y", "x", "x"]  # the covering span split


def test_the_labels_digest_follows_the_spans(alice):
    video = video_row(alice)
    empty = video_labels_digest(video)
    span = LabelSpan.objects.create(video=video, start_frame=0, end_frame=3, label="a", source="csv")
    labelled = video_labels_digest(video)
    assert labelled != empty
    span.label = "b"
    span.save()
    assert video_labels_digest(video) not in (empty, labelled)


@pytest.mark.parametrize(
    ("detector", "sample_rate", "message"),
    [
        ("openpose", 1, "detector_type: 'openpose' unknown; choose one of fusion, mediapipe, yolo"),
        ("fusion", 0, "sample_rate: must be between 1 and 100,000, got 0"),
        ("fusion", 1.5, "sample_rate: must be a positive integer, got 1.5"),
    ],
)
def test_extraction_parameters_are_refused_before_anything_is_stored(detector, sample_rate, message):
    with pytest.raises(ValidationFailed, match=exactly(message)):
        extraction_params_check(detector=detector, sample_rate=sample_rate)


def test_a_videos_newest_extracted_file_of_a_detector(alice):
    video = video_row(alice)
    older = ready_feature_file(alice, video=video, name="clip_features.parquet")
    newer = ready_feature_file(alice, video=video, name="clip_features_2.parquet")
    fused = ready_feature_file(alice, video=video, name="clip_features_3.parquet")
    FeatureFile.objects.filter(pk=fused.pk).update(detector="fusion")
    failed = ready_feature_file(alice, video=video, name="clip_features_4.parquet")
    FeatureFile.objects.filter(pk=failed.pk).update(status=JobStatus.FAILED)

    assert feature_file_latest(video=video, detector="mediapipe") == newer != older
    assert feature_file_latest(video=video, detector="fusion") == fused
    assert feature_file_latest(video=video) == fused  # any detector
    assert feature_file_latest(video=video, detector="yolo") is None


def test_detectors_take_their_weights_device_and_cache_from_the_settings(settings):
    settings.TASKML_YOLO_MODEL = "weights/detector.onnx"
    settings.TASKML_DEVICE = "cuda:1"
    config = detector_config(kind="fusion")
    assert (config.kind, config.yolo_model, config.device) == ("fusion", "weights/detector.onnx", "cuda:1")
    assert Path(config.cache_dir) == Path(settings.DATA_DIR) / "cache" / "models"
    chosen = detector_config(kind="yolo", yolo_model="mine.pt", device="cpu")
    assert (chosen.yolo_model, chosen.device) == ("mine.pt", "cpu")


def test_a_video_goes_alone_with_its_file_once_committed(alice, django_capture_on_commit_callbacks):
    video = video_row(alice, name="clip")
    stored = Path(settings.DATA_DIR) / video.file
    stored.parent.mkdir(parents=True, exist_ok=True)
    stored.write_bytes(b"video")
    feature_file = ready_feature_file(alice, video=video)
    with pytest.raises(Conflict, match=exactly(
        "video: clip.avi has 1 feature file(s) (clip_features.parquet); delete them first or cascade"
    )):  # fmt: skip
        video_delete(video=video)

    FeatureFile.objects.filter(pk=feature_file.pk).delete()
    with django_capture_on_commit_callbacks(execute=True):
        video_delete(video=video)
    assert not Video.objects.exists() and not stored.exists()
