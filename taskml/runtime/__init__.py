"""The portable runtime: an exported model (one ONNX file) on a video, camera or stream, anywhere.

``python -m taskml.runtime --model model.onnx --video clip.mp4`` prints one JSON line per window.
Django-free, and imports neither torch nor scikit-learn: its dependencies are
requirements-runtime.txt (mediapipe, onnxruntime, opencv, numpy). The per-frame features,
window sampling and smoothing are the pipeline's own code (taskml.pipeline.features, .windows,
.online), so it predicts what a live session on the server predicts for the same model.
"""

from .model import PortableModel

__all__ = ["PortableModel"]
