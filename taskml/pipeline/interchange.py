"""Label files in and out of the tools people label in.

Formats (``FORMATS``): ``csv`` (spans ``start_frame,end_frame,label``; the per-frame
``frame_index,label`` layout is read too), ``csv_frames`` (per-frame), ``label_studio``
(JSON tasks with ``timelinelabels`` results), ``cvat_images`` (CVAT for images 1.1 XML,
``<tag>`` per frame), ``boris`` (BORIS events or aggregated CSV/TSV, times in seconds),
``activitynet`` (``database.<key>.annotations[].segment`` in seconds) and ``mstcn`` (one
class name per line per frame).

Every time in a file becomes frames, and every frame becomes a time, through the video's
``VideoClock`` — never ``t × fps``. Parsers are hostile-input safe: a size cap before parsing,
defusedxml for XML, refusals that name the line or the field and the value. What a parser
finds that does not fit the video (another video, another frame rate, times beyond the end)
is returned as ``misfits``: the caller refuses the file unless forced.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from xml.etree import ElementTree as ET  # noqa: S405  (writing only; parsing goes through defusedxml)

import numpy as np
from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

from .clock import VideoClock, fps_mismatch
from .errors import InputError
from .labels import label_problem, parse_labels
from .params import Param

IMPORT_FORMATS = ("csv", "csv_frames", "label_studio", "cvat_images", "boris", "activitynet", "mstcn")
EXPORT_FORMATS = IMPORT_FORMATS
PREDICTION_FORMATS = ("csv", "csv_frames", "activitynet", "label_studio")
MAX_LABEL_FILE_BYTES = 32 * 1024 * 1024
DEFAULT_BACKGROUND = "background"
LS_FROM_NAME, LS_TO_NAME = "videoLabels", "video"


@dataclass(frozen=True)
class Span:
    """Frames ``start..end`` (inclusive) carry ``label``; ``score`` for predictions."""

    start: int
    end: int
    label: str
    score: float | None = None


@dataclass(frozen=True)
class VideoTarget:
    """The video a file must fit: its clock and the names it is known by."""

    clock: VideoClock
    names: tuple[str, ...] = ()  # file names (original, stored)
    key: str = ""  # video_id: ActivityNet key, CVAT task name
    width: int = 0
    height: int = 0


LABEL_FPS = Param(
    "fps", None, 0.001, 1000.0, float, "label_studio: the frame rate its frame numbers count at", "fps", nullable=True
)


@dataclass(frozen=True)
class ImportOptions:
    key: str | None = None  # activitynet: the database key; label_studio: the task's file name
    fps: float | None = None  # label_studio: the frame rate its frame numbers count at (LABEL_FPS)
    source: str = "annotations"  # label_studio: annotations | predictions
    background: str = DEFAULT_BACKGROUND  # mstcn: the class that means "no task"
    mapping: bytes | None = None  # mstcn: mapping.txt ("<index> <class>" per line)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fps", LABEL_FPS.check(self.fps))


@dataclass(frozen=True)
class Misfit:
    """Something in the file that does not fit the video: ``field`` names where, ``message`` what."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


@dataclass
class ParsedLabels:
    format: str
    spans: list[Span]
    frames_dropped: dict[str, int] = field(default_factory=dict)
    misfits: list[Misfit] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    declared: dict = field(default_factory=dict)

    @property
    def frames_labelled(self) -> dict[str, int]:
        counts: Counter[str] = Counter()
        for span in self.spans:
            counts[span.label] += span.end - span.start + 1
        return dict(sorted(counts.items()))


@dataclass(frozen=True)
class _Raw:
    """A span as the file states it, before it is fitted to the video; ``where`` for messages."""

    start: int
    end: int
    label: str
    where: str


# ------------------------------------------------------------------ reading


def parse_label_file(
    fmt: str, data: bytes, target: VideoTarget, options: ImportOptions | None = None, *, source: str = "labels"
) -> ParsedLabels:
    """Read a label file of format ``fmt`` for ``target``.

    Parameters
    ----------
    fmt : str
        One of the import formats (csv, Label Studio, CVAT, BORIS, ActivityNet, MS-TCN...).
    data : bytes
        The file's content (size-capped by the caller; XML read with defusedxml).
    target : VideoTarget
        The video the labels are for (its clock, its names).
    options : ImportOptions, optional
    source : str
        The file's name, for messages.

    Returns
    -------
    ParsedLabels
        Spans in frames, and what does not fit the video in ``misfits``.

    Raises
    ------
    InputError
        Malformed input, naming the line or field.
    """
    options = options or ImportOptions()
    if fmt not in IMPORT_FORMATS:
        raise InputError(f"format {fmt!r} unknown; use one of {', '.join(IMPORT_FORMATS)}")
    if len(data) > MAX_LABEL_FILE_BYTES:
        raise InputError(f"{source} is {len(data):,} bytes; label files are limited to {MAX_LABEL_FILE_BYTES:,}")
    reader = _READERS[fmt]
    parsed = ParsedLabels(format=fmt, spans=[])
    raws = reader(data, target, options, parsed, source)
    _fit(raws, target.clock.frame_count, parsed)
    return parsed


