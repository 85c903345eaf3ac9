"""Videos, their label spans and the feature files extracted from them."""

from __future__ import annotations

import hashlib
import itertools
import os
import shutil
import uuid
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction

from jobs.models import Job, JobStatus
from jobs.quotas import storage_check
from jobs.services import job_cancel_if_active, job_create
from taskml import deletion, storage
from taskml.domain import Conflict, ValidationFailed, field_error
from taskml.pipeline.clock import VideoClock, probe_clock, regular_clock
from taskml.pipeline.detectors import DETECTOR_KINDS
from taskml.pipeline.errors import InputError
from taskml.pipeline.extraction import extract_features, iter_frames, probe_video, relabel_features
from taskml.pipeline.files import sha256_file
from taskml.pipeline.labels import MAX_CLASSES, FrameLabels, label_problem, parse_labels
from taskml.pipeline.objects import DEFAULT_OBJECT_MODEL
from taskml.pipeline.params import SAMPLE_RATE
from videos.chunking import chunking_applies, feature_file_extract_chunked
from videos.detectors import detector_config
from videos.models import FeatureFile, LabelSpan, Video

VIDEO_SUFFIXES = {".avi", ".mp4", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv"}


# ---------------------------------------------------------------- videos


def _store_upload(upload: UploadedFile, destination: Path) -> None:
    """Move a streamed upload into place (a rename on the same filesystem), or copy it."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = getattr(upload, "temporary_file_path", None)
    if temporary is not None:
        shutil.move(temporary(), destination)
        upload.close()  # now, so the temporary file's finaliser does not try to delete what moved
        return
    with open(destination, "wb") as out:
        for chunk in upload.chunks():
            out.write(chunk)


def _looks_like_utf16(data: bytes) -> bool:
    """A BOM, or a NUL in every other byte (ASCII text saved as UTF-16 without a BOM)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return True
    head = data[:200]
    return len(head) >= 8 and any(half.count(0) >= 0.6 * len(half) for half in (head[0::2], head[1::2]))


def labels_parse(*, data: bytes | str, source: str, field: str = "labels_csv") -> FrameLabels:
    """A labels CSV (per-frame or spans) from an upload; errors name the field and the line."""
    if isinstance(data, bytes):
        if _looks_like_utf16(data):
            raise ValidationFailed(field, f"{source} looks like UTF-16 text; save it as UTF-8 CSV")
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ValidationFailed(
                field, f"{source} is not UTF-8 text (byte {exc.start}); save it as UTF-8 CSV"
            ) from None
    try:
        return parse_labels(data, source=source)
    except InputError as exc:
        raise ValidationFailed(field, str(exc)) from None


def spans_from_labels(labels: FrameLabels) -> list[tuple[int, int, str]]:
    """Contiguous runs of frames with one label, as inclusive (start, end, label) spans."""
    spans: list[tuple[int, int, str]] = []
    for frame in sorted(labels.by_frame):
        label = labels.by_frame[frame]
        if spans and spans[-1][2] == label and spans[-1][1] == frame - 1:
            spans[-1] = (spans[-1][0], frame, label)
        else:
            spans.append((frame, frame, label))
    return spans


def video_create(
    *,
    owner,
    upload: UploadedFile | None,
    video_id: str | None = None,
    labels_upload: UploadedFile | None = None,
) -> Video:
    """Store an uploaded video after probing it, with its labels (if any) as spans."""
    if upload is None:
        raise ValidationFailed("video", "no file was uploaded")
    storage_check(owner=owner, adding=int(upload.size or 0), field="video")
    original = os.path.basename(upload.name or "video")
    if video_id is not None and video_id.strip():
        video_id = storage.check_name(video_id, field="video_id")[:200]
    else:
        video_id = Path(original).stem[:200] or "video"
    labels = None
    if labels_upload is not None:
        labels = labels_parse(data=labels_upload.read(), source=os.path.basename(labels_upload.name or "labels.csv"))

    suffix = Path(original).suffix.lower()
    suffix = suffix if suffix in VIDEO_SUFFIXES else ".video"
    incoming = storage.uploads_dir(owner.pk) / f".incoming-{uuid.uuid4().hex}{suffix}"
    _store_upload(upload, incoming)
    try:
        try:
            info = probe_video(incoming)
        except InputError:
            raise ValidationFailed("video", f"{original!r} is not a video that can be decoded") from None
        if sum(1 for _ in itertools.islice(iter_frames(info), 2)) < 2:  # FFmpeg opens a still image as a video
            raise ValidationFailed("video", f"{original!r} has a single frame (an image?); a video needs at least two")
        if labels is not None:
            try:
                labels.check_within(info.frame_count)
            except InputError as exc:
                raise ValidationFailed("labels_csv", str(exc)) from None
        digest = getattr(upload, "sha256", None) or sha256_file(incoming)  # hashed while it streamed in
        with transaction.atomic():
            video = Video.objects.create(
                owner=owner,
                video_id=video_id,
                stored_name=f".pending-{uuid.uuid4().hex}",
                original_name=original[:255],
                file="",
                sha256=digest,
                size_bytes=incoming.stat().st_size,
                fps=info.fps,
                frame_count=info.frame_count,
                duration=info.duration,
                width=info.width,
                height=info.height,
                **(clock_fields(info.clock) if info.clock is not None else {}),
            )
            video.stored_name = f"{video.pk}_{storage.safe_name(Path(original).stem, default='video')}{suffix}"
            final = storage.uploads_dir(owner.pk) / video.stored_name
            video.file = storage.relative(final)
            video.save(update_fields=["stored_name", "file"])
            if labels is not None:
                LabelSpan.objects.bulk_create(
                    LabelSpan(video=video, start_frame=s, end_frame=e, label=lab, source="csv", created_by=owner)
                    for s, e, lab in spans_from_labels(labels)
                )
            os.replace(incoming, final)
    finally:
        incoming.unlink(missing_ok=True)
    return video


def clock_fields(clock: VideoClock) -> dict:
    """The Video fields that hold a probed frame clock."""
    return {
        "nominal_fps": clock.nominal_fps or None,
        "mean_fps": clock.mean_fps,
        "variable_frame_rate": clock.variable,
        "first_timestamp": clock.first_timestamp,
        "duplicated_timestamps": clock.duplicated,
        "missing_timestamps": clock.missing,
        "clock_gaps": clock.gaps,
        "clock_timestamps": clock.to_bytes(),
    }


def video_clock(*, video: Video) -> VideoClock:
    """The video's frame clock: every seconds <-> frames conversion about this video goes through it.

    Stored on upload; a video uploaded before the clock existed is probed now (once, then stored).
    A file the demuxer cannot read falls back to ``frame / fps`` (said so by ``synthetic``).
    """
    if video.clock_timestamps:
        return VideoClock(
            timestamps=VideoClock.timestamps_from_bytes(video.clock_timestamps),
            nominal_fps=video.nominal_fps or 0.0,
            first_timestamp=video.first_timestamp,
            duplicated=video.duplicated_timestamps,
            missing=video.missing_timestamps,
        )
    try:
        clock = probe_clock(storage.absolute(video.file))
    except InputError:
        return regular_clock(video.fps, video.frame_count)
    fields = clock_fields(clock)
    Video.objects.filter(pk=video.pk).update(**fields)
    for key, value in fields.items():
        setattr(video, key, value)
    return clock


def video_frame_labels(video: Video) -> FrameLabels | None:
    spans = list(video.label_spans.order_by("start_frame", "id"))
    if not spans:
        return None
    by_frame: dict[int, str] = {}
    for span in spans:  # later edits win where spans overlap
        for frame in range(span.start_frame, span.end_frame + 1):
            by_frame[frame] = span.label
    return FrameLabels(by_frame=by_frame, source=f"labels of {video.stored_name}")


def video_labels_digest(video: Video) -> str:
    """A digest of the video's label spans as ``video_frame_labels`` reads them."""
    spans = video.label_spans.order_by("start_frame", "id").values_list("start_frame", "end_frame", "label")
    text = "\n".join(f"{start},{end},{label}" for start, end, label in spans)
    return hashlib.sha256(text.encode()).hexdigest()


def feature_files_relabel(*, video: Video) -> list[FeatureFile]:
    """Bring the label column of the video's extracted feature files in line with its label spans.

    Spans edited in the browser, accepted suggestions and CSV uploads all land in LabelSpan rows;
    the detectors' output does not change, so only the label column is rewritten (atomically),
    and only in files whose labels are out of date. Returns the files that were rewritten.
    """
    digest = video_labels_digest(video)
    stale = list(video.feature_files.filter(status=JobStatus.SUCCEEDED).exclude(labels_digest=digest))
    if not stale:
        return []
    labels = video_frame_labels(video)
    changed = []
    for feature_file in stale:
        path = storage.absolute(feature_file.path)
        try:
            result = relabel_features(path, labels)
        except InputError as exc:
            raise ValidationFailed("feature_files", f"{feature_file.filename}: {exc}") from None
        update = {"labels_digest": digest, "num_labeled": result.num_labeled, "label_distribution": result.distribution}
        if result.changed:
            update |= {"sha256": sha256_file(path), "size_bytes": path.stat().st_size}
            changed.append(feature_file)
        FeatureFile.objects.filter(pk=feature_file.pk).update(**update)
        for key, value in update.items():
            setattr(feature_file, key, value)
    return changed


@transaction.atomic
def video_delete(*, video: Video) -> None:
    """The video's row and file; Conflict while anything depends on it (taskml.deletion cascades)."""
    deletion.refuse_if_depended_on(video)
    storage.remove_on_commit(video.file)
    video.delete()


# ---------------------------------------------------------------- label spans


def _check_span(video: Video, start: int, end: int, label: str) -> str:
    label = (label or "").strip()
    if not label:
        raise ValidationFailed("label", "may not be blank")
    problem = label_problem(label)
    if problem:
        raise ValidationFailed("label", problem)
    known = set(video.label_spans.values_list("label", flat=True).distinct()[: MAX_CLASSES + 1])
    if label not in known and len(known) >= MAX_CLASSES:
        raise ValidationFailed("label", f"{video.stored_name} has {MAX_CLASSES:,} different labels already, the most")
    if start < 0:
        raise ValidationFailed("start_frame", f"{start} is negative")
    if end < start:
        raise ValidationFailed("end_frame", f"{end} is before start_frame {start}")
    if end >= video.frame_count:
        raise ValidationFailed("end_frame", f"{end} is outside the video ({video.frame_count} frames)")
    return label


def label_span_create(*, video: Video, start_frame: int, end_frame: int, label: str, source: str, user) -> LabelSpan:
    label = _check_span(video, start_frame, end_frame, label)
    if source not in LabelSpan.Source.values:
        raise ValidationFailed("source", f"{source!r} unknown; use one of {', '.join(LabelSpan.Source.values)}")
    return LabelSpan.objects.create(
        video=video, start_frame=start_frame, end_frame=end_frame, label=label, source=source, created_by=user
    )


def label_span_update(*, span: LabelSpan, **changes) -> LabelSpan:
    start = changes.get("start_frame", span.start_frame)
    end = changes.get("end_frame", span.end_frame)
    label = _check_span(span.video, start, end, changes.get("label", span.label))
    span.start_frame, span.end_frame, span.label = start, end, label
    if "source" in changes:
        if changes["source"] not in LabelSpan.Source.values:
            raise ValidationFailed("source", f"{changes['source']!r} unknown")
        span.source = changes["source"]
    span.save()
    return span


def label_span_delete(*, span: LabelSpan) -> None:
    span.delete()


@transaction.atomic
def label_span_replace_range(
    *, video: Video, start_frame: int, end_frame: int, label: str, source: str, user
) -> LabelSpan:
    """Label frames ``start_frame..end_frame`` with ``label``, replacing what they carried.

    Spans inside the range are deleted, spans reaching into it are trimmed, and a span that
    covers the whole range is split in two around it; then the new span is created.
    """
    label = _check_span(video, start_frame, end_frame, label)
    overlapping = LabelSpan.objects.select_for_update().filter(
        video=video, start_frame__lte=end_frame, end_frame__gte=start_frame
    )
    for span in overlapping:
        before = span.start_frame < start_frame
        after = span.end_frame > end_frame
        if before and after:
            LabelSpan.objects.create(
                video=video, start_frame=end_frame + 1, end_frame=span.end_frame, label=span.label,
                source=span.source, created_by=span.created_by,
            )  # fmt: skip
            span.end_frame = start_frame - 1
            span.save(update_fields=["end_frame", "updated_at"])
        elif before:
            span.end_frame = start_frame - 1
            span.save(update_fields=["end_frame", "updated_at"])
        elif after:
            span.start_frame = end_frame + 1
            span.save(update_fields=["start_frame", "updated_at"])
        else:
            span.delete()
    return label_span_create(
        video=video, start_frame=start_frame, end_frame=end_frame, label=label, source=source, user=user
    )


# ---------------------------------------------------------------- feature files


def _feature_filename(owner, video: Video) -> str:
    stem = storage.safe_name(video.video_id, default="video")
    taken = set(FeatureFile.objects.filter(owner=owner, filename__startswith=stem).values_list("filename", flat=True))
    name, n = f"{stem}_features.parquet", 2
    while name in taken:
        name, n = f"{stem}_features_{n}.parquet", n + 1
    return name


def extraction_params_check(*, detector: str, sample_rate: int) -> None:
    """Refuse an unknown detector or a bad sample rate (before anything is stored)."""
    if detector not in DETECTOR_KINDS:
        raise ValidationFailed("detector_type", f"{detector!r} unknown; choose one of {', '.join(DETECTOR_KINDS)}")
    if not isinstance(sample_rate, int):
        raise ValidationFailed("sample_rate", f"must be a positive integer, got {sample_rate!r}")
    try:
        SAMPLE_RATE.check(sample_rate)
    except InputError as exc:
        raise field_error(exc) from None


# Stored bytes per processed frame of a feature file, to check a user's storage before extracting
# (pose, hands and object columns as Parquet: about 1–2 KB a frame).
FEATURE_BYTES_PER_FRAME = 2048


def extraction_size_check(*, owner, video: Video, sample_rate: int) -> None:
    """Refuse (400 naming sample_rate) an extraction reading more than TASKML_MAX_EXTRACTION_FRAMES
    frames, and (413) one whose output would pass the owner's storage quota."""
    frames = -(-video.frame_count // sample_rate)
    limit = settings.TASKML_MAX_EXTRACTION_FRAMES
    if limit and frames > limit:
        raise ValidationFailed(
            "sample_rate",
            f"extracting {video.stored_name} would process {frames:,} frames ({video.frame_count:,} at sample_rate "
            f"{sample_rate}), over the limit of {limit:,} (TASKML_MAX_EXTRACTION_FRAMES); use a sample_rate of at "
            f"least {-(-video.frame_count // limit)}",
        )
    storage_check(owner=owner, adding=frames * FEATURE_BYTES_PER_FRAME, field="video")


def feature_file_request(
    *, owner, video: Video, detector: str = "fusion", sample_rate: int = 1, yolo_model: str | None = None
) -> FeatureFile:
    """A pending feature file for ``video`` and the extraction job that will write it."""
    extraction_params_check(detector=detector, sample_rate=sample_rate)
    extraction_size_check(owner=owner, video=video, sample_rate=sample_rate)
    for _ in range(5):  # two requests may pick the same free name at once
        try:
            with transaction.atomic():
                filename = _feature_filename(owner, video)
                feature_file = FeatureFile.objects.create(
                    owner=owner,
                    video=video,
                    filename=filename,
                    path=storage.relative(storage.features_dir(owner.pk) / filename),
                    detector=detector,
                    sample_rate=sample_rate,
                    yolo_model=(yolo_model or settings.TASKML_YOLO_MODEL or DEFAULT_OBJECT_MODEL)
                    if detector != "mediapipe"
                    else "",
                )
                job_create(
                    owner=owner,
                    kind=Job.Kind.EXTRACTION,
                    inputs={
                        "feature_file_id": feature_file.pk,
                        "video": video.stored_name,
                        "detector": detector,
                        "sample_rate": sample_rate,
                    },
                    target=feature_file,
                )
            feature_file.refresh_from_db()
            return feature_file
        except IntegrityError:
            continue
    raise Conflict("feature_file", "could not choose a free file name; try again")


def feature_file_extract(job: Job, reporter) -> dict:
    """The extraction job: run the pipeline and record what it wrote."""
    feature_file = FeatureFile.objects.select_related("video").filter(pk=job.inputs["feature_file_id"]).first()
    if feature_file is None:
        raise ValidationFailed("feature_file", "was deleted before it could be extracted")
    video = feature_file.video
    reporter.stage("extracting")
    output = storage.absolute(feature_file.path)
    labels_digest = video_labels_digest(video)
    if isinstance(job, Job) and chunking_applies(
        video=video
    ):  # long: chunks on every worker of the extraction queue, then a stitch
        summary = feature_file_extract_chunked(job=job, feature_file=feature_file, reporter=reporter)
    else:
        result = extract_features(
            storage.absolute(video.file),
            output,
            config=detector_config(kind=feature_file.detector, yolo_model=feature_file.yolo_model),
            labels=video_frame_labels(video),
            sample_rate=feature_file.sample_rate,
            video_id=video.video_id,
            progress=reporter,
        )
        summary = {
            "num_frames": result.num_frames,
            "num_labeled": result.num_labeled,
            "columns": result.columns,
            "detected": result.detected,
            "object_detector": result.object_detector,
            "seconds": result.seconds,
        }
    try:
        reporter.stage("recording", progress=1.0)
    except BaseException:  # cancelled (or past a limit) after the file was written: it leaves nothing behind
        storage.remove(feature_file.path)
        raise
    distribution: dict[str, int] = {}
    if "label" in summary["columns"]:
        labels = pq.read_table(output, columns=["label"]).column("label").to_pylist()
        distribution = dict(sorted(Counter(lab for lab in labels if lab is not None).items()))
    FeatureFile.objects.filter(pk=feature_file.pk).update(
        num_frames=summary["num_frames"],
        num_labeled=summary["num_labeled"],
        columns=summary["columns"],
        label_distribution=distribution,
        labels_digest=labels_digest,
        detected={**summary["detected"], "object_detector": summary["object_detector"]},
        sha256=sha256_file(output),
        size_bytes=output.stat().st_size,
    )
    return {
        "feature_file": feature_file.filename,
        "feature_file_id": feature_file.pk,
        "num_frames": summary["num_frames"],
        "num_labeled": summary["num_labeled"],
        "seconds": round(summary["seconds"], 3),
    }


@transaction.atomic
def feature_file_delete(*, feature_file: FeatureFile) -> None:
    """The feature file's row and file, its job stopped; Conflict while anything depends on it."""
    deletion.refuse_if_depended_on(feature_file)
    job_cancel_if_active(feature_file.job)
    storage.remove_on_commit(feature_file.path)
    feature_file.delete()
