"""One set of detectors per live worker process, kept between sessions.

Building the MediaPipe graphs (and the object model) for each live session cost seconds of start
and grew a live worker process's memory by 60–140 MB per session (133 → 547 MB over 20 sessions
under bench/load.py): memory the allocator never gave back. A worker process runs one session at
a time, so it keeps the detectors of its last session (one ``DetectorConfig``; another config
replaces them) and :meth:`Detector.reset` makes them forget the last stream. After a session the
C heap is trimmed (``malloc_trim``), so the frames and buffers it freed go back to the system.

Nothing of a session stays here: the cache holds detectors only, never frames, buffers or outboxes.
TASKML_LIVE_DETECTOR_CACHE=False builds and closes the detectors per session, as before.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import threading
from collections.abc import Iterator

from django.conf import settings

from taskml.pipeline.detectors import Detector, DetectorConfig

log = logging.getLogger(__name__)

_lock = threading.Lock()
_idle: dict[DetectorConfig, Detector] = {}  # at most one entry: the last session's detectors


@contextlib.contextmanager
def live_detector(config: DetectorConfig) -> Iterator[Detector]:
    """Detectors for one session: the cached ones (reset) when the config matches, else new ones."""
    if not settings.TASKML_LIVE_DETECTOR_CACHE:
        with Detector(config) as detector:
            yield detector
        return
    with _lock:
        detector = _idle.pop(config, None)  # taken: two sessions never share one
    if detector is not None:
        detector.reset()
    else:
        detector = Detector(config)
    try:
        yield detector
    except BaseException:
        detector.close()  # its state after a failure is unknown: not kept
        raise
    with _lock:
        for other in [c for c in _idle if c != config]:
            _idle.pop(other).close()
        previous = _idle.pop(config, None)
        _idle[config] = detector
    if previous is not None:
        previous.close()


def cached() -> int:
    """Detector sets kept (for tests and logs)."""
    with _lock:
        return len(_idle)


def clear() -> None:
    with _lock:
        detectors = list(_idle.values())
        _idle.clear()
    for detector in detectors:
        detector.close()


def trim_heap() -> None:
    """Give the C heap's free memory back to the system (glibc's malloc_trim; elsewhere nothing)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        log.debug("malloc_trim is not available here")
