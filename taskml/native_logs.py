"""Native libraries' start-up chatter kept off stderr (MediaPipe, TensorFlow Lite).

Django-free: the management commands and the portable runtime (taskml.runtime) both use it.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
from collections.abc import Iterator

# MediaPipe's and TensorFlow Lite's C++ code logs start-up chatter straight to file
# descriptor 2; the CLI promises one readable line on error, so those lines are dropped.
_NATIVE_LOG = re.compile(
    r"^([WIE]\d{4} \d\d:\d\d:\d\d|INFO: Created TensorFlow Lite|WARNING: All log messages before absl)"
)


@contextlib.contextmanager
def quiet_native_logs() -> Iterator[None]:
    """Filter native libraries' log lines out of stderr; everything else passes through."""
    sys.stderr.flush()
    saved = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)
    # The pump's own copy of the real stderr, made here: the thread may start after ``saved`` is closed.
    pump_out = os.dup(saved)

    def pump() -> None:
        with os.fdopen(read_end, "rb") as reader, os.fdopen(pump_out, "wb", buffering=0) as out:
            pending = b""
            while chunk := reader.read1(65536) if hasattr(reader, "read1") else reader.read(65536):
                pending += chunk
                *lines, pending = re.split(rb"(?<=[\n\r])", pending)
                for line in lines:
                    if not _NATIVE_LOG.match(line.decode("utf-8", "replace")):
                        out.write(line)
            if pending and not _NATIVE_LOG.match(pending.decode("utf-8", "replace")):
                out.write(pending)

    thread = threading.Thread(target=pump, name="taskml-stderr-filter", daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # closes the pipe's last writer: the pump drains and ends
        os.close(saved)
        thread.join(timeout=5)
