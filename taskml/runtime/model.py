"""An exported taskml model (one ONNX file) behind the interface live inference uses.

``PortableModel`` answers what :class:`taskml.pipeline.online.LivePredictor` asks of a runner
(``labels``, ``feature_names``, ``spec``, ``predict(windows)``), so the runtime keeps the
rolling window and smooths exactly as a live session on the server does, with onnxruntime in
place of the pickled estimator. Everything it needs comes from the file's metadata_props.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import fields
from pathlib import Path

import numpy as np

from taskml.pipeline.detectors import DetectorConfig
from taskml.pipeline.errors import InputError, IntegrityError
from taskml.pipeline.onnx_export import EXPORT_FORMAT, INPUT, LABEL, PROBABILITIES, read_metadata
from taskml.pipeline.windows import WindowSpec

MAX_MODEL_BYTES = 1 << 30  # an exported model is a few MB; refuse anything absurd before parsing
# Format 1 files (no ``objects`` record in their detector metadata) still run: a model made
# with the default detector names it, and the object model's sha256 is then the pinned one.
READABLE_FORMATS = (1, EXPORT_FORMAT)
REQUIRED = ("format", "model_sha256", "class_names", "feature_names", "window_sec", "step_sec", "resample_fps")


def _session(data: bytes, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


class PortableModel:
    """An exported model loaded in onnxruntime, checked against its own metadata.

    ``expected_sha256`` (optional): the file's sha256 as the export reported it; a file whose
    bytes differ is refused before onnxruntime parses it.
    """

    def __init__(self, path: str | os.PathLike, *, expected_sha256: str | None = None, threads: int = 1) -> None:
        path = Path(path)
        if not path.is_file():
            raise InputError(f"model file not found: {path}")
        size = path.stat().st_size
        if size > MAX_MODEL_BYTES:
            raise InputError(f"{path.name} is {size / 1e6:.0f} MB; an exported taskml model is far smaller")
        data = path.read_bytes()
        self.file_sha256 = hashlib.sha256(data).hexdigest()
        if expected_sha256 and not hmac.compare_digest(self.file_sha256, expected_sha256.strip().lower()):
            raise IntegrityError(f"{path.name} does not match the sha256 given; refusing to load it")
        try:
            self.session = _session(data, threads)
        except Exception as exc:  # onnxruntime's own types (InvalidProtobuf, Fail, …)
            reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
            raise InputError(f"{path.name} is not an ONNX model onnxruntime can run ({reason})") from None
        meta = read_metadata(dict(self.session.get_modelmeta().custom_metadata_map))
        missing = [key for key in REQUIRED if key not in meta]
        if missing:
            raise InputError(f"{path.name} is not a taskml export (metadata lacks {', '.join(missing)})")
        if meta["format"] not in READABLE_FORMATS:
            readable = " and ".join(str(f) for f in READABLE_FORMATS)
            raise InputError(f"{path.name} is export format {meta['format']}; this runtime reads {readable}")
        self.metadata = meta
        self.labels: list[str] = [str(name) for name in meta["class_names"]]
        self.feature_names: list[str] = [str(name) for name in meta["feature_names"]]
        self.spec = WindowSpec(
            window_sec=float(meta["window_sec"]),
            step_sec=float(meta["step_sec"]),
            resample_fps=float(meta["resample_fps"]),
            min_purity=float(meta.get("min_purity") or 0.6),
        )
        self.model_sha256 = str(meta["model_sha256"])
        inputs = {i.name: i for i in self.session.get_inputs()}
        outputs = {o.name for o in self.session.get_outputs()}
        if INPUT not in inputs or not {PROBABILITIES, LABEL} <= outputs:
            raise InputError(f"{path.name} lacks the input {INPUT!r} or the outputs {PROBABILITIES!r}, {LABEL!r}")
        shape = inputs[INPUT].shape
        if list(shape[1:]) != [self.spec.frames, len(self.feature_names)]:
            raise InputError(
                f"{path.name}: input {INPUT} is {shape}, but its metadata says "
                f"{self.spec.frames} frames × {len(self.feature_names)} features"
            )

    @property
    def version(self) -> str:
        return self.model_sha256[:12]

    def detector_config(self) -> DetectorConfig:
        """The detectors the model's features came from, as the export recorded them."""
        recorded = self.metadata.get("detector")
        if not isinstance(recorded, dict):
            raise InputError("the model does not say which detectors made its features; export it again")
        known = {f.name for f in fields(DetectorConfig)}
        settings = {k: v for k, v in recorded.items() if k != "objects"}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise InputError(f"the model's detector settings {unknown} are unknown to this runtime; update taskml")
        values = {k: v for k, v in settings.items() if v is not None}
        try:
            return DetectorConfig(**{**values, "device": "cpu"})
        except (TypeError, AttributeError, ValueError):  # values of the wrong type in a damaged file
            raise InputError("the model's detector settings cannot be read; export it again") from None

    def object_model(self) -> dict | None:
        """The object model the export recorded (backend, file name, sha256, thresholds), if any."""
        detector = self.metadata.get("detector")
        recorded = detector.get("objects") if isinstance(detector, dict) else None
        return recorded if isinstance(recorded, dict) else None

    def predict(self, windows: np.ndarray) -> np.ndarray:
        """(n, frames, features) raw feature windows → (n, classes) probabilities."""
        x = np.ascontiguousarray(windows, dtype=np.float32)
        return self.session.run([PROBABILITIES], {INPUT: x})[0].astype(np.float64)
