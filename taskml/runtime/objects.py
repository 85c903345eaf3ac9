"""Object detection for the runtime from an ONNX detector file, with numpy only (no torch).

The server runs YOLO through onnxruntime too (``ObjectDetector._process_onnx``: letterbox,
confidence filter, class-aware NMS by torchvision, at most 300 boxes). This stage reads the same
kind of file, an ultralytics ONNX export (output [1, 4 + classes, anchors], class names in its
metadata), and repeats those steps; the NMS below follows torchvision's ``batched_nms`` in
float32, step for step, so the same boxes survive.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

import numpy as np

from taskml.pipeline.detectors import DetectorConfig, letterbox
from taskml.pipeline.errors import InputError

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
