"""A trained model's predictions over a whole video, as files other tools read
(csv, activitynet results, Label Studio predictions) and as Label Studio ML backend results.

Windows are predicted from the video's newest feature file made with the detector the model
was trained on (the offline code the live session and labelling rounds use: ``predict_windows``),
then placed on frames through the video's clock (``interchange.window_spans``).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from jobs.models import JobStatus
from models_app.models import TrainedModel
from models_app.selectors import trained_model_detector
from models_app.services import trained_model_load
from taskml import storage
from taskml.domain import ValidationFailed
from taskml.pipeline.errors import InputError
from taskml.pipeline.interchange import (
    PREDICTION_FORMATS,
    ExportMeta,
    LabelFile,
    Span,
    ls_results,
    window_spans,
    write_label_file,
)
from taskml.pipeline.online import ModelRunner, predict_windows
from videos.interchange import export_meta
from videos.models import FeatureFile, Video
from videos.selectors import feature_file_latest
from videos.services import video_clock


def video_feature_file(*, video: Video, detector: str, field: str = "video") -> FeatureFile:
    """The video's newest extracted feature file made with ``detector``."""
    found = feature_file_latest(video=video, detector=detector) if detector else None
    if found is None:
        raise ValidationFailed(
            field,
            f"{video.stored_name} has no extracted feature file with the {detector or 'model'} detector the model "
            "was trained on; extract one first",
        )
    return found


def feature_rows(feature_file: FeatureFile, names: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(t, frame_index, values) of a feature file, in time order, one row per time."""
    path = storage.absolute(feature_file.path)
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError):
        raise InputError(f"{feature_file.filename} is not a readable features file") from None
    missing = [c for c in ("t", "frame_index", *names) if c not in schema.names]
    if missing:
        raise InputError(f"{feature_file.filename} lacks the model's columns {', '.join(missing[:5])}")
    table = pq.read_table(path, columns=["t", "frame_index", *names])
    t = table.column("t").to_numpy(zero_copy_only=False).astype(np.float64)
    frames = table.column("frame_index").to_numpy(zero_copy_only=False).astype(np.int64)
    values = np.column_stack(
        [table.column(c).to_numpy(zero_copy_only=False).astype(np.float32, copy=False) for c in names]
    )
    order = np.argsort(t, kind="stable")
    t, frames, values = t[order], frames[order], values[order]
    keep = np.concatenate([[True], np.diff(t) > 0]) if len(t) else np.zeros(0, bool)
    values = values[keep]
    values[~np.isfinite(values)] = np.nan
    return t[keep], frames[keep], values


def model_version_name(model: TrainedModel) -> str:
    """How a prediction names its model (Label Studio's model_version)."""
    return f"{model.filename or f'model_{model.pk}'}@v{model.version}"


def video_predicted_spans(*, model: TrainedModel, video: Video) -> list[Span]:
    """The model's predictions over every window of the video, as spans with scores."""
    if model.status != JobStatus.SUCCEEDED:
        raise ValidationFailed("model", f"{model} is not trained ({model.status})")
    if video.owner_id != model.owner_id:
        raise ValidationFailed("video", f"{video.stored_name} and the model belong to different people")
    feature_file = video_feature_file(video=video, detector=trained_model_detector(model)[0])
    runner = ModelRunner(trained_model_load(trained_model=model))
    try:
        t, _, values = feature_rows(feature_file, runner.feature_names)
    except InputError as exc:
        raise ValidationFailed("video", str(exc)) from None
    starts, probabilities = predict_windows(t, values, runner)
    return window_spans(starts, probabilities, runner.labels, window_sec=runner.spec.window_sec,
                        clock=video_clock(video=video))  # fmt: skip


def video_predictions_export(*, model: TrainedModel, video: Video, fmt: str, **meta) -> LabelFile:
    if fmt not in PREDICTION_FORMATS:
        raise ValidationFailed("format", f"{fmt!r} unknown; use one of {', '.join(PREDICTION_FORMATS)}")
    spans = video_predicted_spans(model=model, video=video)
    info = export_meta(video=video, model_version=model_version_name(model), **meta)
    exported = write_label_file(fmt, spans, video_clock(video=video), info)
    stem = exported.filename.rsplit(".", 1)
    return LabelFile(exported.data, exported.content_type, f"{stem[0]}_predictions_v{model.version}.{stem[1]}")


def video_ls_prediction(*, model: TrainedModel, video: Video, meta: ExportMeta, rate: float | None = None) -> dict:
    """One Label Studio prediction (``result`` with timelinelabels, ``score``, ``model_version``);
    frames counted at ``rate``, the project's ``<Video frameRate>``."""
    spans = video_predicted_spans(model=model, video=video)
    results = ls_results(spans, video_clock(video=video), meta, rate=rate)
    scores = [s.score for s in spans if s.score is not None]
    return {
        "result": results,
        "score": round(float(np.mean(scores)), 6) if scores else 0.0,
        "model_version": model_version_name(model),
    }
