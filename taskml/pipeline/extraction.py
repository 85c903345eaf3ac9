"""Video → per-frame features table (Parquet), with the label join and progress reporting."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from .clock import VideoClock, probe_clock
from .detectors import Detector, DetectorConfig, FrameDetections
from .errors import InputError
from .features import numeric_features, stack_detections
from .files import atomic_path, sha256_file
from .labels import FrameLabels, read_labels
from .leakage import first_frame_hash

if TYPE_CHECKING:
    import pandas as pd

# pandas and pyarrow are imported where tables are made or read, not with this module: video
# decoding (probe_video, iter_frames) serves the portable runtime (taskml.runtime) too, which
# has neither. stack_detections and numeric_features live in features.py, imported here as before.

SCHEMA_VERSION = 1
METADATA_KEY = b"taskml"
ProgressCallback = Callable[[int, int], None]

JSON_COLUMNS = (
    "mp_pose_landmarks",
    "mp_left_hand_landmarks",
    "mp_right_hand_landmarks",
    "yolo_objects",
    "yolo_boxes",
    "yolo_confidences",
)


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    fps: float
    frame_count: int
    width: int
    height: int
    clock: VideoClock | None = None  # the container's frame timestamps (None: the container gave none)
    first_frame_hash: str = ""  # difference hash of frame 0 (the leakage audit finds re-uploads by it)

    @property
    def duration(self) -> float:
        if self.clock is not None:
            return self.clock.duration
        return self.frame_count / self.fps if self.fps else 0.0


@dataclass(frozen=True)
class ExtractionResult:
    output: Path
    video_id: str
    num_frames: int
    num_labeled: int
    columns: list[str]
    detected: dict[str, int] = field(default_factory=dict)  # frames with pose / hands / objects
    seconds: float = 0.0
    info: VideoInfo | None = None
    object_detector: dict | None = None  # which object detector ran (None: objects were not looked for)
    timing: ExtractionTiming | None = None


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Open a video and decode its first frame; refuse anything OpenCV cannot decode."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"video not found: {path}")
    if path.stat().st_size == 0:
        raise InputError(f"video {path.name} is empty (0 bytes)")
    cap = cv2.VideoCapture(str(path))
    try:
        ok, frame = cap.read() if cap.isOpened() else (False, None)
        if not ok or frame is None:
            raise InputError(f"{path.name} is not a video that can be decoded")
        fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        height, width = frame.shape[:2]
        first_hash = first_frame_hash(frame)
    finally:
        cap.release()
    if not 0 < fps < 1000:
        fps = 30.0  # containers without a frame rate: timestamps still come from the decoder
    try:
        clock = probe_clock(path)
    except InputError:
        clock = None  # OpenCV decodes it but the demuxer gives no timestamps: the decoder's positions are used
    if clock is not None:
        count = clock.frame_count  # OpenCV estimates the count from duration × fps, wrong for variable rates
    return VideoInfo(
        path=path, fps=float(fps), frame_count=max(count, 1), width=width, height=height, clock=clock,
        first_frame_hash=first_hash,
    )  # fmt: skip


class FrameClock:
    """Per-frame timestamps in seconds from the decoder, made monotonic.

    OpenCV's position after a read is the current frame's time for some containers and the
    next frame's for others (AVI). The first frame tells which: frame 0 is at time 0. Values
    that go backwards (some decoders report 0 at the end) are replaced by index / fps.
    """

    def __init__(self, fps: float) -> None:
        self.fps = fps
        self._reports_next: bool | None = None
        self._last = -np.inf

    def time_of(self, index: int, before_ms: float, after_ms: float) -> float:
        if self._reports_next is None:
            self._reports_next = after_ms > 0.5 * 1000 / self.fps
        t = (before_ms if self._reports_next else after_ms) / 1000.0
        if not np.isfinite(t) or t <= self._last or (index == 0 and t != 0):
            t = index / self.fps if index / self.fps > self._last else self._last + 1e-3
        self._last = t
        return t


class _ContainerClock:
    """``FrameClock``'s interface over a probed ``VideoClock`` (the one frame clock)."""

    def __init__(self, clock: VideoClock) -> None:
        self.clock = clock

    def time_of(self, index: int, before_ms: float, after_ms: float) -> float:
        return float(self.clock.times_for([index])[0])


