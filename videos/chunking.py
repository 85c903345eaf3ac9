"""A long video's extraction split into time chunks that every worker on the extraction queue runs.

The extraction job plans the chunks (ExtractionChunk rows, taskml/pipeline/chunks.py), sends one
``videos.extract_chunk`` task per chunk (a group) to the extraction queue, and then works itself:
it claims pending chunks like any worker, instead of idling, until every chunk is done; then it
stitches the chunks' files into its feature file (a step of the job). The job's progress is the sum
of its chunks'.

Each chunk has its own claim (one conditional UPDATE), heartbeat, attempts and outcome:

- a chunk that fails goes back to pending and is run again alone (up to TASKML_JOB_MAX_ATTEMPTS);
- a chunk whose worker went silent for TASKML_JOB_STALE_SECONDS goes back to pending (the job
  notices), so a killed worker loses only its chunk; a killed job worker's job is re-run by the
  reaper and keeps every chunk already done;
- cancelling the job cancels its chunks: a running chunk stops at its next progress report.
"""

from __future__ import annotations

import logging
import shutil
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from django.conf import settings
from django.db import close_old_connections
from django.db.models import F
from django.utils import timezone

from jobs.models import Job, JobStatus
from taskml import storage
from taskml.pipeline.chunks import plan_chunks, stitch_chunks
from taskml.pipeline.errors import Cancelled
from taskml.pipeline.extraction import FrameRange, detected_counts, extract_features
from videos.detectors import detector_config
from videos.models import ExtractionChunk, FeatureFile, Video

log = logging.getLogger(__name__)

CHUNK_TASK = "videos.extract_chunk"
CHUNK_QUEUE = "extraction"
# The stitch and the recording after it: the last part of the job's progress bar.
CHUNKS_SHARE = 0.97


def chunking_applies(*, video: Video) -> bool:
    """Whether ``video`` is extracted in chunks: longer than TASKML_CHUNK_SECONDS (0: never)."""
    seconds = settings.TASKML_CHUNK_SECONDS
    return bool(seconds) and video.duration > seconds


def chunk_folder(feature_file: FeatureFile) -> Path:
    """Where the chunks' files wait for the stitch: hidden beside the feature file."""
    output = storage.absolute(feature_file.path)
    return output.parent / f".{output.name}.chunks"


def extraction_chunks_plan(*, job: Job, feature_file: FeatureFile) -> list[ExtractionChunk]:
    """The job's chunks: planned now, or those an earlier attempt of the job (or of a job it
    retries) planned alike, where every chunk done with its file in place stays done."""
    from videos.services import video_clock

    video = feature_file.video
    clock = video_clock(video=video)
    planned = plan_chunks(
        times=clock.times_for(np.arange(clock.frame_count)),
        chunk_seconds=settings.TASKML_CHUNK_SECONDS,
        overlap_seconds=settings.TASKML_CHUNK_OVERLAP_SECONDS,
    )
    existing = {chunk.index: chunk for chunk in feature_file.chunks.all()}
    alike = sorted(existing) == [p.index for p in planned] and all(
        (existing[p.index].start_frame, existing[p.index].stop_frame, existing[p.index].settle_frame)
        == (p.start, p.stop, p.settle)
        for p in planned
    )
    folder = chunk_folder(feature_file)
    if not alike:
        feature_file.chunks.all().delete()
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)
        ExtractionChunk.objects.bulk_create(
            ExtractionChunk(
                feature_file=feature_file, job=job, index=p.index, start_frame=p.start, stop_frame=p.stop,
                settle_frame=p.settle, path=storage.relative(folder / f"chunk-{p.index:04d}.parquet"),
            )
            for p in planned
        )  # fmt: skip
        return list(feature_file.chunks.all())
    folder.mkdir(parents=True, exist_ok=True)
    stale = timezone.now() - timedelta(seconds=settings.TASKML_JOB_STALE_SECONDS)
    for chunk in existing.values():
        if chunk.status == JobStatus.SUCCEEDED and storage.absolute(chunk.path).is_file():
            continue
        if chunk.status == JobStatus.RUNNING and chunk.heartbeat_at and chunk.heartbeat_at >= stale:
            continue  # still running on a live worker: it carries on for this attempt
        fields = {"status": JobStatus.PENDING, "progress": 0.0, "error": "", "job": job}
        if chunk.job_id != job.pk:  # a new job (a retry): the chunk's attempts start again
            fields["attempts"] = 0
        ExtractionChunk.objects.filter(pk=chunk.pk, status=chunk.status, attempts=chunk.attempts).update(**fields)
    return list(feature_file.chunks.all())


