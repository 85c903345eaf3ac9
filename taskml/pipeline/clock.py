"""The frame clock: when each frame of a video is shown, from the container's own timestamps.

Labels that land on the wrong frames are the commonest interoperability bug: a file written
at another frame rate, a container whose first timestamp is not 0, a variable frame rate.
``probe_clock`` reads the presentation timestamp of every video packet (demuxing only, no
decoding: a 1 GB file takes about a second) and ``VideoClock`` is the ONE place where seconds
become frames and frames become seconds (label imports and exports, windows, the labeller's
axis, live sessions over a video).

Conventions:
- Seconds are *media time*: frame 0 is shown at 0.0 s, as every player shows it. The
  container's first timestamp (``first_timestamp``) is reported, not added.
- Frame ``i`` is shown from ``timestamps[i]`` until ``timestamps[i + 1]`` (the last frame for
  one more median interval), so frames ``a..b`` (inclusive) cover ``[start_of(a), end_of(b))``.
- Boundaries read back snap to the nearest frame boundary: an export → import round trip is
  exact, and a time written with a few decimals still lands on the intended frame.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from .errors import InputError

VFR_SPREAD = 0.10  # frame intervals (5th..95th percentile) spread by more than this share: variable rate
FPS_TOLERANCE = 0.001  # a labels file's fps may differ from the video's by 0.1 %


@dataclass(frozen=True)
class VideoClock:
    """Per-frame presentation times (seconds from the first frame, non-decreasing)."""

    timestamps: np.ndarray
    nominal_fps: float  # what the container declares (0.0 when it declares nothing)
    first_timestamp: float = 0.0  # container time of frame 0, seconds
    time_base: str = ""  # the stream's time base, e.g. "1/1000"
    duplicated: int = 0  # frames whose timestamp equals the previous frame's
    missing: int = 0  # packets without any timestamp (interpolated)
    synthetic: bool = False  # built from a frame rate, not read from a container

    def __post_init__(self) -> None:
        ts = np.asarray(self.timestamps, dtype=np.float64)
        if ts.ndim != 1 or len(ts) == 0:
            raise InputError("a frame clock needs at least one frame")
        object.__setattr__(self, "timestamps", ts)

    # ------------------------------------------------------------ facts

    @property
    def frame_count(self) -> int:
        return len(self.timestamps)

    @property
    def intervals(self) -> np.ndarray:
        return np.diff(self.timestamps)

    @property
    def median_interval(self) -> float:
        d = self.intervals
        d = d[d > 0]
        if len(d):
            return float(np.median(d))
        return 1.0 / self.nominal_fps if self.nominal_fps > 0 else 1.0 / 30

    @property
    def last_interval(self) -> float:
        """How long the last frame is shown: the interval before it (the median when there is none)."""
        d = self.intervals
        d = d[d > 0]
        return float(d[-1]) if len(d) else self.median_interval

    @property
    def duration(self) -> float:
        """From the first frame's start to the last frame's end, seconds."""
        return float(self.timestamps[-1] + self.last_interval)

    @property
    def mean_fps(self) -> float:
        span = float(self.timestamps[-1] - self.timestamps[0])
        if self.frame_count < 2 or span <= 0:
            return self.nominal_fps
        return (self.frame_count - 1) / span

    @property
    def interval_spread(self) -> float:
        """(95th − 5th percentile of the frame intervals) / median interval."""
        d = self.intervals
        if len(d) < 2:
            return 0.0
        lo, hi = np.percentile(d, [5, 95])
        return float((hi - lo) / self.median_interval)

    @property
    def gaps(self) -> int:
        """Frames that seem to be missing from a constant-rate video: intervals over 1.5 × the
        median, counted in medians (0 for a variable rate, where long intervals are the rate)."""
        if self.variable:
            return 0
        d = self.intervals
        m = self.median_interval
        big = d[d > 1.5 * m]
        return int(np.sum(np.round(big / m) - 1)) if len(big) else 0

    @property
    def variable(self) -> bool:
        return self.interval_spread > VFR_SPREAD

    @property
    def irregular(self) -> bool:
        """Anything a labeller should be warned about (a non-zero first timestamp alone is not:
        B-frame reordering gives most files one, and media time starts at frame 0 anyway)."""
        return bool(self.variable or self.duplicated or self.missing or self.gaps) or (
            self.nominal_fps > 0 and abs(self.mean_fps / self.nominal_fps - 1) > FPS_TOLERANCE
        )

    def facts(self) -> dict:
        """What the clock found, JSON-ready (stored on the video, shown on its page and in the API)."""
        return {
            "nominal_fps": round(self.nominal_fps, 6),
            "mean_fps": round(self.mean_fps, 6),
            "variable_frame_rate": self.variable,
            "interval_spread": round(self.interval_spread, 6),
            "first_timestamp": round(self.first_timestamp, 6),
            "duplicated_timestamps": int(self.duplicated),
            "missing_timestamps": int(self.missing),
            "gaps": self.gaps,
            "frame_count": self.frame_count,
            "duration": round(self.duration, 6),
            "time_base": self.time_base,
            "irregular": self.irregular,
            "synthetic": self.synthetic,
        }

    # ------------------------------------------------------------ the conversions

    def _index(self, frame: int) -> int:
        if not 0 <= frame < self.frame_count:
            raise InputError(
                f"frame {frame} is outside the video ({self.frame_count} frames, 0..{self.frame_count - 1})"
            )
        return int(frame)

    def start_of(self, frame: int) -> float:
        """Seconds at which ``frame`` is first shown."""
        return float(self.timestamps[self._index(frame)])

    def end_of(self, frame: int) -> float:
        """Seconds at which ``frame`` stops being shown (the next frame's start)."""
        i = self._index(frame)
        return float(self.timestamps[i + 1]) if i + 1 < self.frame_count else self.duration

    def boundaries(self) -> np.ndarray:
        """The n + 1 frame boundaries: every frame's start, then the end of the last frame."""
        return np.append(self.timestamps, self.duration)

    def nearest_boundary(self, seconds: float) -> int:
        """The frame boundary nearest to ``seconds``: where a span edge lands.

        0..n inside the video; past its end the boundaries go on every ``last_interval``, so a
        time beyond the end gives an index > n (callers refuse or drop those frames).
        """
        b = self.boundaries()
        if seconds > b[-1]:
            return len(b) - 1 + int(round((seconds - b[-1]) / self.last_interval))
        i = int(np.searchsorted(b, seconds, side="left"))
        if i == 0:
            return 0
        return i if (b[i] - seconds) < (seconds - b[i - 1]) else i - 1

    def frame_at(self, seconds: float) -> int:
        """The frame shown at ``seconds`` (a point event); ≥ frame_count past the end."""
        if seconds >= self.duration:
            return self.frame_count + int(np.floor((seconds - self.duration) / self.last_interval + 1e-6))
        # A few microseconds of slack: times written with limited precision sit on a boundary.
        i = int(np.searchsorted(self.timestamps, seconds + 1e-6, side="right")) - 1
        return max(i, 0)

    def frames_between(self, start: float, end: float) -> tuple[int, int] | None:
        """The frames ``(first, last)`` (inclusive) a span ``[start, end)`` in seconds covers.

        Both edges snap to the nearest frame boundary; ``None`` when the span is shorter than
        half a frame (it covers no frame). ``last`` may be past the video's end (see above).
        """
        first = self.nearest_boundary(start)
        stop = self.nearest_boundary(end)
        if stop <= first:
            return None
        return first, stop - 1

    def seconds_of(self, first: int, last: int) -> tuple[float, float]:
        """``[start, end)`` in seconds of frames ``first..last`` (inclusive)."""
        return self.start_of(first), self.end_of(last)

    def times_for(self, frames: np.ndarray) -> np.ndarray:
        """Start times of many frames at once (frames past the end extrapolate by the median interval)."""
        frames = np.asarray(frames, dtype=np.int64)
        inside = np.clip(frames, 0, self.frame_count - 1)
        out = self.timestamps[inside].copy()
        over = frames >= self.frame_count
        out[over] = self.timestamps[-1] + (frames[over] - self.frame_count + 1) * self.last_interval
        return out

    def frames_for(self, seconds: np.ndarray) -> np.ndarray:
        """``frame_at`` for many times at once."""
        i = np.searchsorted(self.timestamps, np.asarray(seconds, np.float64) + 1e-6, side="right") - 1
        return np.clip(i, 0, self.frame_count - 1)

    # ------------------------------------------------------------ storage

    def to_bytes(self) -> bytes:
        """The timestamps, compact: zlib of float64 differences (a regular clock packs to a few bytes)."""
        return zlib.compress(np.diff(self.timestamps, prepend=0.0).astype("<f8").tobytes(), 6)

    @staticmethod
    def timestamps_from_bytes(data: bytes) -> np.ndarray:
        raw = zlib.decompress(bytes(data))
        return np.cumsum(np.frombuffer(raw, dtype="<f8"))


def regular_clock(fps: float, frame_count: int) -> VideoClock:
    """``i / fps``: only for sources that have no container (pushed frames, old rows without a probe)."""
    fps = fps if fps and fps > 0 else 30.0
    return VideoClock(np.arange(max(frame_count, 1)) / fps, nominal_fps=fps, synthetic=True)


def probe_clock(path: str | os.PathLike) -> VideoClock:
    """Read the presentation timestamp of every video packet of ``path`` (no decoding).

    Packets come in decode order; sorted, their timestamps are the frames' presentation order,
    which is the order OpenCV (and every player) shows them in. Empty packets (AVI's packed
    B-frame placeholders) are not frames. A packet without a timestamp is interpolated and
    counted as ``missing``.

    Parameters
    ----------
    path : path-like
        A video file PyAV can open.

    Returns
    -------
    VideoClock

    Raises
    ------
    InputError
        The file cannot be opened or holds no video stream.
    """
    import av  # PyAV: the same FFmpeg demuxers OpenCV uses

    path = Path(path)
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise InputError(f"{path.name}: the container cannot be read ({exc})") from None
    try:
        if not container.streams.video:
            raise InputError(f"{path.name} has no video stream")
        stream = container.streams.video[0]
        time_base = stream.time_base or Fraction(1, 1000)
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        nominal = float(rate) if rate else 0.0
        stamps: list[float] = []
        missing_at: list[int] = []
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                pts = packet.pts if packet.pts is not None else packet.dts
                if pts is None:
                    missing_at.append(len(stamps))
                    stamps.append(np.nan)
                else:
                    stamps.append(float(pts * time_base))
        except av.FFmpegError:
            pass  # a truncated file: the frames before the damage are the video
    finally:
        container.close()
    if not stamps:
        raise InputError(f"{path.name}: no video frame in the container")
    values = np.array(stamps, dtype=np.float64)
    known = np.isfinite(values)
    if not known.any():
        step = 1.0 / nominal if nominal > 0 else 1.0 / 30
        values = np.arange(len(values)) * step
    else:
        values = np.sort(values[known]) if known.all() else _fill_missing(values, nominal)
    first = float(values[0])
    timestamps = values - first
    duplicated = int(np.sum(np.diff(timestamps) <= 0)) if len(timestamps) > 1 else 0
    return VideoClock(
        timestamps=timestamps,
        nominal_fps=nominal,
        first_timestamp=first,
        time_base=f"{time_base.numerator}/{time_base.denominator}",
        duplicated=duplicated,
        missing=len(missing_at),
    )


def _fill_missing(values: np.ndarray, nominal: float) -> np.ndarray:
    """Sort the known timestamps and place the unknown ones after their decode-order neighbour."""
    known = np.isfinite(values)
    step = 1.0 / nominal if nominal > 0 else float(np.median(np.diff(np.sort(values[known]))) or 1 / 30)
    filled = values.copy()
    last = np.nan
    for i, v in enumerate(filled):
        if np.isfinite(v):
            last = v
        else:
            last = (last if np.isfinite(last) else float(np.nanmin(values)) - step) + step
            filled[i] = last
    return np.sort(filled)


def fps_mismatch(declared: float, clock: VideoClock) -> bool:
    """Does a labels file's frame rate differ from the video's by more than 0.1 %?

    Both the container's nominal rate and the measured mean rate are accepted: a file written
    by a tool that measured the rate, and one that read the header, are both right.
    """
    candidates = [f for f in (clock.nominal_fps, clock.mean_fps) if f and f > 0]
    return bool(candidates) and all(abs(declared / f - 1) > FPS_TOLERANCE for f in candidates)