def iter_frames(
    info: VideoInfo, *, sample_rate: int = 1, stats: dict | None = None, start: int = 0, stop: int | None = None
) -> Iterator[tuple[int, float, np.ndarray]]:
    """Yield ``(frame_index, t, bgr)`` for every ``sample_rate``-th frame, in order.

    ``t`` comes from the video's frame clock (``info.clock``, the container's timestamps) when
    there is one, else from the decoder's positions. ``stats["decoded"]`` (when given) counts
    every frame read, sampled or skipped. Only frames ``start..stop-1`` are yielded; the frames
    before ``start`` are read without being converted (grab), so that indices and times stay
    exact whatever the container's seeking would do.
    """
    cap = cv2.VideoCapture(str(info.path))
    clock = FrameClock(info.fps) if info.clock is None else _ContainerClock(info.clock)
    index = 0
    try:
        while True:
            if stats is not None:
                stats["decoded"] = index
            if stop is not None and index >= stop:
                return
            before = cap.get(cv2.CAP_PROP_POS_MSEC)
            if index % sample_rate or index < start:
                if not cap.grab():
                    return
                if index < start and isinstance(clock, FrameClock):
                    # The decoder's positions: learnt from frame 0 on, as in a run from the start.
                    clock.time_of(index, before, cap.get(cv2.CAP_PROP_POS_MSEC))
            else:
                ok, frame = cap.read()
                if not ok:
                    return
                yield index, clock.time_of(index, before, cap.get(cv2.CAP_PROP_POS_MSEC)), frame
            index += 1
    finally:
        cap.release()


def _json_points(points: np.ndarray | None) -> str | None:
    return None if points is None else json.dumps(np.round(points.astype(float), 5).tolist())


def detections_frame(
    *,
    video_id: str,
    frame_index: np.ndarray,
    t: np.ndarray,
    detections: list[FrameDetections],
    width: int,
    height: int,
    with_objects: bool,
) -> pd.DataFrame:
    """The per-frame table: identifiers, raw detections as JSON text, derived numeric features."""
    import pandas as pd

    arrays = stack_detections(t, detections, width, height)
    columns: dict[str, object] = {
        "video_id": pd.Series([video_id] * len(detections), dtype="string"),
        "frame_index": np.asarray(frame_index, np.int64),
        "t": arrays.t,
        "mp_pose_landmarks": [_json_points(d.pose) for d in detections],
        "mp_left_hand_landmarks": [_json_points(d.left_hand) for d in detections],
        "mp_right_hand_landmarks": [_json_points(d.right_hand) for d in detections],
        "yolo_objects": [json.dumps(list(d.object_names)) if with_objects else None for d in detections],
        "yolo_boxes": [
            json.dumps(np.round(d.object_boxes.astype(float), 2).tolist()) if with_objects else None for d in detections
        ],
        "yolo_confidences": [
            json.dumps(np.round(d.object_confidences.astype(float), 4).tolist()) if with_objects else None
            for d in detections
        ],
    }
    columns.update(numeric_features(arrays, with_objects=with_objects))
    return pd.DataFrame(columns)


ROW_GROUP_FRAMES = 512  # frames held in memory before they are written (memory stays flat with length)


@dataclass(frozen=True)
class FrameRange:
    """Part of a video to extract: frames ``start..stop-1`` are kept; detection starts at ``settle``
    (≤ start) so that MediaPipe's tracking has settled by the first kept frame (chunks.py)."""

    start: int = 0
    stop: int | None = None  # None: to the end
    settle: int | None = None  # None: at start

    @property
    def first_processed(self) -> int:
        return self.start if self.settle is None else min(self.settle, self.start)


