"""Errors the pipeline raises for problems a caller can fix.

Each message is one readable line; interfaces (CLI, API) show it as it is.
"""


class PipelineError(Exception):
    """Base class: a failure that is reported to the user as one line."""


class InputError(PipelineError):
    """The caller's input is wrong (missing file, bad CSV, empty features...).

    ``param`` names the parameter at fault when there is one, so an API can say which field.
    """

    def __init__(self, message: str = "", *, param: str | None = None):
        super().__init__(message)
        self.param = param


class TooLarge(InputError):
    """The work asked for would exceed a limit (memory, size, time) before it starts.

    ``estimate`` and ``limit`` are in ``unit`` ("bytes" or "seconds"), for interfaces that answer
    with numbers (a size past its limit is a 413, a time a 400).
    """

    def __init__(
        self, message: str, *, param: str | None = None, estimate: float = 0, limit: float = 0, unit: str = "bytes"
    ):
        super().__init__(message, param=param)
        self.estimate = estimate
        self.limit = limit
        self.unit = unit


class DependencyError(PipelineError):
    """Something the pipeline needs cannot be obtained (model weights, a device)."""


class IntegrityError(PipelineError):
    """A stored artifact does not match the checksum recorded for it."""


class Cancelled(PipelineError):
    """The progress callback asked the running job to stop."""
