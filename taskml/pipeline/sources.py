"""Frame sources for live sessions: a video file (real time or as fast as possible), a
network stream or camera that OpenCV opens, and JPEG frames pushed by a client.

Each yields ``(frame_index, t, bgr)`` like ``extraction.iter_frames`` and records the wall
time each frame was decoded in ``decoded_at`` (for frame-to-viewer latency).
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator

import cv2
import numpy as np

from .errors import InputError
from .extraction import iter_frames, probe_video
from .params import Param

Frame = tuple[int, float, np.ndarray]
STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://", "rtmp://", "udp://", "tcp://")


class Timings:
    """Wall-clock decode times by frame index, bounded (a live stream never ends), and the
    number of frames skipped because detection fell behind the source."""

    def __init__(self, keep: int = 512):
        self.keep = keep
        self._at: dict[int, float] = {}
        self.skipped = 0

    def mark(self, index: int) -> None:
        self._at[index] = time.time()
        if len(self._at) > self.keep:
            for old in list(self._at)[: len(self._at) - self.keep]:
                del self._at[old]

    def pop(self, index: int) -> float | None:
        return self._at.pop(index, None)


# A camera of the machine a live worker runs on (OpenCV's index: /dev/videoN on Linux).
CAMERA_INDEX = Param("camera_index", 0, 0, 63, int, "the live worker machine's camera (OpenCV index)")


def file_frames(
    path, *, realtime: bool, timings: Timings, should_stop: Callable[[], bool] = lambda: False
) -> Iterator[Frame]:
    """A video file's frames; with ``realtime`` paced to the video's own clock, skipping frames
    (counted in ``timings.skipped``) whenever the consumer has fallen more than two frames behind,
    as a camera would. Without it, every frame as fast as the consumer takes them."""
    info = probe_video(path)
    max_lag = 2.0 / info.fps
    began = time.monotonic()
    for index, t, frame in iter_frames(info):
        if should_stop():
            return
        if realtime:
            delay = began + t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif -delay > max_lag:
                timings.skipped += 1
                continue
        timings.mark(index)
        yield index, t, frame


def check_stream_url(url: str) -> str:
    url = (url or "").strip()
    if not url.lower().startswith(STREAM_SCHEMES):
        raise InputError(f"stream URL must start with one of {', '.join(STREAM_SCHEMES)}; got {url[:80]!r}")
    return url


def capture_frames(
    target: str | int, *, timings: Timings, should_stop: Callable[[], bool] = lambda: False, open_timeout: float = 10
) -> Iterator[Frame]:
    """Frames of a network stream or camera, timed by the wall clock from the first frame.

    A reader thread keeps only the newest frame, so a consumer slower than the source sees
    the present, not a growing backlog (skipped frames are counted in ``timings.skipped``).
    """
    cap = cv2.VideoCapture()
    if isinstance(target, str):
        cap.open(target, cv2.CAP_FFMPEG, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(open_timeout * 1000)])
    else:
        cap.open(target)
    if not cap.isOpened():
        cap.release()
        what = f"camera {target}" if isinstance(target, int) else f"stream {target}"
        raise InputError(f"{what} could not be opened")
    latest: queue.Queue = queue.Queue(maxsize=1)
    done = threading.Event()

    def read() -> None:
        began = None
        index = 0
        try:
            while not done.is_set():
                ok, frame = cap.read()
                if not ok:
                    break
                now = time.monotonic()
                began = now if began is None else began
                item = (index, now - began, frame)
                try:
                    latest.put_nowait(item)
                except queue.Full:
                    with contextlib.suppress(queue.Empty):
                        latest.get_nowait()
                        timings.skipped += 1
                    latest.put_nowait(item)
                index += 1
        finally:
            with contextlib.suppress(queue.Full):
                latest.put(None, timeout=1)

    reader = threading.Thread(target=read, name="capture-reader", daemon=True)
    reader.start()
    produced = 0
    try:
        while not should_stop():
            try:
                item = latest.get(timeout=0.5)
            except queue.Empty:
                continue
            if item is None:
                if produced == 0:
                    raise InputError("the source opened but gave no frame")
                return
            timings.mark(item[0])
            produced += 1
            yield item
    finally:
        done.set()
        reader.join(timeout=5)
        cap.release()


MAX_PUSHED_GAP = 60.0


def pushed_frames(
    inbox: queue.Queue, *, timings: Timings, should_stop: Callable[[], bool], idle_timeout: float = 30.0
) -> Iterator[Frame]:
    """JPEG frames a client pushes (``inbox`` holds ``(jpeg bytes, t or None)``); None ends.

    A client's own times may not jump ahead by more than ``MAX_PUSHED_GAP`` seconds: the
    predictor fills every window of a gap, so a wild ``t`` would hold the worker for hours.
    """
    began = time.monotonic()
    index = 0
    last = time.monotonic()
    last_t: float | None = None
    while not should_stop():
        try:
            item = inbox.get(timeout=0.2)
        except queue.Empty:
            if time.monotonic() - last > idle_timeout:
                return
            continue
        if item is None:
            return
        last = time.monotonic()
        jpeg, t = item
        frame = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        if frame is None:
            continue  # not an image: skipped (the consumer already told the client)
        t = float(t) if t is not None else last - began
        if last_t is not None and t - last_t > MAX_PUSHED_GAP:
            raise InputError(
                f"pushed frame times jumped from {last_t:.3f} s to {t:.3f} s (at most {MAX_PUSHED_GAP:g} s at once)"
            )
        last_t = t if last_t is None else max(last_t, t)
        timings.mark(index)
        yield index, t, frame
        index += 1


def frame_at_time(path, seconds: float) -> np.ndarray:
    """The frame presented at container time ``seconds`` (BGR), found by its timestamp.

    OpenCV seeks by ``index / fps``, which lands on other frames when the rate varies; here the
    demuxer seeks to the keyframe before the time and the decoder runs to the frame whose
    timestamp is nearest to it.
    """
    import av

    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as exc:
        raise InputError(f"the video cannot be opened ({exc})") from None
    try:
        stream = container.streams.video[0]
        tb = stream.time_base
        container.seek(int(seconds / tb), stream=stream, backward=True, any_frame=False)
        best: tuple[float, object] | None = None
        for frame in container.decode(stream):
            if frame.pts is None:
                continue
            t = float(frame.pts * tb)
            if best is None or abs(t - seconds) < abs(best[0] - seconds):
                best = (t, frame)
            if t > seconds + 1e-6:
                break
    except av.FFmpegError as exc:
        raise InputError(f"the frame at {seconds:.3f} s could not be decoded ({exc})") from None
    finally:
        container.close()
    if best is None:
        raise InputError(f"no frame at {seconds:.3f} s")
    return best[1].to_ndarray(format="bgr24")


def frame_jpeg(
    path, index: int, *, max_width: int = 960, quality: int = 80, container_time: float | None = None
) -> bytes:
    """Frame ``index`` of a video as JPEG (scaled down to ``max_width``), for frame-accurate viewers.

    ``container_time`` (the frame clock's time of the frame, plus the first timestamp) finds the
    frame by its timestamp instead of OpenCV's ``index / fps`` seek: needed for irregular clocks.
    """
    if container_time is not None:
        return _encode(frame_at_time(path, container_time), max_width=max_width, quality=quality, index=index)
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise InputError("the video cannot be opened")
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        if index < 0 or (count and index >= count):
            raise InputError(f"frame {index} is outside the video (0..{count - 1})")
        if index:
            cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, frame = cap.read()
        if not ok or frame is None:
            raise InputError(f"frame {index} could not be decoded")
    finally:
        cap.release()
    return _encode(frame, max_width=max_width, quality=quality, index=index)


def _encode(frame: np.ndarray, *, max_width: int, quality: int, index: int) -> bytes:
    height, width = frame.shape[:2]
    if width > max_width:
        frame = cv2.resize(frame, (max_width, round(height * max_width / width)), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise InputError(f"frame {index} could not be encoded")
    return data.tobytes()
