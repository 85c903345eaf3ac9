"""The runtime's object stage: the object model the model's features came from, without torch.

``object_stage`` picks it from the export's detector metadata (``objects``: backend, file name,
sha256, thresholds):

- a TensorFlow Lite SSD (the default COCO detector, or another ``.tflite``): the extractor's own
  backend, ``taskml.pipeline.objects.TFLiteSSDDetector`` (LiteRT), on the file scripts/fetch_models.sh
  installed or the one ``--objects-model`` names, refused unless its bytes and its label map's
  are the ones the model records;
- YOLO: an ultralytics ONNX export given with ``--objects-model``, run by ``OnnxObjectDetector``.
  The server runs YOLO through onnxruntime too (``ObjectDetector._process_onnx``: letterbox,
  confidence filter, class-aware NMS by torchvision, at most 300 boxes); this stage repeats those
  steps, its NMS following torchvision's ``batched_nms`` in float32 step for step, so the same
  boxes survive.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

import numpy as np

from taskml.pipeline.detectors import DetectorConfig, letterbox
from taskml.pipeline.errors import InputError, IntegrityError
from taskml.pipeline.files import sha256_file
from taskml.pipeline.objects import (
    DEFAULT_OBJECT_MODEL,
    SSD_LABELS_SHA256,
    SSD_MODEL_SHA256,
    SSD_SCORE_THRESHOLD,
    SSD_SOURCE,
    TFLiteSSDDetector,
    default_detector_paths,
    is_tflite,
    labels_beside,
)

MAX_DETECTIONS = 300
VANILLA_ABOVE = 4000  # torchvision: per-class NMS when boxes.numel() exceeds this on the CPU


def _nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """torchvision's CPU ``nms``: indices kept, in decreasing score order (float32 arithmetic)."""
    x1, y1, x2, y2 = (boxes[:, i] for i in range(4))
    areas = (x2 - x1) * (y2 - y1)
    order = np.argsort(-scores, kind="stable")
    suppressed = np.zeros(len(boxes), bool)
    keep = []
    for position, i in enumerate(order):
        if suppressed[i]:
            continue
        keep.append(i)
        rest = order[position + 1 :]
        rest = rest[~suppressed[rest]]
        if not len(rest):
            continue
        w = np.maximum(np.float32(0), np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        h = np.maximum(np.float32(0), np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = w * h
        overlap = inter / (areas[i] + areas[rest] - inter)
        suppressed[rest[overlap > threshold]] = True
    return np.asarray(keep, np.int64)


def batched_nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, threshold: float) -> np.ndarray:
    """torchvision.ops.batched_nms on float32 numpy arrays: NMS within each class."""
    if not len(boxes):
        return np.zeros(0, np.int64)
    boxes = boxes.astype(np.float32, copy=False)
    if boxes.size > VANILLA_ABOVE:
        kept = np.zeros(len(boxes), bool)
        for c in np.unique(classes):
            members = np.flatnonzero(classes == c)
            kept[members[_nms(boxes[members], scores[members], threshold)]] = True
        indices = np.flatnonzero(kept)
        return indices[np.argsort(-scores[indices], kind="stable")]
    offsets = classes.astype(np.float32) * (boxes.max() + np.float32(1))
    return _nms(boxes + offsets[:, None], scores, threshold)


def _class_names(session) -> dict[int, str]:
    raw = session.get_modelmeta().custom_metadata_map.get("names")
    if not raw:
        raise InputError("the objects model names no classes (an ultralytics ONNX export has them in its metadata)")
    try:
        names = ast.literal_eval(raw)  # a literal dict, as ultralytics writes it: never evaluated as code
    except (ValueError, SyntaxError):
        raise InputError("the objects model's class names cannot be read") from None
    if not isinstance(names, dict):
        raise InputError("the objects model's class names cannot be read")
    return {int(k): str(v) for k, v in names.items()}


class OnnxObjectDetector:
    """YOLO-format ONNX object detection; ``process(rgb)`` returns the detector's object dict."""

    def __init__(self, path: str | os.PathLike, config: DetectorConfig) -> None:
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise InputError(f"objects model not found: {path}")
        self.config = config
        options = ort.SessionOptions()
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
            raise InputError(f"{path.name} is not an ONNX model onnxruntime can run ({reason})") from None
        self.names = _class_names(self._session)
        self._input = self._session.get_inputs()[0].name

    def process(self, rgb: np.ndarray) -> dict:
        h, w = rgb.shape[:2]
        image, ratio, (pad_x, pad_y) = letterbox(rgb, self.config.yolo_imgsz)
        blob = np.ascontiguousarray(image.transpose(2, 0, 1)[None], dtype=np.float32) / 255.0
        out = self._session.run(None, {self._input: blob})[0][0].T  # (anchors, 4 + classes)
        scores = out[:, 4:]
        classes = scores.argmax(axis=1)
        conf = scores[np.arange(len(scores)), classes]
        keep = conf > self.config.yolo_conf
        xywh, conf, classes = out[keep, :4], conf[keep], classes[keep]
        boxes = np.concatenate([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2], axis=1)
        if len(boxes):
            kept = batched_nms(boxes, conf, classes, self.config.yolo_iou)[:MAX_DETECTIONS]
            boxes, conf, classes = boxes[kept], conf[kept], classes[kept]
        boxes = (boxes - np.array([pad_x, pad_y, pad_x, pad_y], np.float32)) / ratio
        boxes = np.clip(boxes, 0, [w, h, w, h]).astype(np.float32)
        return {
            "object_names": tuple(self.names.get(int(c), str(int(c))) for c in classes),
            "object_boxes": boxes.reshape(-1, 4),
            "object_confidences": conf.astype(np.float32),
        }

    def close(self) -> None:
        self._session = None


# --------------------------------------------------------------------------- which stage


def describe(config: DetectorConfig, record: dict | None) -> str:
    """One phrase for the start line: which object model the runtime will run."""
    if not config.uses_yolo:
        return "no objects"
    record = _readable(record)
    backend = record.get("backend") or ("tflite-ssd" if is_tflite(config.yolo_model) else "yolo")
    sha = record.get("sha256") or (SSD_MODEL_SHA256 if config.yolo_model == DEFAULT_OBJECT_MODEL else None)
    return f"objects {backend} {record.get('model') or config.yolo_model}" + (f" (sha256 {sha[:12]}…)" if sha else "")


def _readable(record: dict | None) -> dict:
    """The export's ``objects`` record with the types this runtime relies on, or one clear refusal."""
    record = dict(record or {})
    strings = ("backend", "model", "sha256", "labels", "labels_sha256", "source")
    thresholds = record.get("class_thresholds")
    if (
        any(record.get(key) is not None and not isinstance(record[key], str) for key in strings)
        or not isinstance(record.get("score_threshold", 0.0) or 0.0, int | float)
        or (thresholds is not None and not isinstance(thresholds, dict))
        or any(not isinstance(v, int | float) for v in (thresholds or {}).values())
    ):
        raise InputError("the model's object detector record cannot be read; export the model again")
    return record


def object_stage(config: DetectorConfig, record: dict | None, path: str | os.PathLike | None = None):
    """The object stage for a model whose features include objects; ``record`` is the export's
    ``objects`` metadata (None in format-1 files), ``path`` the ``--objects-model`` file, if given."""
    record = _readable(record)
    backend = record.get("backend") or ("tflite-ssd" if is_tflite(config.yolo_model) else "yolo")
    if backend == TFLiteSSDDetector.backend:
        return _ssd_stage(config, record, path)
    if backend != "yolo":
        raise InputError(f"the model's object detector {backend!r} is unknown to this runtime; update taskml")
    if path is None:
        raise InputError(
            f"this model uses object features (detector {config.kind}, objects from {config.yolo_model}): "
            "pass --objects-model PATH.onnx, an ONNX export of that detector"
        )
    if Path(path).suffix.lower() != ".onnx":
        raise InputError(
            f"this model's objects came from YOLO ({config.yolo_model}): --objects-model must be an ONNX export of it"
        )
    if (record.get("model") or "").lower().endswith(".onnx") and record.get("sha256"):
        _check(Path(path), record["sha256"])  # the server ran this very ONNX file: the same bytes
    return OnnxObjectDetector(path, config)


def _check(file: Path, sha256: str) -> None:
    """Refuse an object model file whose bytes are not the ones the model's features came from."""
    if file.is_file() and sha256_file(file) != sha256:
        raise IntegrityError(
            f"{file.name} is not the file this model's object features came from "
            f"(the model records sha256 {sha256[:12]}…); use that detector's own file"
        )


def _ssd_stage(config: DetectorConfig, record: dict, path) -> TFLiteSSDDetector:
    default = config.yolo_model == DEFAULT_OBJECT_MODEL
    name = record.get("model") or config.yolo_model
    if path is None:
        if not default:
            raise InputError(
                f"this model's objects came from {name} (a TFLite SSD): pass --objects-model PATH.tflite, "
                "with its label map beside it (coco_labels.txt or labels.txt)"
            )
        # Where scripts/fetch_models.sh put it: data/models/ beside taskml/, or TASKML_MODELS_DIR as
        # on the server.
        model, labels = default_detector_paths(os.environ.get("TASKML_MODELS_DIR") or None)
        if not model.is_file() or not labels.is_file():
            raise InputError(
                f"this model's objects came from the default detector, which is not installed here ({model} "
                "missing): run scripts/fetch_models.sh (or set TASKML_MODELS_DIR), or pass --objects-model PATH.tflite"
            )
    else:
        model = Path(path)
        if model.suffix.lower() != ".tflite":
            raise InputError(f"this model's objects came from {name} (a TFLite SSD): --objects-model must be that file")
        if not model.is_file():
            raise InputError(f"objects model not found: {model}")
        labels = labels_beside(model)  # checked against the recorded label map's sha256 below
        if labels is None:
            raise InputError(f"{model.name}: put its label map beside it as coco_labels.txt or labels.txt")
    # The same bytes as the extractor's, or the features would silently differ.
    expected = record.get("sha256") or (SSD_MODEL_SHA256 if default else None)
    expected_labels = record.get("labels_sha256") or (SSD_LABELS_SHA256 if default else None)
    for file, sha in ((model, expected), (labels, expected_labels)):
        if sha:
            _check(file, sha)
    return TFLiteSSDDetector(
        model,
        labels,
        score_threshold=float(record.get("score_threshold") or config.object_threshold or SSD_SCORE_THRESHOLD),
        class_thresholds=record.get("class_thresholds"),
        source=record.get("source") or (SSD_SOURCE if default else None),
    )