def _text(data: bytes, source: str) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(f"{source} is UTF-16 text; save it as UTF-8")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{source} is not UTF-8 text (byte {exc.start}); save it as UTF-8") from None


def _label(value, where: str) -> str:
    if not isinstance(value, str):
        raise InputError(f"{where}: label {value!r} is not text")
    label = value.strip()
    problem = label_problem(label)  # the one rule for class names (labels.py)
    if problem:
        raise InputError(f"{where}: {problem}")
    return label


def _number(value, where: str, *, what: str = "time") -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{where}: {what} {value!r} is not a number") from None
    if not math.isfinite(number):
        raise InputError(f"{where}: {what} {value!r} is not a finite number")
    if number < 0:
        raise InputError(f"{where}: {what} {number:g} is negative")
    return number


def _fit(raws: list[_Raw], frame_count: int, parsed: ParsedLabels) -> None:
    """Spans → one label per frame: frames past the end and frames two labels claim are dropped."""
    codes = np.full(frame_count, -1, np.int64)
    conflict = np.zeros(frame_count, bool)
    labels: list[str] = []
    index: dict[str, int] = {}
    beyond = 0
    first_beyond: _Raw | None = None
    for raw in raws:
        if raw.end >= frame_count:
            beyond += raw.end - max(raw.start, frame_count) + 1
            first_beyond = first_beyond or raw
        a, b = raw.start, min(raw.end, frame_count - 1)
        if b < a:
            continue
        code = index.setdefault(raw.label, len(index))
        if code == len(labels):
            labels.append(raw.label)
        segment = codes[a : b + 1]
        conflict[a : b + 1] |= (segment >= 0) & (segment != code)
        segment[segment < 0] = code
    if first_beyond is not None:
        parsed.misfits.append(
            Misfit(
                first_beyond.where,
                f"frame {first_beyond.end} is beyond the video's end ({frame_count} frames, 0..{frame_count - 1}); "
                f"{beyond} frame(s) beyond the end in all",
            )
        )
        parsed.frames_dropped["beyond_end"] = parsed.frames_dropped.get("beyond_end", 0) + beyond
    if conflict.any():
        parsed.frames_dropped["conflicting_labels"] = int(conflict.sum())
        codes[conflict] = -1
    parsed.spans = runs_to_spans(codes, labels)


def runs_to_spans(codes: np.ndarray, labels: list[str]) -> list[Span]:
    """Consecutive frames with one code (-1: unlabelled) as spans."""
    spans: list[Span] = []
    if not len(codes):
        return spans
    change = np.flatnonzero(np.diff(codes)) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change - 1, [len(codes) - 1]])
    for a, b in zip(starts, ends, strict=True):
        if codes[a] >= 0:
            spans.append(Span(int(a), int(b), labels[int(codes[a])]))
    return spans


def file_names_match(name: str, names) -> bool:
    """A file name (or URL) in a label file names one of ``names`` (Label Studio prefixes its
    uploads with ``<hash>-``)."""
    base = os.path.basename(urllib.parse.unquote(urllib.parse.urlparse(name).path or name)).strip()
    if not base:
        return False
    return any(known and (base == known or base.endswith("-" + known) or known.endswith("-" + base)) for known in names)


def _names_match(name: str, target: VideoTarget) -> bool:
    return file_names_match(name, target.names)


# ---- csv


def _read_csv(data, target, options, parsed, source) -> list[_Raw]:
    labels = parse_labels(_text(data, source), source=source)  # strict: conflicts and bad frames name the line
    raws = []
    for start, end, label in _label_runs(labels.by_frame):
        raws.append(_Raw(start, end, _label(label, f"{source} line {labels.line_of.get(start, '?')}"),
                         f"{source} line {labels.line_of.get(end, labels.line_of.get(start, '?'))}"))  # fmt: skip
    return raws


def _label_runs(by_frame: dict[int, str]) -> list[tuple[int, int, str]]:
    runs: list[tuple[int, int, str]] = []
    for frame in sorted(by_frame):
        label = by_frame[frame]
        if runs and runs[-1][2] == label and runs[-1][1] == frame - 1:
            runs[-1] = (runs[-1][0], frame, label)
        else:
            runs.append((frame, frame, label))
    return runs


# ---- label studio


