"""Per-frame detectors: MediaPipe pose and hands, YOLO objects, and their fusion.

One interface: ``Detector.process(rgb) -> FrameDetections`` for a single frame (live use), and
``Detector.process_stream(frames)`` for a whole video, which runs decoding and each model in
its own thread so that the models overlap on the available cores. Each model still sees its
frames in order, so MediaPipe's tracking behaves exactly as in the one-frame-at-a-time loop.
"""

from __future__ import annotations

import hashlib
import os
import queue
import re
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .errors import DependencyError, InputError
from .objects import DEFAULT_MODELS_DIR, DEFAULT_OBJECT_MODEL, make_object_detector

os.environ.setdefault("YOLO_OFFLINE", "true")  # ultralytics: no network probes at import time
os.environ.setdefault("YOLO_VERBOSE", "false")
os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's C++ info/warning lines on stderr
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DETECTOR_KINDS = ("fusion", "mediapipe", "yolo")
_DEVICE_RE = re.compile(r"^(cpu|cuda(:\d+)?)$")


@dataclass(frozen=True)
class DetectorConfig:
    kind: str = "fusion"  # fusion = pose + hands + objects; mediapipe = pose + hands; yolo
    # The object model: YOLO weights/config, a .tflite SSD, or "" / DEFAULT_OBJECT_MODEL for the
    # pretrained COCO SSD that scripts/fetch_models.sh installs (objects.py).
    yolo_model: str = DEFAULT_OBJECT_MODEL
    device: str = "cpu"
    pose_complexity: int = 1  # MediaPipe pose model: 0 lite, 1 full, 2 heavy
    hands_complexity: int = 1  # MediaPipe hands model: 0 lite, 1 full
    # Run the object detector on every k-th frame (frame_index % k == 0) and carry its boxes to
    # the frames between: objects move slowly next to hands, and the detector costs as much as
    # pose. 1: every frame. The schedule follows the frame index, so a chunk of a video sees the
    # same detector frames as the whole video does.
    object_every_k: int = 1
    min_detection_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    yolo_conf: float = 0.25  # ultralytics' predict defaults
    yolo_iou: float = 0.7
    yolo_imgsz: int = 640
    # MediaPipe names hands as if the image were a mirrored selfie; recorded video is not.
    mirrored: bool = False
    # "auto": ONNX Runtime on the CPU (same weights, faster kernels), torch on CUDA.
    yolo_backend: str = "auto"
    cache_dir: Path | None = None  # where converted YOLO models are kept between runs
    models_dir: Path | None = None  # where scripts/fetch_models.sh put its models (data/models)
    object_threshold: float | None = None  # TFLite SSD: minimum score (None: objects.SSD_SCORE_THRESHOLD)

    def __post_init__(self) -> None:
        if not (self.yolo_model or "").strip():
            object.__setattr__(self, "yolo_model", DEFAULT_OBJECT_MODEL)
        if self.kind not in DETECTOR_KINDS:
            raise InputError(f"detector {self.kind!r} unknown; choose one of {', '.join(DETECTOR_KINDS)}")
        if not _DEVICE_RE.match(self.device):
            raise InputError(f"device {self.device!r} not understood; use cpu or cuda:N")
        if self.pose_complexity not in (0, 1, 2):
            raise InputError(f"pose complexity must be 0, 1 or 2, got {self.pose_complexity}")
        if self.hands_complexity not in (0, 1):
            raise InputError(f"hands complexity must be 0 or 1, got {self.hands_complexity}")
        if not isinstance(self.object_every_k, int) or self.object_every_k < 1:
            raise InputError(f"object detector interval must be a positive integer, got {self.object_every_k!r}")
        if self.yolo_backend not in ("auto", "onnx", "torch"):
            raise InputError(f"yolo backend {self.yolo_backend!r} unknown; use auto, onnx or torch")

    @property
    def uses_mediapipe(self) -> bool:
        return self.kind in ("fusion", "mediapipe")

    @property
    def uses_yolo(self) -> bool:
        return self.kind in ("fusion", "yolo")


@dataclass(frozen=True)
class FrameDetections:
    """What the detectors found in one frame; ``None`` where nothing was found."""

    pose: np.ndarray | None = None  # (33, 4) x, y, z, visibility, normalised to the image
    pose_world: np.ndarray | None = None  # (33, 3) metres, hip-centred
    left_hand: np.ndarray | None = None  # (21, 3) the person's left hand
    right_hand: np.ndarray | None = None
    object_names: tuple[str, ...] = ()
    object_boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))  # xyxy px
    object_confidences: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))


