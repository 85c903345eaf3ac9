"""Services: a video's labels in and out of other tools' files (taskml/pipeline/interchange.py).

Every import is one transaction and answers what it did; a file that does not fit the video
(another video, another frame rate, times beyond the end) is refused naming the field and the
value unless ``force`` is given.
"""

from __future__ import annotations

import numpy as np
from django.db import transaction

from taskml.domain import ValidationFailed
from taskml.pipeline.errors import InputError
from taskml.pipeline.interchange import (
    DEFAULT_BACKGROUND,
    EXPORT_FORMATS,
    IMPORT_FORMATS,
    LS_FROM_NAME,
    LS_TO_NAME,
    ExportMeta,
    ImportOptions,
    LabelFile,
    ParsedLabels,
    Span,
    VideoTarget,
    parse_label_file,
    runs_to_spans,
    write_label_file,
)
from taskml.pipeline.labels import MAX_CLASSES
from videos.models import LabelSpan, Video
from videos.services import label_span_replace_range, video_clock, video_frame_labels

IMPORT_MODES = ("replace", "merge")


def label_target(*, video: Video) -> VideoTarget:
    names = tuple(n for n in (video.original_name, video.stored_name) if n)
    return VideoTarget(clock=video_clock(video=video), names=names, key=video.video_id, width=video.width,
                       height=video.height)  # fmt: skip


def source_for(fmt: str) -> str:
    return f"import:{'csv' if fmt == 'csv_frames' else fmt}"


def labels_parse_file(
    *, video: Video, fmt: str, data: bytes, filename: str = "labels", options: ImportOptions | None = None
) -> ParsedLabels:
    if fmt not in IMPORT_FORMATS:
        raise ValidationFailed("format", f"{fmt!r} unknown; use one of {', '.join(IMPORT_FORMATS)}")
    try:
        return parse_label_file(fmt, data, label_target(video=video), options, source=filename)
    except InputError as exc:
        raise ValidationFailed("file", str(exc)) from None


def labels_import(
    *,
    video: Video,
    user,
    fmt: str,
    data: bytes,
    filename: str = "labels",
    mode: str = "replace",
    force: bool = False,
    options: ImportOptions | None = None,
) -> dict:
    """Import a label file as the video's label spans (``source = import:<format>``).

    ``replace`` deletes the video's spans first; ``merge`` lets the imported spans replace what
    their frames carried and keeps the rest. Returns the report of what was done.
    """
    if mode not in IMPORT_MODES:
        raise ValidationFailed("mode", f"{mode!r} unknown; use replace or merge")
    parsed = labels_parse_file(video=video, fmt=fmt, data=data, filename=filename, options=options)
    if parsed.misfits and not force:
        raise ValidationFailed(
            "file",
            f"{filename} does not fit video {video.stored_name}: "
            + "; ".join(str(m) for m in parsed.misfits[:5])
            + " (force=true imports it anyway, dropping what does not fit)",
        )
    if not parsed.spans:
        raise ValidationFailed("file", f"{filename}: no labelled frame of this video in it")
    classes = {s.label for s in parsed.spans}
    if mode == "merge":
        classes |= set(video.label_spans.values_list("label", flat=True).distinct()[: MAX_CLASSES + 1])
    if len(classes) > MAX_CLASSES:
        raise ValidationFailed(
            "file", f"{filename}: the video would have {len(classes):,} different labels; at most {MAX_CLASSES:,}"
        )
    source = source_for(fmt)
    with transaction.atomic():
        Video.objects.select_for_update().filter(pk=video.pk).first()  # one import at a time per video
        removed = 0
        if mode == "replace":
            removed, _ = LabelSpan.objects.filter(video=video).delete()
            LabelSpan.objects.bulk_create(
                LabelSpan(video=video, start_frame=s.start, end_frame=s.end, label=s.label, source=source,
                          created_by=user)
                for s in parsed.spans
            )  # fmt: skip
        else:
            existing = list(LabelSpan.objects.filter(video=video).values_list("start_frame", "end_frame"))
            removed = sum(any(a <= s.end and s.start <= b for s in parsed.spans) for a, b in existing)
            for s in parsed.spans:
                label_span_replace_range(
                    video=video, start_frame=s.start, end_frame=s.end, label=s.label, source=source, user=user
                )
    return {
        "video": video.pk,
        "format": fmt,
        "mode": mode,
        "source": source,
        "spans_created": len(parsed.spans),
        "spans_replaced": removed,  # existing spans deleted (replace) or trimmed/split/deleted (merge)
        "frames_labelled": parsed.frames_labelled,
        "frames_dropped": parsed.frames_dropped,
        "forced": [str(m) for m in parsed.misfits],
        "notes": parsed.notes,
        "declared": parsed.declared,
        "clock": label_target(video=video).clock.facts(),
    }


def video_spans(*, video: Video) -> list[Span]:
    """The video's labels as non-overlapping spans (later edits win where spans overlap)."""
    labels = video_frame_labels(video)
    if labels is None:
        return []
    names = sorted(set(labels.by_frame.values()))
    index = {name: i for i, name in enumerate(names)}
    codes = np.full(video.frame_count, -1, np.int64)
    for frame, label in labels.by_frame.items():
        if frame < video.frame_count:
            codes[frame] = index[label]
    return runs_to_spans(codes, names)


def export_meta(*, video: Video, url: str = "", **extra) -> ExportMeta:
    return ExportMeta(video_id=video.video_id, name=video.original_name or video.stored_name, url=url,
                      width=video.width, height=video.height, **extra)  # fmt: skip


def labels_export(
    *,
    video: Video,
    fmt: str,
    url: str = "",
    from_name: str = LS_FROM_NAME,
    to_name: str = LS_TO_NAME,
    background: str = DEFAULT_BACKGROUND,
) -> LabelFile:
    """The video's label spans as a file of format ``fmt`` (times through the video's clock)."""
    if fmt not in EXPORT_FORMATS:
        raise ValidationFailed("format", f"{fmt!r} unknown; use one of {', '.join(EXPORT_FORMATS)}")
    spans = video_spans(video=video)
    meta = export_meta(video=video, url=url, from_name=from_name, to_name=to_name, background=background)
    try:
        return write_label_file(fmt, spans, label_target(video=video).clock, meta)
    except InputError as exc:
        raise ValidationFailed("background" if fmt == "mstcn" else "format", str(exc)) from None