def _read_label_studio(data, target, options, parsed, source) -> list[_Raw]:
    try:
        document = json.loads(_text(data, source))
    except json.JSONDecodeError as exc:
        raise InputError(f"{source} line {exc.lineno}: not JSON ({exc.msg})") from None
    tasks = document if isinstance(document, list) else [document]
    if not tasks or not all(isinstance(t, dict) for t in tasks):
        raise InputError(f"{source}: expected a Label Studio task or a list of tasks")
    kind = "predictions" if options.source == "predictions" else "annotations"

    def video_of(task: dict) -> str:
        data_ = task.get("data") if isinstance(task.get("data"), dict) else {}
        value = data_.get("video") or next((v for v in data_.values() if isinstance(v, str) and "." in v), "")
        return value if isinstance(value, str) else ""

    wanted = VideoTarget(target.clock, (options.key,), target.key) if options.key else target
    matching = [i for i, t in enumerate(tasks) if _names_match(video_of(t), wanted)]
    if matching:
        chosen = matching[0]
        if len(matching) > 1:
            parsed.notes.append(f"{len(matching)} tasks name this video; task {tasks[chosen].get('id', chosen)} used")
    elif len(tasks) == 1:
        chosen = 0
        name = video_of(tasks[0])
        if name:
            parsed.misfits.append(
                Misfit("data.video", f"{name!r} is not this video ({', '.join(n for n in target.names if n)})")
            )
    else:
        names = ", ".join(sorted({os.path.basename(video_of(t)) or "?" for t in tasks})[:5])
        ours = target.names[0] if target.names else "this video"
        raise InputError(
            f"{source} data.video: none of the {len(tasks)} tasks is for {ours} "
            f"(tasks for {names}); pass key=<file name> to pick one"
        )
    parsed.declared["tasks_skipped"] = len(tasks) - 1
    task = tasks[chosen]
    where_task = f"task {task.get('id', chosen)}"
    candidates = [a for a in (task.get(kind) or []) if isinstance(a, dict) and not a.get("was_cancelled")]
    if not candidates:
        raise InputError(f"{source} {where_task}: no {kind} (use source=predictions for pre-annotations)")
    # Several annotators: the most recently updated annotation wins (the one Label Studio shows first).
    item = max(
        candidates,
        key=lambda a: (
            str(a.get("updated_at") or a.get("created_at") or ""),
            a["id"] if isinstance(a.get("id"), int) else -1,
        ),
    )
    if len(candidates) > 1:
        parsed.notes.append(f"{len(candidates)} {kind} on {where_task}; the latest ({item.get('id')}) used")
    task_data = task.get("data") if isinstance(task.get("data"), dict) else {}
    declared = options.fps or task_data.get("fps") or task_data.get("frameRate")
    clock = target.clock
    if declared is not None:
        rate = _number(declared, f"{where_task} fps", what="frame rate")
        parsed.declared["fps"] = rate
        if rate <= 0:
            raise InputError(f"{source} {where_task}: frame rate {rate:g} must be positive")
        if fps_mismatch(rate, clock):
            parsed.misfits.append(
                Misfit("fps", f"{rate:g} differs from the video's {clock.nominal_fps:g} fps by more than 0.1 %")
            )
    else:
        rate = clock.nominal_fps or clock.mean_fps
    raws: list[_Raw] = []
    results = item.get("result") or []
    if not isinstance(results, list):
        raise InputError(f"{source} {where_task}: result is not a list")
    for n, result in enumerate(results):
        where = f"{where_task} result[{n}]"
        if not isinstance(result, dict) or result.get("type") != "timelinelabels":
            continue
        value = result.get("value") if isinstance(result.get("value"), dict) else {}
        names = value.get("timelinelabels") or []
        if not isinstance(names, list) or len(names) != 1:
            raise InputError(f"{source} {where}: value.timelinelabels must hold one label, got {names!r}")
        label = _label(names[0], where)
        ranges = value.get("ranges")
        if not isinstance(ranges, list):
            raise InputError(f"{source} {where}: value.ranges is not a list")
        for k, frame_range in enumerate(ranges):
            w = f"{where} value.ranges[{k}]"
            if not isinstance(frame_range, dict):
                raise InputError(f"{source} {w}: not an object")
            start = _number(frame_range.get("start"), f"{source} {w}.start", what="frame")
            end = _number(frame_range.get("end"), f"{source} {w}.end", what="frame")
            if start < 1 or end < start:
                raise InputError(f"{source} {w}: frames {start:g}..{end:g} (Label Studio counts from 1, end ≥ start)")
            # Label Studio frame n is shown from (n - 1) / frameRate: through the clock, not n - 1.
            span = clock.frames_between((start - 1) / rate, end / rate)
            if span is not None:
                raws.append(_Raw(span[0], span[1], label, f"{w}.end"))
    return raws


# ---- cvat for images