def _frames_in(first: int, stop: int, sample_rate: int) -> int:
    """Sampled frames (index % sample_rate == 0) in first..stop-1."""
    return max(0, -(-stop // sample_rate) - -(-first // sample_rate))


def extract_features(
    video: str | os.PathLike,
    output: str | os.PathLike,
    *,
    config: DetectorConfig | None = None,
    labels: FrameLabels | str | os.PathLike | None = None,
    sample_rate: int = 1,
    video_id: str | None = None,
    progress: ProgressCallback | None = None,
    frames: FrameRange | None = None,
    row_group_frames: int = ROW_GROUP_FRAMES,
) -> ExtractionResult:
    """Run the detectors over a video and write the per-frame features to ``output`` (Parquet).

    Rows are written as they come, ``row_group_frames`` at a time, so memory does not grow
    with the video's length; the file appears (renamed into place) only once complete.

    Parameters
    ----------
    video
        A video file OpenCV can decode; its frame clock (container timestamps) gives ``t``.
    output
        The Parquet file to write (must end in ``.parquet``); nothing is visible there until done.
    config
        Which detectors run and how (kind, object model, object detector every k-th frame,
        MediaPipe complexities); the default configuration when None.
    labels
        Per-frame labels (a ``FrameLabels`` or a CSV path) joined as the ``label`` column; they
        must fit within the video's frames.
    sample_rate
        Process every n-th frame (≥ 1).
    video_id
        The ``video_id`` column; the file's stem when None.
    progress
        Called as ``progress(done, total)`` after every processed frame; it may raise to cancel.
    frames
        Part of the video only (a chunk): frames before ``frames.start`` are processed for the
        trackers to settle but not written; frame indices and ``t`` stay the whole video's.
    row_group_frames
        Frames per Parquet row group (the memory bound).

    Returns
    -------
    ExtractionResult
        The file, frame and labelled-frame counts, columns, detections per kind, the object
        detector that ran, and timings (start-up, steady rate, milliseconds per model).

    Raises
    ------
    InputError
        A bad sample rate or output name, an undecodable video, labels beyond its end.
    """
    started = time.perf_counter()
    config = config or DetectorConfig()
    frames = frames or FrameRange()
    if sample_rate < 1:
        raise InputError(f"sample rate must be a positive integer, got {sample_rate}")
    output = Path(output)
    if output.suffix.lower() != ".parquet":
        raise InputError(f"output {output.name!r} must end in .parquet")
    info = probe_video(video)
    if labels is not None and not isinstance(labels, FrameLabels):
        labels = read_labels(labels)
    if labels is not None:
        labels.check_within(info.frame_count)
    video_id = video_id or info.path.stem

    first = frames.first_processed
    stop = info.frame_count if frames.stop is None else min(frames.stop, info.frame_count)
    total = _frames_in(first, stop, sample_rate)
    writer = _FeatureWriter(video_id=video_id, info=info, with_objects=config.uses_yolo, labels=labels)
    done = 0
    timing = ExtractionTiming()
    with atomic_path(output) as tmp, Detector(config) as detector:
        object_detector = detector.object_info
        decode_stats: dict = {}
        stream = iter_frames(info, sample_rate=sample_rate, stats=decode_stats, start=first, stop=frames.stop)
        try:
            for index, t, det in detector.process_stream(stream):
                timing.frame_done()
                done += 1
                if index >= frames.start:
                    writer.add(index, t, det)
                    if writer.pending >= row_group_frames:
                        writer.flush(tmp)
                else:
                    writer.context = (index, t, det)  # the frame before the first kept one (speeds)
                if progress is not None:
                    progress(done, max(total, done))
            if not writer.rows and not writer.pending:
                raise InputError(f"{info.path.name}: no frame could be decoded")
            decoded = max(decode_stats.get("decoded", 0), writer.last_index + 1)
            if labels is not None and frames.stop is None:
                labels.check_within(decoded)
            writer.flush(tmp)
            writer.close(
                {
                    "schema_version": SCHEMA_VERSION,
                    "video_id": video_id,
                    "source_name": info.path.name,
                    "source_sha256": sha256_file(info.path),
                    "first_frame_hash": info.first_frame_hash,
                    "fps": info.fps,
                    "clock": info.clock.facts() if info.clock is not None else None,
                    "width": info.width,
                    "height": info.height,
                    "frame_count": decoded,
                    "sample_rate": sample_rate,
                    "detector": config.kind,
                    "yolo_model": config.yolo_model if config.uses_yolo else None,
                    "object_detector": object_detector,
                    "labels_source": labels.source if labels is not None else None,
                }
            )
        finally:
            writer.close()
        timing.detector_ms = {
            name: 1000 * seconds / calls for name, (seconds, calls) in detector.timings.items() if calls
        }
        timing.detector_calls = {name: int(calls) for name, (_, calls) in detector.timings.items()}
    return ExtractionResult(
        output=output,
        video_id=video_id,
        num_frames=writer.rows,
        num_labeled=writer.labeled,
        columns=writer.columns,
        detected=dict(writer.detected),
        seconds=time.perf_counter() - started,
        info=info,
        object_detector=object_detector,
        timing=timing,
    )


@dataclass
class ExtractionTiming:
    """When frames were done: start-up (wall clock of the first frame), steady rate, model costs."""

    first_frame_at: float | None = None  # time.time() when the first frame was done
    first_frame_perf: float | None = None
    last_frame_perf: float | None = None
    frames: int = 0
    detector_ms: dict[str, float] = field(default_factory=dict)  # ms per call of each model
    detector_calls: dict[str, int] = field(default_factory=dict)

    def frame_done(self) -> None:
        now = time.perf_counter()
        if self.first_frame_perf is None:
            self.first_frame_perf, self.first_frame_at = now, time.time()
        self.last_frame_perf = now
        self.frames += 1

    @property
    def steady_fps(self) -> float:
        """Frames per second after the first frame (model loading and warm-up excluded)."""
        if self.frames < 2 or self.first_frame_perf is None:
            return 0.0
        return (self.frames - 1) / max(self.last_frame_perf - self.first_frame_perf, 1e-9)


class _FeatureWriter:
    """Rows of the features table, written to Parquet a row group at a time (one fixed schema)."""

    def __init__(self, *, video_id: str, info: VideoInfo, with_objects: bool, labels: FrameLabels | None) -> None:
        self.video_id = video_id
        self.info = info
        self.with_objects = with_objects
        self.labels = labels
        self._indices: list[int] = []
        self._times: list[float] = []
        self._detections: list[FrameDetections] = []
        self._writer = None
        self._schema = None
        # The last frame before the pending ones: features that compare a frame with the one before
        # (hand speeds) are computed across row groups and chunk starts as in one piece.
        self.context: tuple[int, float, FrameDetections] | None = None
        self.rows = 0
        self.labeled = 0
        self.last_index = -1
        self.columns: list[str] = []
        self.detected: Counter = Counter(pose=0, left_hand=0, right_hand=0, objects=0)

    @property
    def pending(self) -> int:
        return len(self._indices)

    def add(self, index: int, t: float, detections: FrameDetections) -> None:
        self._indices.append(index)
        self._times.append(t)
        self._detections.append(detections)
        self.last_index = index

    def flush(self, path: Path) -> None:
        import pandas as pd
        import pyarrow.parquet as pq

        if not self._indices:
            return
        before = [self.context] if self.context is not None else []
        frame = detections_frame(
            video_id=self.video_id,
            frame_index=np.array([c[0] for c in before] + self._indices),
            t=np.array([c[1] for c in before] + self._times),
            detections=[c[2] for c in before] + self._detections,
            width=self.info.width,
            height=self.info.height,
            with_objects=self.with_objects,
        )
        if before:
            frame = frame.iloc[1:].reset_index(drop=True)
        self.context = (self._indices[-1], self._times[-1], self._detections[-1])
        if self.labels is not None:
            frame["label"] = pd.Series(self.labels.for_frames(frame["frame_index"].to_numpy()), dtype="string")
            self.labeled += int(frame["label"].notna().sum())
        self.detected.update(detected_counts(frame, with_objects=self.with_objects))
        table = features_table(frame)
        if self._writer is None:
            self._schema = table.schema
            self.columns = list(frame.columns)
            self._writer = pq.ParquetWriter(path, self._schema, compression="zstd")
        self._writer.write_table(table.cast(self._schema), row_group_size=len(frame))
        self.rows += len(frame)
        self._indices, self._times, self._detections = [], [], []

    def close(self, metadata: dict | None = None) -> None:
        if self._writer is None:
            return
        if metadata is not None:
            self._writer.add_key_value_metadata({METADATA_KEY: json.dumps(metadata)})
        self._writer.close()
        self._writer = None


def detected_counts(frame: pd.DataFrame, *, with_objects: bool) -> dict[str, int]:
    """Frames of a features table with a pose, each hand, and (when objects were looked for) objects."""
    return {
        "pose": int(frame["pose_present"].sum()),
        "left_hand": int(frame["left_hand_present"].sum()),
        "right_hand": int(frame["right_hand_present"].sum()),
        "objects": int((frame["num_objects"] > 0).sum()) if with_objects else 0,
    }


# Text columns that may be empty in a whole row group (no label, no hand): typed as text anyway,
# so that every row group (and every chunk of a video) has one schema.
TEXT_COLUMNS = (*JSON_COLUMNS, "label")


def features_table(frame: pd.DataFrame):
    """``frame`` as an Arrow table with the features file's fixed column types."""
    import pyarrow as pa

    table = pa.Table.from_pandas(frame, preserve_index=False)
    for name in TEXT_COLUMNS:
        if name in table.column_names:
            position = table.column_names.index(name)
            table = table.set_column(position, pa.field(name, pa.string()), table.column(name).cast(pa.string()))
    return table


def write_features(frame: pd.DataFrame, output: str | os.PathLike, metadata: dict) -> None:
    import pyarrow.parquet as pq

    table = features_table(frame)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), METADATA_KEY: json.dumps(metadata)})
    with atomic_path(output) as tmp:
        pq.write_table(table, tmp, compression="zstd")