def extraction_chunks_send(*, chunks: list[ExtractionChunk]) -> None:
    """One ``videos.extract_chunk`` message per pending chunk on the extraction queue (a group)."""
    from celery import group

    from taskml.celery import app

    pending = [chunk.pk for chunk in chunks if chunk.status == JobStatus.PENDING]
    if pending:
        group(app.signature(CHUNK_TASK, args=[pk], queue=CHUNK_QUEUE, immutable=True) for pk in pending).apply_async()


def extraction_chunk_claim(*, worker: str, chunk_id: int | None = None, feature_file: FeatureFile | None = None):
    """A pending chunk (``chunk_id``, or any of ``feature_file``'s) marked running for ``worker``;
    None when there is none to take (one conditional UPDATE per candidate: one claimant wins)."""
    candidates = ExtractionChunk.objects.filter(status=JobStatus.PENDING, job__cancel_requested=False)
    if chunk_id is not None:
        candidates = candidates.filter(pk=chunk_id)
    if feature_file is not None:
        candidates = candidates.filter(feature_file=feature_file)
    for pk in candidates.order_by("index").values_list("pk", flat=True)[:10]:
        now = timezone.now()
        claimed = ExtractionChunk.objects.filter(pk=pk, status=JobStatus.PENDING).update(
            status=JobStatus.RUNNING, attempts=F("attempts") + 1, worker=worker[:255], heartbeat_at=now,
            started_at=now, finished_at=None, progress=0.0, error="",
        )  # fmt: skip
        if claimed:
            return ExtractionChunk.objects.select_related("feature_file__video", "job").get(pk=pk)
    return None


