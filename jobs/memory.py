"""A job's memory allowance: past ``TASKML_WORKER_MAX_MEMORY_MB`` its allocations fail, not the worker.

While a job runs, the worker process's data limit (RLIMIT_DATA: heap and private writable
mappings, which every numpy, torch and LightGBM buffer is) is set to what the process holds when
the job starts plus the allowance. An allocation past it fails at once inside the job —
numpy raises MemoryError, torch "can't allocate memory", LightGBM ``std::bad_alloc`` — and the
job fails with error_kind ``too_large`` and a message, instead of the kernel killing the worker
when the machine runs out and the job being re-run from the start. The libraries jobs use are
loaded before the limit is set, so what they take counts for the worker, not for the job.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import logging
from collections.abc import Iterator

log = logging.getLogger(__name__)

try:
    import resource
except ImportError:  # pragma: no cover - not on POSIX: no allowance is enforced
    resource = None

# Libraries loaded before a job's allowance is measured (their import costs hundreds of MB once
# per worker process): the numerical ones for every kind of job but dataset builds.
PRELOAD = ("numpy", "torch", "sklearn.ensemble", "lightgbm")
ALLOCATION_FAILED = ("can't allocate memory", "cannot allocate memory", "bad_alloc", "out of memory")


def data_size() -> int:
    """The process's VmData in bytes (0 where /proc is not there)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmData:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def is_allocation_failure(exc: BaseException) -> bool:
    """An exception that means an allocation was refused (by the allowance or by the machine)."""
    if isinstance(exc, MemoryError):
        return True
    if isinstance(exc, OSError) and exc.errno == errno.ENOMEM:
        return True
    if isinstance(exc, RuntimeError | OSError) or type(exc).__name__ == "LightGBMError":
        text = str(exc).lower()
        return any(marker in text for marker in ALLOCATION_FAILED)
    return False


@contextlib.contextmanager
def memory_allowance(limit_bytes: int, *, preload: tuple[str, ...] = PRELOAD) -> Iterator[None]:
    """Run the block with at most ``limit_bytes`` more memory than the process holds now."""
    if resource is None or limit_bytes <= 0 or not hasattr(resource, "RLIMIT_DATA"):
        yield
        return
    for name in preload:
        try:
            importlib.import_module(name)
        except ImportError:  # pragma: no cover - a deployment without that library
            pass
    held = data_size()
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    cap = held + limit_bytes
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    if not held or (soft != resource.RLIM_INFINITY and soft < cap):  # no /proc, or a tighter limit already
        yield
        return
    resource.setrlimit(resource.RLIMIT_DATA, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))