# --------------------------------------------------------------------------- MediaPipe


POSE_MODELS = {0: "pose_landmark_lite.tflite", 1: "pose_landmark_full.tflite", 2: "pose_landmark_heavy.tflite"}
# The lite and heavy models as scripts/fetch_models.sh fetches them (@mediapipe/pose on npm, whose
# full model is byte for byte the wheel's); installed only with this digest.
FETCHED_POSE_SHA256 = {
    "pose_landmark_lite.tflite": "f17bfbecadb61c3be1baa8b8d851cc6619c870a87167b32848ad20db306b9d61",
    "pose_landmark_heavy.tflite": "59e42d71bcd44cbdbabc419f0ff76686595fd265419566bd4009ef703ea8e1fe",
}


def pose_model_check(complexity: int, models_dir: Path | None = None, *, mediapipe_dir: Path | None = None) -> None:
    """Make sure MediaPipe finds the pose model of this complexity, or refuse in one line.

    MediaPipe's wheel carries only the full model (complexity 1); the lite and heavy ones it would
    download on first use. When scripts/fetch_models.sh has fetched them into ``models_dir``
    (``mediapipe/``), the verified file is installed where MediaPipe looks, as its own download
    would be; otherwise the request is refused instead of a download traceback. ``mediapipe_dir``:
    MediaPipe's package folder (the installed one by default).
    """
    if mediapipe_dir is None:
        import mediapipe as mp

        mediapipe_dir = Path(mp.__file__).parent
    name = POSE_MODELS[complexity]
    model = mediapipe_dir / "modules" / "pose_landmark" / name
    if model.is_file():
        return
    fetched = Path(models_dir or DEFAULT_MODELS_DIR) / "mediapipe" / name
    if not fetched.is_file():
        raise InputError(
            f"pose complexity {complexity} needs MediaPipe's {name}, which this installation does not have "
            "(MediaPipe would download it): run scripts/fetch_models.sh, or use pose complexity 1"
        )
    data = fetched.read_bytes()
    if hashlib.sha256(data).hexdigest() != FETCHED_POSE_SHA256[name]:
        raise InputError(
            f"{fetched} is not the {name} scripts/fetch_models.sh fetches (sha256 differs); fetch it again"
        )
    partial = model.with_name(f".{name}.{uuid.uuid4().hex}.tmp")
    try:
        partial.write_bytes(data)
        os.replace(partial, model)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise InputError(
            f"pose complexity {complexity}: cannot install {name} into {model.parent} ({exc.strerror or exc})"
        ) from None


class PoseDetector:
    role = "pose"  # the name its timings go by

    def __init__(self, config: DetectorConfig) -> None:
        import mediapipe as mp

        pose_model_check(config.pose_complexity, config.models_dir)
        self._pose = mp.solutions.pose.Pose(
            static_image_mode=False,
            model_complexity=config.pose_complexity,
            min_detection_confidence=config.min_detection_confidence,
            min_tracking_confidence=config.min_tracking_confidence,
        )

    def process(self, rgb: np.ndarray) -> dict:
        result = self._pose.process(rgb)
        if result.pose_landmarks is None:
            return {}
        pose = np.array([(p.x, p.y, p.z, p.visibility) for p in result.pose_landmarks.landmark], np.float32)
        world = np.full((33, 3), np.nan, np.float32)
        if result.pose_world_landmarks is not None:
            world = np.array([(p.x, p.y, p.z) for p in result.pose_world_landmarks.landmark], np.float32)
        return {"pose": pose, "pose_world": world}

    def reset(self) -> None:
        """Forget the tracked person (a new video follows); the graph and its models stay loaded."""
        self._pose.reset()

    def close(self) -> None:
        self._pose.close()


