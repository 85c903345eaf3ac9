"""Synthetic clips with a known frame clock, written by PyAV (FFmpeg's own muxers).

``vfr_clip``: a variable frame rate (intervals of 1/30 s, then 2/30 s, then 1/30 s again) and a
first timestamp of 1.5 s, in Matroska (millisecond time base). Each frame's grey level encodes
its index in eight black/white stripes (``frame_number``), so a test can check which frame a
decoder returned.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

# Frame times in seconds from the first frame: 30 frames at 30 fps, 30 at 15 fps, 30 at 30 fps.
VFR_INTERVALS = [1 / 30] * 29 + [2 / 30] * 30 + [1 / 30] * 30
VFR_START = 1.5


def vfr_times() -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(VFR_INTERVALS)])


def write_clip(path: Path, times: np.ndarray, *, start: float = 0.0, rate: int = 30, size=(64, 48)) -> Path:
    """A clip whose frame ``i`` is presented at container time ``start + times[i]`` (ms precision)."""
    import av

    width, height = size
    time_base = Fraction(1, 1000)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = time_base
        stream.codec_context.time_base = time_base
        for i, t in enumerate(times):
            image = np.zeros((height, width, 3), np.uint8)
            stripe = width // 8
            for bit in range(8):
                if (i >> bit) & 1:
                    image[:, bit * stripe : (bit + 1) * stripe] = 255
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts = int(round((start + t) * 1000))
            frame.time_base = time_base
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def frame_number(bgr: np.ndarray) -> int:
    """The index ``write_clip`` drew into a decoded frame."""
    stripe = bgr.shape[1] // 8
    return sum(1 << bit for bit in range(8) if bgr[:, bit * stripe + 2 : (bit + 1) * stripe - 2].mean() > 127)


def vfr_clip(directory: Path, name: str = "vfr_clip.mkv") -> Path:
    return write_clip(directory / name, vfr_times(), start=VFR_START)


def cfr_clip(directory: Path, name: str = "cfr_clip.mkv", *, frames: int = 60, fps: int = 25) -> Path:
    return write_clip(directory / name, np.arange(frames) / fps, rate=fps)