def _read_cvat(data, target, options, parsed, source) -> list[_Raw]:
    try:
        root = SafeET.fromstring(data, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise InputError(f"{source}: refused XML ({type(exc).__name__}: entities and DTDs are not read)") from None
    except SafeET.ParseError as exc:
        line = getattr(exc, "position", ("?",))[0]
        raise InputError(f"{source} line {line}: not well-formed XML ({exc})") from None
    if root.tag != "annotations":
        raise InputError(f"{source}: root element <{root.tag}>; CVAT for images 1.1 has <annotations>")
    meta = root.find("meta")
    task = None
    if meta is not None:
        task = meta.find("task") if meta.find("task") is not None else meta.find("job")
    start_frame, step = 0, 1
    if task is not None:
        text = (task.findtext("start_frame") or "0").strip()
        try:
            start_frame = int(text)
        except ValueError:
            raise InputError(f"{source} meta/task/start_frame: {text!r} is not an integer") from None
        if start_frame < 0:
            raise InputError(f"{source} meta/task/start_frame: {start_frame} is negative")
        frame_filter = (task.findtext("frame_filter") or "").strip()
        match = re.search(r"step\s*=\s*(\d+)", frame_filter)
        if frame_filter and not match:
            raise InputError(f"{source} meta/task/frame_filter: {frame_filter!r} not understood (expected step=N)")
        step = max(int(match.group(1)), 1) if match else 1
    media = ""
    if meta is not None:
        media = (meta.findtext("source") or (task.findtext("source") if task is not None else "") or "").strip()
    if media and not _names_match(media, target):
        parsed.misfits.append(Misfit("meta/source", f"{media!r} is not this video"))
    parsed.declared.update(start_frame=start_frame, step=step, source=media or None)
    raws = []
    for image in root.iter("image"):
        where = f"{source} <image id={image.get('id')!r}>"
        try:
            image_id = int(image.get("id", ""))
        except ValueError:
            raise InputError(f"{where}: id is not an integer") from None
        if image_id < 0:
            raise InputError(f"{where}: id is negative")
        frame = start_frame + image_id * step
        for tag in image.findall("tag"):
            label = _label(tag.get("label"), where)
            raws.append(_Raw(frame, frame + step - 1, label, where))
    return raws


# ---- boris


_BORIS_TIME = ("time",)
_BORIS_START, _BORIS_STOP = ("start (s)", "start"), ("stop (s)", "stop")


def _read_boris(data, target, options, parsed, source) -> list[_Raw]:
    try:
        return _read_boris_rows(data, target, options, parsed, source)
    except csv.Error as exc:
        raise InputError(f"{source}: not a CSV file ({exc})") from None


def _read_boris_rows(data, target, options, parsed, source) -> list[_Raw]:
    text = _text(data, source)
    lines = text.splitlines()
    header_at = None
    for i, line in enumerate(lines[:200]):
        lower = line.lower()
        if "behavior" in lower and ("time" in lower or "start (s)" in lower):
            header_at = i
            break
    if header_at is None:
        raise InputError(
            f"{source}: no BORIS header (a row with Behavior and Time, or Start (s)) in the first 200 lines"
        )
    delimiter = "\t" if lines[header_at].count("\t") > lines[header_at].count(",") else ","
    reader = csv.reader(io.StringIO("\n".join(lines[header_at:])), delimiter=delimiter)
    header = [h.strip().lower() for h in next(reader)]

    def column(*names: str) -> int | None:
        for name in names:
            if name in header:
                return header.index(name)
        return None

    c_behavior, c_type = column("behavior"), column("behavior type", "status")
    c_time, c_start, c_stop = column(*_BORIS_TIME), column(*_BORIS_START), column(*_BORIS_STOP)
    c_fps, c_media = column("fps"), column("media file name", "media file path", "media file")
    c_subject = column("subject")
    if c_behavior is None or (c_time is None and c_start is None):
        raise InputError(f"{source} line {header_at + 1}: needs the columns Behavior and Time (or Start (s), Stop (s))")
    rows = []
    for n, row in enumerate(reader, start=header_at + 2):
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) < len(header):
            raise InputError(f"{source} line {n}: {len(row)} fields, expected {len(header)}")
        rows.append((n, row))
    media_names = {row[c_media].strip() for _, row in rows if c_media is not None and row[c_media].strip()}
    ours = {m for m in media_names if _names_match(m, target)}
    if media_names and not ours:
        parsed.misfits.append(Misfit("Media file name", f"{', '.join(sorted(media_names)[:3])!r} is not this video"))
    elif ours and len(media_names) > len(ours):
        parsed.notes.append(f"rows for other media files skipped: {', '.join(sorted(media_names - ours)[:5])}")
    clock = target.clock
    raws: list[_Raw] = []
    open_states: dict[tuple[str, str], tuple[float, int]] = {}
    fps_checked = False
    skipped_rows = 0
    for n, row in rows:
        where = f"{source} line {n}"
        if ours and c_media is not None and row[c_media].strip() not in ours:
            skipped_rows += 1
            continue
        if c_fps is not None and not fps_checked:
            raw_fps = row[c_fps].strip().split(";")[0]
            if raw_fps and raw_fps.upper() != "NA":
                rate = _number(raw_fps, f"{where} FPS", what="frame rate")
                parsed.declared["fps"] = rate
                if rate > 0 and fps_mismatch(rate, clock):
                    parsed.misfits.append(
                        Misfit("FPS", f"{rate:g} differs from the video's {clock.nominal_fps:g} fps by more than 0.1 %")
                    )
                fps_checked = True
        label = _label(row[c_behavior], where)
        kind = row[c_type].strip().upper() if c_type is not None else ""
        subject = row[c_subject].strip() if c_subject is not None else ""
        if c_time is not None and kind in ("START", "STOP", "POINT"):
            t = _number(row[c_time], f"{where} Time")
            if kind == "POINT":
                frame = clock.frame_at(t)
                raws.append(_Raw(frame, frame, label, f"{where} Time"))
            elif kind == "START":
                if (subject, label) in open_states:
                    raise InputError(
                        f"{where}: START of {label!r} while line {open_states[(subject, label)][1]} is open"
                    )
                open_states[(subject, label)] = (t, n)
            else:
                if (subject, label) not in open_states:
                    raise InputError(f"{where}: STOP of {label!r} without a START")
                t0, _ = open_states.pop((subject, label))
                if t < t0:
                    raise InputError(f"{where}: STOP at {t:g} s before its START at {t0:g} s")
                span = clock.frames_between(t0, t)
                if span is not None:
                    raws.append(_Raw(span[0], span[1], label, f"{where} Time"))
        elif c_start is not None:
            t0 = _number(row[c_start], f"{where} Start (s)")
            if kind == "POINT" or c_stop is None:
                frame = clock.frame_at(t0)
                raws.append(_Raw(frame, frame, label, f"{where} Start (s)"))
                continue
            t1 = _number(row[c_stop], f"{where} Stop (s)")
            if t1 < t0:
                raise InputError(f"{where}: Stop (s) {t1:g} before Start (s) {t0:g}")
            span = clock.frames_between(t0, t1)
            if span is not None:
                raws.append(_Raw(span[0], span[1], label, f"{where} Stop (s)"))
        else:
            raise InputError(f"{where}: Behavior type {kind or '(empty)'!r}; expected START, STOP or POINT")
    for (_, label), (_, line) in open_states.items():
        parsed.misfits.append(Misfit(f"line {line}", f"START of {label!r} has no STOP (dropped)"))
    if skipped_rows:
        parsed.declared["rows_of_other_media"] = skipped_rows
    return raws


