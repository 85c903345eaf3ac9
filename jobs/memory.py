"""A job's memory allowance: past ``TASKML_WORKER_MAX_MEMORY_MB`` the job fails as too_large.

While a job runs, a thread reads the worker process's resident (anonymous) memory every 0.1 s. Once the job
has grown it by more than the allowance, the job's next progress report (the pipeline reports
between small units of work: a batch of trees, a chunk of windows) raises ``TooLarge`` and the job
fails with error_kind ``too_large`` and a message; the memory is freed and the worker takes the
next job. A job stuck inside one native call that keeps on growing (one huge allocation filled at
once) cannot be stopped from inside: past 1.25 × the allowance, or still over it 10 s later, the
watcher records the job as failed (too_large) itself and ends its pool process, which the worker
replaces; the job, already failed, is never run again — where otherwise the kernel would have
killed the worker once the machine ran out, and the job would have been run again from the start.

Resident memory, not an address-space limit (RLIMIT_AS/RLIMIT_DATA): allocators reserve address
space they never touch, and native thread pools (Arrow's parquet reader) hang rather than fail
when an allocation is refused. The libraries jobs use are loaded before the baseline is taken, so
what they take counts for the worker, not for the job.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import importlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

from taskml.pipeline.errors import TooLarge
from taskml.pipeline.estimates import format_bytes

log = logging.getLogger(__name__)

# Libraries loaded before a job's baseline is measured (their import costs hundreds of MB once per
# worker process): the numerical ones for every kind of job but dataset builds.
PRELOAD = ("numpy", "torch", "sklearn.ensemble", "lightgbm")
ALLOCATION_FAILED = ("can't allocate memory", "cannot allocate memory", "bad_alloc", "out of memory")
LIMIT_NAME = "TASKML_WORKER_MAX_MEMORY_MB"
HARD_FACTOR = 1.25  # past this × the allowance the job is ended without waiting for its next report
HARD_GRACE_SECONDS = 10.0  # over the allowance this long without a report: ended too
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
IN_POOL = threading.Event()  # set in Celery pool processes (jobs.worker): only there may a job end its process


M_ARENA_MAX = -8  # glibc's mallopt parameter: how many malloc arenas threads may spread over


def limit_malloc_arenas(arenas: int) -> bool:
    """Cap glibc's malloc arenas in this process (``TASKML_MALLOC_ARENAS``; 0 leaves glibc's 8 per
    core). Every thread that allocates gets an arena of its own up to that cap, and memory freed in
    one is not reused by the others: a live session's detector threads, new each session, left a
    worker's memory 20–50 MB higher after some sessions than after others. True when applied."""
    if arenas <= 0:
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(M_ARENA_MAX, arenas))
    except (OSError, AttributeError):  # not glibc
        return False


def resident_bytes() -> int:
    """The process's resident anonymous memory: resident minus file-backed and shared pages (a
    memory-mapped dataset read through is cache the kernel can drop, not the job's). 0 without /proc."""
    try:
        with open("/proc/self/statm") as statm:
            fields = statm.read().split()
        return (int(fields[1]) - int(fields[2])) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


def is_allocation_failure(exc: BaseException) -> bool:
    """An exception that means an allocation was refused (by the machine: overcommit, a cgroup)."""
    if isinstance(exc, MemoryError):
        return True
    if isinstance(exc, OSError) and exc.errno == errno.ENOMEM:
        return True
    lightgbm = sys.modules.get("lightgbm.basic")  # not loaded: the error cannot be LightGBM's
    native = (RuntimeError, OSError, *([lightgbm.LightGBMError] if lightgbm is not None else []))
    if isinstance(exc, native):
        text = str(exc).lower()
        return any(marker in text for marker in ALLOCATION_FAILED)
    return False


def too_large_message(used: int, limit: int) -> str:
    return (
        f"too large: the job grew its worker by {format_bytes(used)}, more than one job may use "
        f"({format_bytes(limit)}, {LIMIT_NAME}); ask for less (fewer or shorter windows, fewer trees, "
        "features or epochs) or raise the limit"
    )


class MemoryWatch:
    """Watches a running job's memory (see the module doc). ``check()`` from the job's progress
    reports raises TooLarge once it is over; ``on_hard_stop(message)`` is called from the watching
    thread when the job must be ended without waiting (it records the failure; then the process
    ends, in a pool process only)."""

    def __init__(
        self,
        limit_bytes: int,
        *,
        on_hard_stop: Callable[[str], None] | None = None,
        preload: tuple[str, ...] = PRELOAD,
        interval: float = 0.1,
    ):
        self.limit = limit_bytes
        self.on_hard_stop = on_hard_stop
        self.preload = preload
        self.interval = interval
        self.peak = 0
        self._over_since: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def enabled(self) -> bool:
        return self.limit > 0 and self.baseline > 0

    def check(self) -> None:
        """Raise TooLarge once the job has used more than its allowance."""
        if self._over_since is not None:
            raise TooLarge(too_large_message(self.peak, self.limit), param=None, estimate=self.peak, limit=self.limit)

    def _used(self) -> int:
        return max(resident_bytes() - self.baseline, 0)

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            used = self._used()
            self.peak = max(self.peak, used)
            if used <= self.limit:
                continue
            now = time.monotonic()
            if self._over_since is None:
                self._over_since = now
                log.warning("job over its memory allowance: %s > %s", format_bytes(used), format_bytes(self.limit))
            if used > HARD_FACTOR * self.limit or now - self._over_since > HARD_GRACE_SECONDS:
                self._hard_stop(used)
                return

    def _hard_stop(self, used: int) -> None:
        message = too_large_message(used, self.limit)
        log.error("ending the job's process: %s", message)
        try:
            if self.on_hard_stop is not None:
                self.on_hard_stop(message)
        finally:
            if IN_POOL.is_set():  # the pool replaces this process; the job, failed, is not run again
                os.kill(os.getpid(), signal.SIGKILL)

    def __enter__(self) -> MemoryWatch:
        for name in self.preload:
            try:
                importlib.import_module(name)
            except ImportError:  # pragma: no cover - a deployment without that library
                pass
        self.baseline = resident_bytes()
        if self.enabled:
            self._thread = threading.Thread(target=self._watch, name="taskml-memory-watch", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
