"""Frames in, one prediction per window out: the live session's loop without the server.

Source → detectors (the model's own detector configuration) → per-frame features (the
extractor's code) → rolling window and smoothing (``LivePredictor``, as a live session) →
``PortableModel`` (onnxruntime) → one dict per completed window.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from taskml.pipeline.detectors import Detector
from taskml.pipeline.errors import InputError
from taskml.pipeline.extraction import probe_video
from taskml.pipeline.online import LivePredictor, SmoothingSpec, WindowPrediction
from taskml.pipeline.sources import Timings, capture_frames, check_stream_url, file_frames

from .model import PortableModel
from .objects import object_stage


@dataclass
class RunSummary:
    frames: int = 0
    windows: int = 0
    frames_dropped: int = 0


def prediction_record(model: PortableModel, index: int, t: float, window: WindowPrediction) -> dict:
    """One JSON line: the (smoothed) label with its confidence and probabilities, and the window."""
    probabilities = window.smoothed_probabilities
    label = window.smoothed_label
    return {
        "t": round(float(t), 4),
        "frame_index": int(index),
        "label": label,
        "confidence": round(float(probabilities[model.labels.index(label)]), 6),
        "probabilities": {name: round(float(p), 6) for name, p in zip(model.labels, probabilities, strict=True)},
        "window": {"start": round(window.start, 4), "end": round(window.end, 4), "label": window.label},
        "model_sha256": model.model_sha256,
    }


def open_source(
    *, video=None, camera: int | None = None, url: str | None = None, realtime: bool = False, timings: Timings, stop
) -> Iterator[tuple[int, float, object]]:
    """The frames of exactly one source, as live sessions read them (sources.py)."""
    chosen = [name for name, value in (("video", video), ("camera", camera), ("url", url)) if value is not None]
    if len(chosen) != 1:
        raise InputError("give exactly one source: --video PATH, --camera N or --url URL")
    if video is not None:
        probe_video(video)  # refused now, not at the first frame
        return file_frames(video, realtime=realtime, timings=timings, should_stop=stop.is_set)
    if camera is not None:
        return capture_frames(int(camera), timings=timings, should_stop=stop.is_set)
    return capture_frames(check_stream_url(url), timings=timings, should_stop=stop.is_set)


def make_detector(model: PortableModel, objects_model=None) -> Detector:
    """The detectors the model's features came from: MediaPipe as recorded, and the recorded object
    model (the TFLite SSD, checked by sha256, or YOLO from ``objects_model``, an ONNX export)."""
    config = model.detector_config()
    objects = object_stage(config, model.object_model(), objects_model) if config.uses_yolo else None
    return Detector(config, objects=objects)


def run(
    model: PortableModel,
    frames: Iterator[tuple[int, float, object]],
    detector: Detector,
    emit: Callable[[dict], None],
    *,
    smoothing: SmoothingSpec | None = None,
    timings: Timings | None = None,
) -> RunSummary:
    """Predict every window of ``frames``; ``emit`` gets one record per completed window."""
    summary = RunSummary()
    predictor: LivePredictor | None = None
    shape: list[tuple[int, int]] = []
    last = (0, 0.0)

    def remember_shape(source):
        for index, t, frame in source:
            if not shape:
                shape.append(frame.shape[:2])
            yield index, t, frame

    with detector:
        # Short queues, as a live session: a frame waits behind at most two others.
        for index, t, detections in detector.process_stream(remember_shape(frames), queue_size=2):
            if predictor is None:
                height, width = shape[0]
                predictor = LivePredictor(
                    model, width=width, height=height, with_objects=detector.config.uses_yolo, smoothing=smoothing
                )
            summary.frames += 1
            last = (index, t)
            for window in predictor.push(t, detections):
                summary.windows += 1
                emit(prediction_record(model, index, t, window))
    if predictor is not None:
        for window in predictor.finish():  # the windows offline would still place at the end
            summary.windows += 1
            emit(prediction_record(model, last[0], last[1], window))
    if timings is not None:
        summary.frames_dropped = timings.skipped
    return summary