@dataclass(frozen=True)
class RelabelResult:
    changed: bool
    num_labeled: int
    distribution: dict[str, int]


def relabel_features(path: str | os.PathLike, labels: FrameLabels | None) -> RelabelResult:
    """Replace the ``label`` column of a features file with ``labels`` (None: unlabelled).

    Labels change far more often than video does, and the detectors are the expensive part:
    only the label column is rewritten, the file is replaced atomically, and a file whose
    labels are already these is not written at all.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError):
        raise InputError(f"{path.name} is not a Parquet features file") from None
    if "frame_index" not in table.column_names:
        raise InputError(f"{path.name} has no frame_index column; was it written by extract_features?")
    frames = table.column("frame_index").to_numpy(zero_copy_only=False)
    new = labels.for_frames(frames).tolist() if labels is not None else [None] * len(frames)
    old = table.column("label").to_pylist() if "label" in table.column_names else None
    counts = Counter(v for v in new if v is not None)
    result = RelabelResult(
        changed=old != new and not (old is None and labels is None),
        num_labeled=sum(counts.values()),
        distribution=dict(sorted(counts.items())),
    )
    if not result.changed:
        return result
    metadata = read_features_metadata(path)
    metadata["labels_source"] = labels.source if labels is not None else None
    column = pa.array(new, type=pa.string())
    if old is None:
        table = table.append_column(pa.field("label", pa.string()), column)
    else:
        index = table.column_names.index("label")
        kind = table.schema.field(index).type
        table = table.set_column(index, pa.field("label", kind), column.cast(kind))
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), METADATA_KEY: json.dumps(metadata)})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return result


def read_features_metadata(path: str | os.PathLike) -> dict:
    import pyarrow.parquet as pq

    # The footer's key-value metadata: a file written a row group at a time adds it there at the end
    # (it is the schema's metadata as well in a file written at once).
    raw = (pq.ParquetFile(path).metadata.metadata or {}).get(METADATA_KEY)
    return json.loads(raw) if raw else {}