class HandsDetector:
    role = "hands"

    def __init__(self, config: DetectorConfig) -> None:
        import mediapipe as mp

        self._mirrored = config.mirrored
        self._hands = mp.solutions.hands.Hands(
            static_image_mode=False,
            max_num_hands=2,
            model_complexity=config.hands_complexity,
            min_detection_confidence=config.min_detection_confidence,
            min_tracking_confidence=config.min_tracking_confidence,
        )

    def process(self, rgb: np.ndarray) -> dict:
        result = self._hands.process(rgb)
        if not result.multi_hand_landmarks:
            return {}
        found = []
        for landmarks, handedness in zip(result.multi_hand_landmarks, result.multi_handedness, strict=True):
            best = handedness.classification[0]
            side = best.label.lower()
            if not self._mirrored:
                side = "left" if side == "right" else "right"
            points = np.array([(p.x, p.y, p.z) for p in landmarks.landmark], np.float32)
            found.append((best.score, side, points))
        hands: dict = {}
        # Two hands labelled alike: the surer one keeps the label, the other takes the free side.
        for _, side, points in sorted(found, key=lambda item: -item[0]):
            key = f"{side}_hand"
            if key in hands:
                key = "left_hand" if key == "right_hand" else "right_hand"
            hands.setdefault(key, points)
        return hands

    def reset(self) -> None:
        self._hands.reset()

    def close(self) -> None:
        self._hands.close()


# --------------------------------------------------------------------------- YOLO


def _load_yolo(spec: str):
    """An ultralytics model from a config (``*.yaml``: untrained, built locally) or weights.

    Weights are loaded by ultralytics' own loader; a name it does not find locally is
    downloaded, which fails without network — reported as one line saying what to do.
    """
    import torch
    from ultralytics import YOLO

    try:
        if spec.endswith((".yaml", ".yml")):
            # An untrained model is only useful if it is the same model every time.
            with torch.random.fork_rng():
                torch.manual_seed(0)
                return YOLO(spec)
        return YOLO(spec)
    except Exception as exc:  # ultralytics raises many types for "not found / no network"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DependencyError(
            f"cannot load YOLO model {spec!r} ({reason[:160]}); without network, point "
            f"--yolo-model (or TASKML_YOLO_MODEL) at a local weights file such as /path/to/yolov8n.pt, "
            f"or use yolov8n.yaml for an untrained model"
        ) from None


def _weights_key(model) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


def letterbox(image: np.ndarray, size: int, stride: int = 32) -> tuple[np.ndarray, float, tuple[float, float]]:
    """Resize keeping the aspect ratio and pad to a multiple of ``stride`` (as ultralytics does)."""
    h, w = image.shape[:2]
    r = min(size / h, size / w)
    new_w, new_h = round(w * r), round(h * r)
    dw, dh = (size - new_w) % stride / 2, (size - new_h) % stride / 2
    if (w, h) != (new_w, new_h):
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    top, bottom = round(dh - 0.1), round(dh + 0.1)
    left, right = round(dw - 0.1), round(dw + 0.1)
    image = cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(114, 114, 114))
    return image, r, (left, top)


