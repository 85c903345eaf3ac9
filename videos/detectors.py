"""The detectors' configuration, from the settings: one home for what every caller of the
detectors (extraction jobs, the ``extract_features`` command, live sessions) fills in the same way."""

from __future__ import annotations

from django.conf import settings

from taskml import storage
from taskml.pipeline.detectors import DetectorConfig


def detector_config(*, kind: str, yolo_model: str = "", device: str = "") -> DetectorConfig:
    """``kind``'s detectors; YOLO weights and device default to TASKML_YOLO_MODEL and TASKML_DEVICE
    (no YOLO weights: the fetched COCO SSD in TASKML_MODELS_DIR); exported models are cached under
    the data directory. How much work each frame gets (TASKML_OBJECT_EVERY_K, TASKML_POSE_COMPLEXITY,
    TASKML_HANDS_COMPLEXITY) is the same for extraction and live sessions."""
    return DetectorConfig(
        kind=kind,
        yolo_model=yolo_model or settings.TASKML_YOLO_MODEL,
        device=device or settings.TASKML_DEVICE,
        cache_dir=storage.data_dir() / "cache" / "models",
        models_dir=settings.TASKML_MODELS_DIR,
        object_every_k=settings.TASKML_OBJECT_EVERY_K,
        pose_complexity=settings.TASKML_POSE_COMPLEXITY,
        hands_complexity=settings.TASKML_HANDS_COMPLEXITY,
    )
