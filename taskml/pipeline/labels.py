"""Frame labels from CSV: per-frame ``frame_index,label`` or spans ``start_frame,end_frame,label``.

Frames without a label stay unlabelled (``None``); they are excluded later, never a class.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import InputError

PER_FRAME_COLUMNS = ("frame_index", "label")
SPAN_COLUMNS = ("start_frame", "end_frame", "label")
MAX_LABEL_CHARS = 200
MAX_CLASSES = 1_000  # distinct labels of one video
MAX_LABELLED_FRAMES = 1_000_000  # frames one labels file may label (9 hours at 30 fps)


def label_problem(label: str) -> str | None:
    """Why ``label`` cannot name a class (None when it can): blank, too long, or not printable."""
    if not label:
        return "empty label"
    if len(label) > MAX_LABEL_CHARS:
        return f"label of {len(label):,} characters; at most {MAX_LABEL_CHARS}"
    if not label.isprintable():
        bad = next(c for c in label if not c.isprintable())
        return f"label {label[:40]!r} holds a control character ({bad!r}); labels must be printable"
    return None


@dataclass(frozen=True)
class FrameLabels:
    """Labels by frame index; ``line_of`` keeps the CSV line that set each frame, for errors."""

    by_frame: dict[int, str]
    line_of: dict[int, int] = field(default_factory=dict, compare=False)
    source: str = ""

    def __len__(self) -> int:
        return len(self.by_frame)

    @property
    def classes(self) -> list[str]:
        return sorted(set(self.by_frame.values()))

    def check_within(self, frame_count: int) -> None:
        """Refuse labels for frames the video does not have, naming the CSV line."""
        bad = [f for f in self.by_frame if f >= frame_count]
        if bad:
            first = min(bad, key=lambda f: self.line_of.get(f, 0))
            raise InputError(
                f"{self.source} line {self.line_of.get(first, '?')}: frame {first} is outside "
                f"the video ({frame_count} frames, 0..{frame_count - 1}); "
                f"{len(bad)} labelled frame(s) out of range"
            )

    def for_frames(self, frame_indices: np.ndarray) -> np.ndarray:
        """An object array of labels (``None`` where unlabelled) aligned with ``frame_indices``."""
        return np.array([self.by_frame.get(int(f)) for f in frame_indices], dtype=object)


def _parse_int(text: str, *, column: str, line: int, source: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise InputError(f"{source} line {line}: {column} {text!r} is not an integer") from None
    if value < 0:
        raise InputError(f"{source} line {line}: {column} {value} is negative")
    return value


def read_labels(path: str | os.PathLike) -> FrameLabels:
    """Read a labels CSV in either format (per frame, or spans: see :func:`parse_labels`).

    Parameters
    ----------
    path : path-like

    Returns
    -------
    FrameLabels

    Raises
    ------
    InputError
        A missing or unreadable file, or the first bad line (numbered).
    """
    path = Path(path)
    source = path.name
    if not path.is_file():
        raise InputError(f"labels file not found: {path}")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{source}: not UTF-8 text (byte {exc.start}); save it as UTF-8 CSV") from None
    return parse_labels(text, source=source)


def parse_labels(text: str, *, source: str = "labels.csv") -> FrameLabels:
    """Parse a labels CSV's text: per-frame rows (``frame_index,label``) or spans
    (``start_frame,end_frame,label``), chosen by the header.

    Parameters
    ----------
    text : str
    source : str
        The file's name, for messages.

    Returns
    -------
    FrameLabels

    Raises
    ------
    InputError
        Naming the line: not UTF-8, an unknown header, a bad frame number, a label too long,
        an inverted span, too many classes or labelled frames.
    """
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise InputError(f"{source}: empty file; expected a header {','.join(PER_FRAME_COLUMNS)}") from None
    except csv.Error as exc:
        raise InputError(f"{source}: not a CSV file ({exc})") from None
    if tuple(header) == PER_FRAME_COLUMNS:
        spans = False
    elif tuple(header) == SPAN_COLUMNS:
        spans = True
    else:
        raise InputError(
            f"{source} line 1: columns {','.join(header) or '(none)'} not understood; expected "
            f"{','.join(PER_FRAME_COLUMNS)} or {','.join(SPAN_COLUMNS)}"
        )

    by_frame: dict[int, str] = {}
    line_of: dict[int, int] = {}
    classes: set[str] = set()

    def assign(frame: int, label: str, line: int) -> None:
        previous = by_frame.get(frame)
        if previous is not None and previous != label:
            raise InputError(
                f"{source} line {line}: frame {frame} labelled {label!r} but line "
                f"{line_of[frame]} already labelled it {previous!r}"
            )
        by_frame[frame] = label
        line_of.setdefault(frame, line)

    try:
        for line, row in enumerate(reader, start=2):
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise InputError(f"{source} line {line}: {len(row)} fields, expected {len(header)}")
            label = row[-1].strip()
            problem = label_problem(label)
            if problem:
                raise InputError(f"{source} line {line}: {problem}", param="label")
            classes.add(label)
            if len(classes) > MAX_CLASSES:
                raise InputError(f"{source} line {line}: more than {MAX_CLASSES:,} different labels", param="label")
            if spans:
                start = _parse_int(row[0], column="start_frame", line=line, source=source)
                end = _parse_int(row[1], column="end_frame", line=line, source=source)
                if end < start:
                    raise InputError(f"{source} line {line}: end_frame {end} is before start_frame {start}")
                if end - start + 1 + len(by_frame) > MAX_LABELLED_FRAMES:
                    raise InputError(
                        f"{source} line {line}: the labels would cover more than {MAX_LABELLED_FRAMES:,} frames"
                    )
                for frame in range(start, end + 1):
                    assign(frame, label, line)
            else:
                if len(by_frame) >= MAX_LABELLED_FRAMES:
                    raise InputError(
                        f"{source} line {line}: the labels would cover more than {MAX_LABELLED_FRAMES:,} frames"
                    )
                assign(_parse_int(row[0], column="frame_index", line=line, source=source), label, line)
    except csv.Error as exc:
        raise InputError(f"{source}: not a CSV file ({exc})") from None
    if not by_frame:
        raise InputError(f"{source}: no labelled frames")
    return FrameLabels(by_frame=by_frame, line_of=line_of, source=source)