# ---- activitynet


def _read_activitynet(data, target, options, parsed, source) -> list[_Raw]:
    try:
        document = json.loads(_text(data, source))
    except json.JSONDecodeError as exc:
        raise InputError(f"{source} line {exc.lineno}: not JSON ({exc.msg})") from None
    if not isinstance(document, dict):
        raise InputError(f"{source}: expected an object with 'database' (or 'results')")
    table_name = "database" if isinstance(document.get("database"), dict) else "results"
    table = document.get(table_name)
    if not isinstance(table, dict) or not table:
        raise InputError(f"{source}: no 'database' object with videos")
    keys = [options.key] if options.key else [target.key, *(os.path.splitext(n)[0] for n in target.names if n)]
    key = next((k for k in keys if k and k in table), None)
    if key is None:
        if options.key:
            raise InputError(f"{source} {table_name}: no key {options.key!r}; keys: {', '.join(list(table)[:10])}")
        if len(table) != 1:
            raise InputError(
                f"{source} {table_name}: no key {target.key!r}; keys: {', '.join(list(table)[:10])}; pass key=<key>"
            )
        key = next(iter(table))
        parsed.misfits.append(Misfit(f"{table_name}.{key}", f"key {key!r} is not this video ({target.key!r})"))
    parsed.declared["key"] = key
    entry = table[key]
    clock = target.clock
    if table_name == "results":
        annotations = entry
    else:
        if not isinstance(entry, dict):
            raise InputError(f"{source} database.{key}: not an object")
        annotations = entry.get("annotations", [])
        if entry.get("duration") is not None:
            duration = _number(entry["duration"], f"{source} database.{key}.duration", what="duration")
            parsed.declared["duration"] = duration
            off = abs(duration - clock.duration)
            if off > max(0.01 * clock.duration, clock.last_interval):
                parsed.misfits.append(
                    Misfit(f"database.{key}.duration", f"{duration:g} s differs from the video's {clock.duration:g} s")
                )
        if entry.get("fps") is not None:
            rate = _number(entry["fps"], f"{source} database.{key}.fps", what="frame rate")
            parsed.declared["fps"] = rate
            if rate > 0 and fps_mismatch(rate, clock):
                parsed.misfits.append(
                    Misfit(f"database.{key}.fps", f"{rate:g} differs from the video's {clock.nominal_fps:g} fps")
                )
    if not isinstance(annotations, list):
        raise InputError(f"{source} {table_name}.{key}: annotations is not a list")
    raws = []
    for n, annotation in enumerate(annotations):
        where = f"{source} {table_name}.{key}.annotations[{n}]"
        if not isinstance(annotation, dict):
            raise InputError(f"{where}: not an object")
        segment = annotation.get("segment")
        if not isinstance(segment, list) or len(segment) != 2:
            raise InputError(f"{where}.segment: expected [start, end] in seconds, got {segment!r}")
        t0 = _number(segment[0], f"{where}.segment[0]")
        t1 = _number(segment[1], f"{where}.segment[1]")
        if t1 < t0:
            raise InputError(f"{where}.segment: end {t1:g} before start {t0:g}")
        label = _label(annotation.get("label"), where)
        span = clock.frames_between(t0, t1)
        if span is not None:
            raws.append(_Raw(span[0], span[1], label, f"{where}.segment[1]"))
    return raws


