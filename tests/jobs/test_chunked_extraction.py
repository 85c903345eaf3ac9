"""A long video's extraction in chunks over real workers: the stitched file against one run, a chunk
failing and retried alone, cancelling, and a worker killed mid-chunk.

Megamind (270 frames, 11.3 s) stands in for a long video: 4 s chunks with 1 s of settling make
three chunks (TASKML_CHUNK_SECONDS / TASKML_CHUNK_OVERLAP_SECONDS set for the workers).
"""

from __future__ import annotations

import pandas as pd
import pytest

from jobs.models import Job
from jobs.services import job_run
from taskml import storage
from taskml.pipeline.agreement import agreement
from taskml.pipeline.detectors import DetectorConfig
from taskml.pipeline.extraction import extract_features, read_features_metadata
from tests.jobs.conftest import extract, upload
from tests.platform import wait_for
from videos.chunking import chunk_folder
from videos.models import ExtractionChunk, FeatureFile
from videos.services import feature_file_extract

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CHUNKED = {"TASKML_CHUNK_SECONDS": "4", "TASKML_CHUNK_OVERLAP_SECONDS": "1"}


@pytest.fixture
def chunked(settings):
    settings.TASKML_CHUNK_SECONDS = 4.0
    settings.TASKML_CHUNK_OVERLAP_SECONDS = 1.0


def _terminal(job_id: int) -> Job | None:
    job = Job.objects.get(pk=job_id)
    return job if job.is_terminal else None


def _chunks(feature_file_id: int) -> list[ExtractionChunk]:
    return list(ExtractionChunk.objects.filter(feature_file_id=feature_file_id).order_by("index"))


def test_chunks_run_on_every_worker_and_stitch_to_one_run(alice, client_for, megamind, start_worker, tmp_path):
    api = client_for(alice)
    workers = [start_worker("chunks-a", **CHUNKED), start_worker("chunks-b", **CHUNKED)]
    video = upload(api, megamind, labels=True, video_id="mega")
    feature_file = extract(api, video, detector="mediapipe", sample_rate=1)
    job_id = feature_file["job"]["id"]
    seen: list[float] = []

    def done():
        seen.append(Job.objects.get(pk=job_id).progress)
        return _terminal(job_id)

    job = wait_for(done, timeout=240, interval=0.3, what="the chunked extraction")
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert seen == sorted(seen) and any(0 < p < 1 for p in seen), seen  # the chunks' sum, never backwards
    chunks = _chunks(feature_file["id"])
    assert [(c.start_frame, c.stop_frame, c.status, c.attempts) for c in chunks] == [
        (0, 96, "succeeded", 1), (96, 192, "succeeded", 1), (192, 270, "succeeded", 1)
    ]  # fmt: skip
    assert {c.worker for c in chunks} == {w.nodename for w in workers}  # the job's worker worked too
    row = FeatureFile.objects.get(pk=feature_file["id"])
    output = storage.absolute(row.path)
    assert row.status == "succeeded" and row.num_frames == 270 and row.num_labeled == 269
    assert not chunk_folder(row).exists()

    reference = tmp_path / "one.parquet"
    extract_features(megamind, reference, config=DetectorConfig(kind="mediapipe"), labels=video_frame_labels(row))
    one, stitched = pd.read_parquet(reference), pd.read_parquet(output)
    assert list(stitched.columns) == list(one.columns)
    measured = agreement(one, stitched)
    assert min(measured.pose, measured.hands) >= 0.95, measured
    for column in ("frame_index", "t", "label"):
        pd.testing.assert_series_equal(stitched[column], one[column])
    assert read_features_metadata(output)["frame_count"] == 270
    assert row.label_distribution == one["label"].value_counts().sort_index().to_dict()


def video_frame_labels(row):
    from videos.services import video_frame_labels as labels_of

    return labels_of(row.video)


def test_a_failing_chunk_is_retried_alone(alice, client_for, megamind, quiet_workers, chunked, monkeypatch):
    """The test process is the only worker: the job claims every chunk itself."""
    import videos.chunking

    api = client_for(alice)
    video = upload(api, megamind, video_id="mega")
    feature_file = extract(api, video, detector="mediapipe", sample_rate=2)
    real, calls = videos.chunking.extract_features, []

    def fails_once_on_the_middle_chunk(*args, frames, **kwargs):
        calls.append(frames.start)
        if frames.start == 96 and calls.count(96) == 1:
            raise OSError("the disk hiccuped")
        return real(*args, frames=frames, **kwargs)

    monkeypatch.setattr(videos.chunking, "extract_features", fails_once_on_the_middle_chunk)
    job = job_run(job_id=feature_file["job"]["id"], handler=feature_file_extract, worker="test@here")
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert calls == [0, 96, 96, 192] or calls == [0, 96, 192, 96]
    assert [c.attempts for c in _chunks(feature_file["id"])] == [1, 2, 1]
    assert FeatureFile.objects.get(pk=feature_file["id"]).num_frames == 135


def test_cancelling_the_job_cancels_its_chunks(alice, client_for, megamind, start_worker):
    api = client_for(alice)
    worker = start_worker("cancel", **CHUNKED)
    video = upload(api, megamind, video_id="mega")
    feature_file = extract(api, video, detector="mediapipe", sample_rate=1)
    job_id = feature_file["job"]["id"]
    try:
        wait_for(lambda: any(c.progress > 0.2 for c in _chunks(feature_file["id"])), timeout=120, what="a chunk")
    except AssertionError as exc:  # say where the job and its chunks were, and what the worker did
        chunks = [(c.index, c.status, c.progress) for c in _chunks(feature_file["id"])]
        raise AssertionError(
            f"{exc}: {Job.objects.filter(pk=job_id).values()[0]} {chunks}\n{worker.log()[-3000:]}"
        ) from None
    assert api.post(f"/api/v1/jobs/{job_id}/cancel/").status_code == 200
    job = wait_for(lambda: _terminal(job_id), timeout=60, what="the job to stop")
    assert job.status == Job.Status.CANCELLED
    chunks = _chunks(feature_file["id"])
    assert {c.status for c in chunks} == {"cancelled"}, [(c.index, c.status) for c in chunks]
    row = FeatureFile.objects.get(pk=feature_file["id"])
    assert not storage.absolute(row.path).exists() and not chunk_folder(row).exists()


def test_a_killed_worker_loses_only_its_chunk(alice, client_for, megamind, start_worker):
    api = client_for(alice)
    workers = {w.nodename: w for w in (start_worker("kill-a", **CHUNKED), start_worker("kill-b", **CHUNKED))}
    video = upload(api, megamind, video_id="mega")
    feature_file = extract(api, video, detector="mediapipe", sample_rate=1)
    job_id = feature_file["job"]["id"]

    def chunk_elsewhere():
        job = Job.objects.get(pk=job_id)
        for chunk in _chunks(feature_file["id"]):
            if chunk.status == "running" and chunk.worker != job.worker and chunk.progress > 0.2:
                return chunk
        return None

    victim = wait_for(chunk_elsewhere, timeout=120, what="a chunk running on the worker without the job")
    workers[victim.worker].kill()
    job = wait_for(lambda: _terminal(job_id), timeout=240, what="the job to finish without the killed worker")
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.attempts == 1  # the job itself never stopped
    chunks = _chunks(feature_file["id"])
    assert [c.attempts for c in chunks] == [2 if c.index == victim.index else 1 for c in chunks]
    assert {c.status for c in chunks} == {"succeeded"}
    assert FeatureFile.objects.get(pk=feature_file["id"]).num_frames == 270