class ObjectDetector:
    """YOLO through ultralytics' torch model, or the same weights run by ONNX Runtime."""

    role = "objects"

    def __init__(self, config: DetectorConfig) -> None:
        self.config = config
        self._yolo = _load_yolo(config.yolo_model)
        self.names: dict[int, str] = dict(self._yolo.names)
        backend = config.yolo_backend
        if backend == "auto":
            backend = "torch" if config.device.startswith("cuda") else "onnx"
        if config.device.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                raise DependencyError(
                    f"device {config.device} requested but no CUDA GPU is available; use --device cpu"
                )
            if backend == "onnx":
                raise InputError("the onnx YOLO backend runs on the CPU only; use --device cpu")
        self.backend = backend
        self._session = self._onnx_session() if backend == "onnx" else None
        self.info = {
            "backend": f"yolo-{backend}",
            "model": config.yolo_model,
            "weights": _weights_key(self._yolo),
            # A config builds an untrained network: real code path, no real objects.
            "untrained": config.yolo_model.endswith((".yaml", ".yml")),
        }

    def _onnx_session(self):
        import onnxruntime as ort

        cache = Path(self.config.cache_dir or Path.home() / ".cache" / "taskml")
        cache.mkdir(parents=True, exist_ok=True)
        stem = Path(self.config.yolo_model).stem
        final = cache / f"{stem}-{_weights_key(self._yolo)}.onnx"
        if not final.exists():
            # ultralytics writes the export beside pt_path: give it a unique name, then rename.
            tmp_stem = cache / f".{stem}-{uuid.uuid4().hex}"
            self._yolo.model.pt_path = str(tmp_stem.with_suffix(".pt"))
            try:
                exported = self._yolo.export(
                    format="onnx", dynamic=True, simplify=False, imgsz=self.config.yolo_imgsz, verbose=False
                )
                os.replace(exported, final)
            finally:
                tmp_stem.with_suffix(".onnx").unlink(missing_ok=True)
        options = ort.SessionOptions()
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        return ort.InferenceSession(str(final), options, providers=["CPUExecutionProvider"])

    def process(self, rgb: np.ndarray) -> dict:
        if self._session is None:
            return self._process_torch(rgb)
        return self._process_onnx(rgb)

    def _process_torch(self, rgb: np.ndarray) -> dict:
        result = self._yolo.predict(
            np.ascontiguousarray(rgb[..., ::-1]),  # ultralytics reads numpy frames as BGR
            conf=self.config.yolo_conf,
            iou=self.config.yolo_iou,
            imgsz=self.config.yolo_imgsz,
            device=self.config.device,
            verbose=False,
        )[0]
        boxes = result.boxes
        classes = boxes.cls.cpu().numpy().astype(int)
        return {
            "object_names": tuple(self.names[c] for c in classes),
            "object_boxes": boxes.xyxy.cpu().numpy().astype(np.float32),
            "object_confidences": boxes.conf.cpu().numpy().astype(np.float32),
        }

    def _process_onnx(self, rgb: np.ndarray) -> dict:
        import torch
        import torchvision

        h, w = rgb.shape[:2]
        image, ratio, (pad_x, pad_y) = letterbox(rgb, self.config.yolo_imgsz)
        blob = np.ascontiguousarray(image.transpose(2, 0, 1)[None], dtype=np.float32) / 255.0
        out = self._session.run(None, {self._session.get_inputs()[0].name: blob})[0][0].T  # (N, 4 + classes)
        scores = out[:, 4:]
        classes = scores.argmax(axis=1)
        conf = scores[np.arange(len(scores)), classes]
        keep = conf > self.config.yolo_conf
        xywh, conf, classes = out[keep, :4], conf[keep], classes[keep]
        boxes = np.concatenate([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2], axis=1)
        if len(boxes):
            kept = torchvision.ops.batched_nms(
                torch.from_numpy(boxes), torch.from_numpy(conf), torch.from_numpy(classes), self.config.yolo_iou
            ).numpy()[:300]
            boxes, conf, classes = boxes[kept], conf[kept], classes[kept]
        boxes = (boxes - np.array([pad_x, pad_y, pad_x, pad_y], np.float32)) / ratio
        boxes = np.clip(boxes, 0, [w, h, w, h]).astype(np.float32)
        return {
            "object_names": tuple(self.names[int(c)] for c in classes),
            "object_boxes": boxes.reshape(-1, 4),
            "object_confidences": conf.astype(np.float32),
        }

    def close(self) -> None:
        self._session = None


# --------------------------------------------------------------------------- fusion


