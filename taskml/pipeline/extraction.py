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
    info: VideoInfo, *, sample_rate: int = 1, stats: dict | None = None
) -> Iterator[tuple[int, float, np.ndarray]]:
    """Yield ``(frame_index, t, bgr)`` for every ``sample_rate``-th frame, in order.

    ``t`` comes from the video's frame clock (``info.clock``, the container's timestamps) when
    there is one, else from the decoder's positions. ``stats["decoded"]`` (when given) counts
    every frame read, sampled or skipped.
    """
    cap = cv2.VideoCapture(str(info.path))
    clock = FrameClock(info.fps) if info.clock is None else _ContainerClock(info.clock)
    index = 0
    try:
        while True:
            if stats is not None:
                stats["decoded"] = index
            before = cap.get(cv2.CAP_PROP_POS_MSEC)
            if index % sample_rate:
                if not cap.grab():
                    return
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


def extract_features(
    video: str | os.PathLike,
    output: str | os.PathLike,
    *,
    config: DetectorConfig | None = None,
    labels: FrameLabels | str | os.PathLike | None = None,
    sample_rate: int = 1,
    video_id: str | None = None,
    progress: ProgressCallback | None = None,
) -> ExtractionResult:
    """Run the detectors over a video and write the per-frame features to ``output`` (Parquet)."""
    import pandas as pd

    started = time.perf_counter()
    config = config or DetectorConfig()
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

    total = (info.frame_count + sample_rate - 1) // sample_rate
    indices: list[int] = []
    times: list[float] = []
    detections: list[FrameDetections] = []
    with Detector(config) as detector:
        object_detector = detector.object_info
        decode_stats: dict = {}
        for index, t, det in detector.process_stream(iter_frames(info, sample_rate=sample_rate, stats=decode_stats)):
            indices.append(index)
            times.append(t)
            detections.append(det)
            if progress is not None:
                progress(len(indices), max(total, len(indices)))
    if not detections:
        raise InputError(f"{info.path.name}: no frame could be decoded")
    decoded = max(decode_stats.get("decoded", 0), indices[-1] + 1)
    if labels is not None:
        labels.check_within(decoded)

    frame = detections_frame(
        video_id=video_id,
        frame_index=np.array(indices),
        t=np.array(times),
        detections=detections,
        width=info.width,
        height=info.height,
        with_objects=config.uses_yolo,
    )
    if labels is not None:
        frame["label"] = pd.Series(labels.for_frames(frame["frame_index"].to_numpy()), dtype="string")
    metadata = {
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
    write_features(frame, output, metadata)
    detected = {
        "pose": int(frame["pose_present"].sum()),
        "left_hand": int(frame["left_hand_present"].sum()),
        "right_hand": int(frame["right_hand_present"].sum()),
        "objects": int((frame["num_objects"] > 0).sum()) if config.uses_yolo else 0,
    }
    return ExtractionResult(
        output=output,
        video_id=video_id,
        num_frames=len(frame),
        num_labeled=int(frame["label"].notna().sum()) if "label" in frame else 0,
        columns=list(frame.columns),
        detected=detected,
        seconds=time.perf_counter() - started,
        info=info,
        object_detector=object_detector,
    )


def write_features(frame: pd.DataFrame, output: str | os.PathLike, metadata: dict) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
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

    raw = (pq.read_schema(path).metadata or {}).get(METADATA_KEY)
    return json.loads(raw) if raw else {}