def extraction_chunk_run(*, chunk: ExtractionChunk, on_progress=None, interval: float = 0.5) -> str:
    """Extract a claimed chunk into its file and record how it ended; returns its status.

    Its progress reports are its heartbeat; a report that finds the chunk no longer this attempt's
    (cancelled with its job, or given to another worker after this one was thought dead) stops it.
    """
    feature_file = chunk.feature_file
    video = feature_file.video
    mine = ExtractionChunk.objects.filter(
        pk=chunk.pk, status=JobStatus.RUNNING, attempts=chunk.attempts, job__cancel_requested=False
    )
    last = 0.0

    def progress(done: int, total: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last < interval and done < total:
            return
        last = now
        if not mine.update(progress=min(done / max(total, 1), 1.0), heartbeat_at=timezone.now()):
            raise Cancelled("the chunk was cancelled or taken over")
        if on_progress is not None:
            on_progress()

    from videos.services import video_frame_labels

    try:
        extract_features(
            storage.absolute(video.file),
            storage.absolute(chunk.path),
            config=detector_config(kind=feature_file.detector, yolo_model=feature_file.yolo_model),
            labels=video_frame_labels(video),
            sample_rate=feature_file.sample_rate,
            video_id=video.video_id,
            progress=progress,
            frames=FrameRange(start=chunk.start_frame, stop=chunk.stop_frame, settle=chunk.settle_frame),
        )
    except Cancelled:
        ExtractionChunk.objects.filter(
            pk=chunk.pk, status=JobStatus.RUNNING, attempts=chunk.attempts, job__cancel_requested=True
        ).update(status=JobStatus.CANCELLED, finished_at=timezone.now())
        return JobStatus.CANCELLED
    except Exception as exc:  # this chunk alone is run again, up to the attempts a job gets
        log.warning("chunk %s of %s failed (attempt %s): %s", chunk.index, feature_file, chunk.attempts, exc)
        retry = chunk.attempts < settings.TASKML_JOB_MAX_ATTEMPTS
        status = JobStatus.PENDING if retry else JobStatus.FAILED
        mine.update(status=status, error=f"{type(exc).__name__}: {exc}"[:2000], finished_at=timezone.now())
        if retry:
            extraction_chunks_send(chunks=[ExtractionChunk(pk=chunk.pk, status=JobStatus.PENDING)])
        return status
    if not mine.update(status=JobStatus.SUCCEEDED, progress=1.0, finished_at=timezone.now(), heartbeat_at=None):
        return JobStatus.CANCELLED
    return JobStatus.SUCCEEDED


def extraction_chunk_work(*, chunk_id: int, worker: str) -> str | None:
    """The ``videos.extract_chunk`` task: claim the chunk and run it; None when it is not ours."""
    close_old_connections()
    chunk = extraction_chunk_claim(worker=worker, chunk_id=chunk_id)
    if chunk is None:
        log.info("chunk %s is not runnable here (done, cancelled or running elsewhere)", chunk_id)
        return None
    return extraction_chunk_run(chunk=chunk)


def _requeue_stale(feature_file: FeatureFile) -> None:
    """Chunks whose worker went silent: back to pending (or failed after the attempts a job gets)."""
    stale = timezone.now() - timedelta(seconds=settings.TASKML_JOB_STALE_SECONDS)
    silent = ExtractionChunk.objects.filter(feature_file=feature_file, status=JobStatus.RUNNING, heartbeat_at__lt=stale)
    silent.filter(attempts__gte=settings.TASKML_JOB_MAX_ATTEMPTS).update(
        status=JobStatus.FAILED, error="its worker stopped while running it", finished_at=timezone.now()
    )
    for pk in silent.values_list("pk", flat=True):
        log.warning("chunk %s: its worker went silent; running it again", pk)
        ExtractionChunk.objects.filter(pk=pk, status=JobStatus.RUNNING, heartbeat_at__lt=stale).update(
            status=JobStatus.PENDING, progress=0.0
        )


def _progress(feature_file: FeatureFile) -> tuple[float, list[dict]]:
    rows = list(
        feature_file.chunks.values("index", "status", "progress", "start_frame", "stop_frame", "error", "attempts")
    )
    total = sum(r["stop_frame"] - r["start_frame"] for r in rows) or 1
    done = sum(
        (1.0 if r["status"] == JobStatus.SUCCEEDED else r["progress"]) * (r["stop_frame"] - r["start_frame"])
        for r in rows
    )
    return done / total, rows


def feature_file_extract_chunked(*, job: Job, feature_file: FeatureFile, reporter, poll: float = 0.3) -> dict:
    """The extraction job of a long video: its chunks run everywhere (here too), then the stitch.

    Returns what ``feature_file_extract`` records: the stitched file's frames, labels, detections.
    """
    started = time.perf_counter()
    chunks = extraction_chunks_plan(job=job, feature_file=feature_file)
    extraction_chunks_send(chunks=chunks)
    worker = getattr(job, "worker", "") or "job"

    def report() -> None:
        reporter.report(CHUNKS_SHARE * _progress(feature_file)[0])

    try:
        while True:
            fraction, rows = _progress(feature_file)
            reporter.report(CHUNKS_SHARE * fraction)  # raises Cancelled once the job is cancelled
            if all(r["status"] == JobStatus.SUCCEEDED for r in rows):
                break
            failed = [r for r in rows if r["status"] in (JobStatus.FAILED, JobStatus.CANCELLED)]
            if failed:
                first = failed[0]
                raise RuntimeError(
                    f"chunk {first['index']} (frames {first['start_frame']}–{first['stop_frame'] - 1}) "
                    f"{first['status']} after {first['attempts']} attempt(s): {first['error']}"
                )
            _requeue_stale(feature_file)
            chunk = extraction_chunk_claim(worker=worker, feature_file=feature_file)
            if chunk is not None:
                extraction_chunk_run(chunk=chunk, on_progress=report)
                continue
            time.sleep(poll)
    except BaseException:
        # Cancelled, failed or past a limit: the chunks still to do will not be needed.
        ExtractionChunk.objects.filter(
            feature_file=feature_file, status__in=(JobStatus.PENDING, JobStatus.RUNNING)
        ).update(status=JobStatus.CANCELLED, finished_at=timezone.now())
        shutil.rmtree(chunk_folder(feature_file), ignore_errors=True)
        raise
    reporter.stage("stitching", progress=CHUNKS_SHARE)
    output = storage.absolute(feature_file.path)
    paths = [storage.absolute(chunk.path) for chunk in feature_file.chunks.order_by("index")]
    metadata = stitch_chunks(paths, output, sample_rate=feature_file.sample_rate)
    shutil.rmtree(chunk_folder(feature_file), ignore_errors=True)
    return _summary(output, metadata, seconds=time.perf_counter() - started)


def _summary(output: Path, metadata: dict, *, seconds: float) -> dict:
    source = pq.ParquetFile(output)
    names = source.schema_arrow.names
    wanted = [
        n for n in ("pose_present", "left_hand_present", "right_hand_present", "num_objects", "label") if n in names
    ]
    table = source.read(columns=wanted).to_pandas()
    return {
        "num_frames": len(table),
        "num_labeled": int(table["label"].notna().sum()) if "label" in table else 0,
        "columns": names,
        "detected": detected_counts(table, with_objects=metadata.get("object_detector") is not None),
        "object_detector": metadata.get("object_detector"),
        "seconds": seconds,
    }
