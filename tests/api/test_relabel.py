"""Edited label spans reach datasets without running the detectors again (a real worker, real MediaPipe)."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from jobs.models import Job
from taskml import storage
from tests.conftest import MEGAMIND_LABELS
from videos.models import FeatureFile, LabelSpan

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_span_edits_relabel_feature_files_when_a_dataset_is_built(celery_worker, alice, client_for, megamind):
    api = client_for(alice)
    with open(megamind, "rb") as video, open(MEGAMIND_LABELS, "rb") as labels:
        r = api.post(
            "/backend/upload_and_extract_features",
            {"video": video, "labels_csv": labels, "video_id": "mega", "detector_type": "mediapipe"},
            format="multipart",
        )
    assert r.status_code == 200, r.content
    feature_file = FeatureFile.objects.get(filename=r.json()["feature_file"])
    path = storage.absolute(feature_file.path)
    features_before = pq.read_table(path).drop(["label"])
    sha_before = feature_file.sha256

    # The last span (frames 200..269, "talking") becomes a third class in the browser.
    span = LabelSpan.objects.get(video=feature_file.video, start_frame=200)
    assert api.patch(f"/api/v1/label-spans/{span.pk}/", {"label": "waving"}, format="json").status_code == 200

    r = api.post(
        "/backend/build_task_dataset",
        {"feature_files": feature_file.filename, "window_sec": "1.0", "step_sec": "0.25",
         "train_ratio": "0.5", "val_ratio": "0.25", "test_ratio": "0.25"},
    )  # fmt: skip
    assert r.status_code == 200, r.content
    assert r.json()["labels"] == ["holding_glass", "talking", "waving"]

    feature_file.refresh_from_db()
    assert feature_file.label_distribution["waving"] > 0
    assert feature_file.sha256 != sha_before
    table = pq.read_table(path)
    assert table.drop(["label"]).equals(features_before)  # the detectors' output is untouched
    frames = table.column("frame_index").to_pylist()
    labels = table.column("label").to_pylist()
    assert {lab for f, lab in zip(frames, labels, strict=True) if f >= 200} == {"waving"}
    assert Job.objects.filter(kind=Job.Kind.EXTRACTION).count() == 1  # relabelled, not re-extracted

    # A second build with no edits in between does not rewrite the file.
    mtime = path.stat().st_mtime_ns
    r = api.post(
        "/backend/build_task_dataset",
        {"feature_files": feature_file.filename, "window_sec": "1.0", "step_sec": "0.25",
         "train_ratio": "0.5", "val_ratio": "0.25", "test_ratio": "0.25"},
    )  # fmt: skip
    assert r.status_code == 200, r.content
    assert path.stat().st_mtime_ns == mtime
