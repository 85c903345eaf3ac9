"""A job's memory allowance (jobs.memory), on the real process: resident memory past the allowance
stops the job at its next progress report; far past it, or for too long, the watcher records the
failure and ends the (pool) process itself."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from lightgbm.basic import LightGBMError

from jobs.memory import is_allocation_failure

ROOT = Path(__file__).resolve().parents[2]  # the project: the fresh interpreters import its apps


def test_a_job_past_its_allowance_is_stopped_at_its_next_report_and_the_memory_counts_from_its_start():
    """In a fresh interpreter: inside the whole suite, memory that earlier tests' threads free
    while this one runs would shrink the resident figure it reads and hide the growth it makes."""
    code = textwrap.dedent(
        """
        import time
        import numpy as np
        from jobs.memory import MemoryWatch
        from taskml.pipeline.errors import TooLarge
        MB = 2**20
        # Blocks above glibc's mmap threshold (32 MB at most), so each one is fresh memory of its own.
        held = np.ones(80 * MB // 8)  # what the worker held before the job: not the job's
        with MemoryWatch(80 * MB, preload=()) as watch:
            watch.check()
            small = np.ones(40 * MB // 8)
            time.sleep(0.4)
            watch.check()  # 40 MB of 80: goes on
            print("under: went on")
            big = np.ones(55 * MB // 8)  # 95 MB: over, but under 1.25 x the allowance
            # the watcher samples every 0.1 s; on a loaded machine its first sample may come late
            deadline = time.monotonic() + 10
            try:
                while time.monotonic() < deadline:
                    watch.check()
                    time.sleep(0.1)
                print("over: not stopped")
            except TooLarge as exc:
                print("over: " + str(exc))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "under: went on", out.stdout
    assert lines[1].startswith("over: too large: the job grew its worker by "), out.stdout
    assert "more than one job may use (80.0 MiB, TASKML_WORKER_MAX_MEMORY_MB)" in lines[1]


def test_a_job_growing_far_past_its_allowance_in_one_call_is_ended_with_its_failure_recorded(tmp_path):
    """In a pool process (IN_POOL), the watcher records the failure, then ends the process."""
    record = tmp_path / "failure.txt"
    code = textwrap.dedent(
        f"""
        import pathlib, time
        import numpy as np
        from jobs.memory import IN_POOL, MemoryWatch
        IN_POOL.set()
        with MemoryWatch(50 * 2**20, preload=(), on_hard_stop=pathlib.Path({str(record)!r}).write_text):
            huge = np.ones(200 * 2**20 // 8)  # one native call: no progress report in between
            time.sleep(5)
        print("still alive")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == -9 and "still alive" not in out.stdout, out.stdout + out.stderr
    assert record.read_text().startswith("too large: the job grew its worker by ")


@pytest.mark.parametrize(
    "exc,expected",
    [
        (MemoryError("Unable to allocate 69.0 GiB"), True),
        (RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 1 bytes"), True),
        (OSError(12, "Cannot allocate memory"), True),
        (RuntimeError("shapes do not match"), False),
        (ValueError("out of memory"), False),
        (LightGBMError("std::bad_alloc"), True),
        (LightGBMError("Check failed: (num_data) > (0)"), False),
    ],
)
def test_allocation_failures_are_told_from_other_errors(exc, expected):
    assert is_allocation_failure(exc) is expected


def test_malloc_arenas_are_capped_in_a_fresh_process_and_zero_leaves_glibc_alone():
    """The cap a worker pool process sets (TASKML_MALLOC_ARENAS): applied through glibc's mallopt."""
    code = "from jobs.memory import limit_malloc_arenas as cap; print(cap(2), cap(0))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.stdout.split() == ["True", "False"], out.stdout + out.stderr