_END = object()
_CARRY = object()  # the object stage's input on a frame it skips: carry its last result


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class Detector:
    """The detectors a ``DetectorConfig`` asks for, behind one ``process`` interface."""

    def __init__(self, config: DetectorConfig, *, objects=None) -> None:
        """``objects``: an object stage to use instead of building ObjectDetector (anything with
        ``process(rgb) -> dict`` and ``close()``; the portable runtime's ONNX-only detector)."""
        self.config = config
        self._stages: list = []
        if config.uses_mediapipe:
            self._stages += [PoseDetector(config), HandsDetector(config)]
        self.object_info: dict | None = None
        if config.uses_yolo:
            # ONNX Runtime's default (one thread per core) measured fastest even beside the
            # MediaPipe threads: bench/extraction.py, 17.3 fps against 15.1 with one thread.
            objects = objects if objects is not None else make_object_detector(config)
            self.object_info = dict(getattr(objects, "info", None) or {}) or None
            self._stages.append(objects)
        # The object stage (last when present) runs on every k-th frame; the others on every frame.
        self._every = [1] * len(self._stages)
        if config.uses_yolo:
            self._every[-1] = config.object_every_k
        self._carried: list[dict | None] = [None] * len(self._stages)
        self._frames = 0  # frames seen by process() (live use: its frames have no index)
        # Seconds and calls of each model (what a detector costs per frame it runs on).
        self.timings: dict[str, list[float]] = {self._stage_name(stage): [0.0, 0] for stage in self._stages}

    @staticmethod
    def _stage_name(stage) -> str:
        return getattr(stage, "role", "objects")  # an object detector of any backend is the objects stage

    def _runs_on(self, position: int, index: int) -> bool:
        """Whether stage ``position`` runs on frame ``index`` (else its last result is carried)."""
        every = self._every[position]
        return every == 1 or index % every == 0 or self._carried[position] is None

    def _timed(self, position: int, stage, rgb: np.ndarray) -> dict:
        started = time.perf_counter()
        result = stage.process(rgb)
        timing = self.timings[self._stage_name(stage)]
        timing[0] += time.perf_counter() - started
        timing[1] += 1
        if self._every[position] > 1:
            self._carried[position] = result
        return result

    def process(self, rgb: np.ndarray) -> FrameDetections:
        merged: dict = {}
        for position, stage in enumerate(self._stages):
            if self._runs_on(position, self._frames):
                merged.update(self._timed(position, stage, rgb))
            else:
                merged.update(self._carried[position])
        self._frames += 1
        return FrameDetections(**merged)

    def process_stream(
        self, frames: Iterable[tuple[int, float, np.ndarray]], *, queue_size: int = 8
    ) -> Iterator[tuple[int, float, FrameDetections]]:
        """Detect on ``(frame_index, t, bgr)`` items; yields results in input order.

        Decoding runs in one thread and each model in its own, so they overlap; each model
        still sees every frame in order. Closing the generator stops the threads.
        """
        stop = threading.Event()
        inputs = [queue.Queue(maxsize=queue_size) for _ in self._stages]
        outputs = [queue.Queue(maxsize=queue_size) for _ in self._stages]
        order: queue.Queue = queue.Queue()

        def put(q: queue.Queue, item) -> bool:
            while not stop.is_set():
                try:
                    q.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def feed() -> None:
            try:
                for index, t, bgr in frames:
                    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                    rgb.flags.writeable = False
                    order.put((index, t))
                    items = [
                        rgb if self._every[i] == 1 or index % self._every[i] == 0 else (_CARRY, rgb)
                        for i in range(len(inputs))
                    ]
                    if not all(put(q, item) for q, item in zip(inputs, items, strict=True)):
                        return
                order.put(_END)
            except BaseException as exc:  # surfaced to the consumer below
                order.put(_Failure(exc))
            for q in inputs:
                put(q, _END)

        def work(position: int, stage, source: queue.Queue, sink: queue.Queue) -> None:
            while not stop.is_set():
                try:
                    item = source.get(timeout=0.1)
                except queue.Empty:
                    continue
                if item is _END:
                    return
                try:
                    if isinstance(item, tuple):  # (_CARRY, rgb): between two runs of the stage
                        result = self._carried[position]
                        if result is None:  # nothing to carry yet (a stream starting off the schedule)
                            result = self._timed(position, stage, item[1])
                    else:
                        result = self._timed(position, stage, item)
                except BaseException as exc:
                    put(sink, _Failure(exc))
                    return
                if not put(sink, result):
                    return

        threads = [threading.Thread(target=feed, name="taskml-decode", daemon=True)]
        threads += [
            threading.Thread(target=work, args=(n, stage, i, o), name=f"taskml-{type(stage).__name__}", daemon=True)
            for n, (stage, i, o) in enumerate(zip(self._stages, inputs, outputs, strict=True))
        ]
        for thread in threads:
            thread.start()
        try:
            while True:
                head = order.get()
                if head is _END:
                    return
                if isinstance(head, _Failure):
                    raise head.exc
                merged: dict = {}
                for sink in outputs:
                    part = sink.get()
                    if isinstance(part, _Failure):
                        raise part.exc
                    merged.update(part)
                yield head[0], head[1], FrameDetections(**merged)
        finally:
            stop.set()
            for q in inputs + outputs:
                while not q.empty():
                    q.get_nowait()
            for thread in threads:
                thread.join(timeout=5)

    def reset(self) -> None:
        """Ready for another, unrelated stream: trackers start afresh, models stay loaded (building
        MediaPipe graphs anew for each live session grew a worker's memory by 60–140 MB a session)."""
        for stage in self._stages:
            reset = getattr(stage, "reset", None)  # object detectors keep no state between frames
            if reset is not None:
                reset()

    def close(self) -> None:
        for stage in self._stages:
            stage.close()

    def __enter__(self) -> Detector:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