# ---- ms-tcn


def _read_mstcn(data, target, options, parsed, source) -> list[_Raw]:
    mapping: dict[str, str] = {}
    if options.mapping is not None:
        if len(options.mapping) > MAX_LABEL_FILE_BYTES:
            raise InputError("mapping.txt is too large")
        for n, line in enumerate(_text(options.mapping, "mapping.txt").splitlines(), start=1):
            if not line.strip():
                continue
            parts = line.split(maxsplit=1)
            if len(parts) != 2 or not parts[0].isdigit():
                raise InputError(f"mapping.txt line {n}: expected '<index> <class>', got {line[:60]!r}")
            mapping[parts[0]] = _label(parts[1], f"mapping.txt line {n}")
    names = set(mapping.values())
    lines = _text(data, source).splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    raws: list[_Raw] = []
    background = (options.background or "").strip()
    for n, line in enumerate(lines, start=1):
        value = line.strip()
        where = f"{source} line {n}"
        if not value:
            raise InputError(f"{where}: empty line (one class per frame)")
        if mapping:
            if value in mapping:
                value = mapping[value]
            elif value not in names:
                raise InputError(f"{where}: class {value[:40]!r} is not in mapping.txt")
        if value == background:
            continue
        label = _label(value, where)
        frame = n - 1
        if raws and raws[-1].label == label and raws[-1].end == frame - 1:
            raws[-1] = _Raw(raws[-1].start, frame, label, where)
        else:
            raws.append(_Raw(frame, frame, label, where))
    parsed.declared["lines"] = len(lines)
    if len(lines) < target.clock.frame_count:
        parsed.notes.append(
            f"{len(lines)} lines for {target.clock.frame_count} frames: the last frames stay unlabelled"
        )
    return raws


_READERS = {
    "csv": _read_csv,
    "csv_frames": _read_csv,
    "label_studio": _read_label_studio,
    "cvat_images": _read_cvat,
    "boris": _read_boris,
    "activitynet": _read_activitynet,
    "mstcn": _read_mstcn,
}


# ------------------------------------------------------------------ writing


@dataclass(frozen=True)
class ExportMeta:
    """What an export says about the video (and, for predictions, the model)."""

    video_id: str
    name: str  # the video's file name, as tools match it
    url: str = ""  # where a tool can fetch the video (Label Studio tasks)
    width: int = 0
    height: int = 0
    model_version: str = ""  # predictions only
    from_name: str = LS_FROM_NAME
    to_name: str = LS_TO_NAME
    background: str = DEFAULT_BACKGROUND


@dataclass(frozen=True)
class LabelFile:
    data: bytes
    content_type: str
    filename: str


def _secs(value: float) -> float:
    return round(float(value), 6)


def ls_ranges(span: Span, clock: VideoClock, rate: float) -> dict:
    """A span as a Label Studio range: frames counted from 1 at ``rate``, through the clock."""
    start, end = clock.seconds_of(span.start, span.end)
    first = int(round(start * rate)) + 1
    return {"start": first, "end": max(first, int(round(end * rate)))}


def ls_rate(clock: VideoClock) -> float:
    return clock.nominal_fps or clock.mean_fps


