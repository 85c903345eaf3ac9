"""Errors the pipeline raises for problems a caller can fix.

Each message is one readable line; interfaces (CLI, API) show it as it is.
"""


class PipelineError(Exception):
    """Base class: a failure that is reported to the user as one line."""


class InputError(PipelineError):
    """The caller's input is wrong (missing file, bad CSV, empty features...)."""


class DependencyError(PipelineError):
    """Something the pipeline needs cannot be obtained (model weights, a device)."""


class IntegrityError(PipelineError):
    """A stored artifact does not match the checksum recorded for it."""


class Cancelled(PipelineError):
    """The progress callback asked the running job to stop."""