def ls_results(spans: list[Span], clock: VideoClock, meta: ExportMeta, rate: float | None = None) -> list[dict]:
    """Spans as Label Studio ``timelinelabels`` results, frames counted at ``rate`` (the project's
    ``<Video frameRate>``; default the video's own rate)."""
    rate = rate or ls_rate(clock)
    results = []
    for n, span in enumerate(spans):
        item = {
            "id": f"taskml{n}",
            "type": "timelinelabels",
            "from_name": meta.from_name,
            "to_name": meta.to_name,
            "origin": "prediction" if span.score is not None else "manual",
            "value": {"ranges": [ls_ranges(span, clock, rate)], "timelinelabels": [span.label]},
        }
        if span.score is not None:
            item["score"] = round(span.score, 6)
        results.append(item)
    return results


def write_label_file(fmt: str, spans: list[Span], clock: VideoClock, meta: ExportMeta) -> LabelFile:
    """The video's spans (or a model's predicted spans, with ``score``) in format ``fmt``.

    Parameters
    ----------
    fmt : str
        One of the export formats.
    spans : list of Span
    clock : VideoClock
        The video's frame clock: every frame-to-seconds conversion goes through it.
    meta : ExportMeta
        The video's names and sizes the formats record.

    Returns
    -------
    LabelFile
        The bytes, their content type and a file name.
    """
    if fmt not in EXPORT_FORMATS:
        raise InputError(f"format {fmt!r} unknown; use one of {', '.join(EXPORT_FORMATS)}")
    predictions = any(s.score is not None for s in spans)
    stem = meta.video_id or "video"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(
            ["start_frame", "end_frame", "label", *(["score", "start_time", "end_time"] if predictions else [])]
        )
        for s in spans:
            extra = [f"{s.score:.6f}", *map(_secs, clock.seconds_of(s.start, s.end))] if predictions else []
            writer.writerow([s.start, s.end, s.label, *extra])
        return LabelFile(out.getvalue().encode(), "text/csv", f"{stem}_labels.csv")
    if fmt == "csv_frames":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["frame_index", "label", *(["score"] if predictions else [])])
        for s in spans:
            for frame in range(s.start, s.end + 1):
                writer.writerow([frame, s.label, *([f"{s.score:.6f}"] if predictions else [])])
        return LabelFile(out.getvalue().encode(), "text/csv", f"{stem}_frames.csv")
    if fmt == "label_studio":
        task: dict = {"data": {"video": meta.url or meta.name, "fps": ls_rate(clock), "taskml_video_id": meta.video_id}}
        results = ls_results(spans, clock, meta)
        if predictions:
            scores = [s.score for s in spans if s.score is not None]
            task["predictions"] = [
                {"model_version": meta.model_version, "score": round(float(np.mean(scores)), 6) if scores else None,
                 "result": results}
            ]  # fmt: skip
        else:
            task["annotations"] = [{"result": results, "was_cancelled": False, "ground_truth": False}]
        return LabelFile(json.dumps([task], indent=1).encode(), "application/json", f"{stem}_label_studio.json")
    if fmt == "activitynet":
        segments = []
        for s in spans:
            item = {"segment": list(map(_secs, clock.seconds_of(s.start, s.end))), "label": s.label}
            if s.score is not None:
                item["score"] = round(s.score, 6)
            segments.append(item)
        if predictions:
            document = {"version": "taskml", "results": {stem: segments}, "external_data": {"used": False}}
        else:
            document = {
                "version": "taskml",
                "database": {
                    stem: {"subset": "validation", "duration": _secs(clock.duration), "url": meta.name,
                           "fps": clock.nominal_fps, "annotations": segments}
                },
            }  # fmt: skip
        return LabelFile(json.dumps(document, indent=1).encode(), "application/json", f"{stem}_activitynet.json")
    if fmt == "boris":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["Observation id", "Observation date", "Description", "Observation type", "Source",
                         "Media duration (s)", "FPS", "Subject", "Behavior", "Behavioral category", "Behavior type",
                         "Time", "Media file name", "Comment"])  # fmt: skip
        today = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        events = []
        for s in spans:
            start, end = clock.seconds_of(s.start, s.end)
            events += [(start, 1, s.label, "START"), (end, 0, s.label, "STOP")]
        for t, _, label, kind in sorted(events):
            writer.writerow([stem, today, "taskml export", "Media file(s)", f"player #1:{meta.name}",
                             f"{clock.duration:.6f}", f"{clock.nominal_fps:g}", "", label, "", kind, f"{t:.6f}",
                             meta.name, ""])  # fmt: skip
        return LabelFile(out.getvalue().encode(), "text/csv", f"{stem}_boris.csv")
    if fmt == "mstcn":
        lines = [meta.background] * clock.frame_count
        for s in spans:
            if s.label == meta.background:
                raise InputError(f"label {s.label!r} is the MS-TCN background class; choose another background")
            lines[s.start : s.end + 1] = [s.label] * (s.end - s.start + 1)
        return LabelFile(("\n".join(lines) + "\n").encode(), "text/plain", f"{stem}.txt")
    # cvat_images
    root = ET.Element("annotations")
    ET.SubElement(root, "version").text = "1.1"
    meta_el = ET.SubElement(root, "meta")
    task_el = ET.SubElement(meta_el, "task")
    for key, value in (("name", stem), ("size", clock.frame_count), ("mode", "annotation"), ("start_frame", 0),
                       ("stop_frame", clock.frame_count - 1), ("frame_filter", "")):  # fmt: skip
        ET.SubElement(task_el, key).text = str(value)
    labels_el = ET.SubElement(task_el, "labels")
    for label in sorted({s.label for s in spans}):
        label_el = ET.SubElement(labels_el, "label")
        ET.SubElement(label_el, "name").text = label
        ET.SubElement(label_el, "type").text = "tag"
    size = ET.SubElement(task_el, "original_size")
    ET.SubElement(size, "width").text = str(meta.width)
    ET.SubElement(size, "height").text = str(meta.height)
    ET.SubElement(meta_el, "source").text = meta.name
    by_frame: dict[int, str] = {}
    for s in spans:
        for frame in range(s.start, s.end + 1):
            by_frame[frame] = s.label
    for frame in range(clock.frame_count):
        image = ET.SubElement(root, "image", id=str(frame), name=f"frame_{frame:06d}.PNG",
                              width=str(meta.width), height=str(meta.height))  # fmt: skip
        if frame in by_frame:
            ET.SubElement(image, "tag", label=by_frame[frame], source="manual")
    ET.indent(root)
    data = b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="utf-8")
    return LabelFile(data, "application/xml", f"{stem}_cvat.xml")


# ------------------------------------------------------------------ a model's windows as frames


def window_spans(
    starts: np.ndarray,
    probabilities: np.ndarray,
    labels: list[str],
    *,
    window_sec: float,
    clock: VideoClock,
) -> list[Span]:
    """A model's window predictions over a whole video as per-frame labels, merged into spans.

    Every frame takes the prediction of the window whose centre is nearest to the frame's time
    (frames farther than half a window from every centre stay unlabelled); consecutive frames
    with one label form a span whose score is the mean top probability over its frames.
    """
    starts = np.asarray(starts, np.float64)
    probabilities = np.asarray(probabilities, np.float64)
    if not len(starts):
        return []
    centres = starts + window_sec / 2
    times = clock.timestamps
    nearest = np.clip(np.searchsorted(centres, times), 1, len(centres)) - 1
    right = np.minimum(nearest + 1, len(centres) - 1)
    pick = np.where(np.abs(centres[right] - times) < np.abs(centres[nearest] - times), right, nearest)
    far = np.abs(centres[pick] - times) > window_sec / 2 + 1e-9
    top = probabilities.argmax(axis=1)
    codes = np.where(far, -1, top[pick])
    scores = probabilities.max(axis=1)[pick]
    spans = []
    for span in runs_to_spans(codes.astype(np.int64), list(labels)):
        spans.append(Span(span.start, span.end, span.label, float(scores[span.start : span.end + 1].mean())))
    return spans


@dataclass(frozen=True)
class LabelStudioConfig:
    """What taskml needs from a Label Studio labelling config."""

    from_name: str
    to_name: str
    frame_rate: float  # Label Studio counts video frames at <Video frameRate>, 24 when it is not set
    labels: tuple[str, ...]


LS_DEFAULT_FRAME_RATE = 24.0


def parse_ls_config(text: str) -> LabelStudioConfig:
    """The TimelineLabels control, its Video and their frame rate from a labelling config (XML)."""
    if len(text) > 1_000_000:
        raise InputError("label_config is larger than 1 MB")
    try:
        root = SafeET.fromstring(text, forbid_dtd=True)
    except (DefusedXmlException, SafeET.ParseError) as exc:
        raise InputError(f"label_config is not a labelling config ({exc})") from None
    control = next(iter(root.iter("TimelineLabels")), None)
    if control is None:
        raise InputError("label_config has no <TimelineLabels> control")
    to_name = control.get("toName", LS_TO_NAME)
    video = next((v for v in root.iter("Video") if v.get("name") == to_name), None)
    rate = LS_DEFAULT_FRAME_RATE
    if video is not None and video.get("frameRate"):
        rate = _number(video.get("frameRate"), "label_config <Video frameRate>", what="frame rate")
        if rate <= 0:
            raise InputError(f"label_config <Video frameRate>: {rate:g} must be positive")
    labels = tuple(label.get("value", "") for label in control.iter("Label") if label.get("value"))
    return LabelStudioConfig(control.get("name", LS_FROM_NAME), to_name, rate, labels)
