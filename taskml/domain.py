"""Errors the service layer raises; interfaces map them to HTTP answers in one place.

Each names the input field it concerns (when there is one) so an API can say which field
was wrong. Pipeline errors (taskml.pipeline.errors) are input errors without a field.
"""

from __future__ import annotations


class ServiceError(Exception):
    status_code = 400

    def __init__(self, field: str | None, message: str, *, extra: dict | None = None):
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message
        self.extra = extra or {}  # more keys for the answer's body (e.g. a suggested fix)


class ValidationFailed(ServiceError):
    """The caller's input is wrong."""


class NotFound(ServiceError):
    """No object of the caller's by that name or id."""

    status_code = 404


class Conflict(ServiceError):
    """The request clashes with the state of other objects (e.g. a delete with dependents)."""

    status_code = 409


class TooLarge(ServiceError):
    status_code = 413


class TooManyRequests(Conflict):
    """The caller already has as much work going as one user may (answered 429 with Retry-After).

    A Conflict, so that code starting work on a trigger (a schedule, a threshold) skips the tick
    as it does for a busy policy.
    """

    status_code = 429

    def __init__(self, field: str | None, message: str, *, retry_after: int = 30):
        super().__init__(field, message)
        self.retry_after = retry_after


def field_error(exc, default_field: str = "params") -> ServiceError:
    """A pipeline InputError as the service error an interface answers: the field it names (its
    ``param``), 413 for work past a limit (pipeline TooLarge), 400 otherwise."""
    from taskml.pipeline.errors import TooLarge as WorkTooLarge

    field = getattr(exc, "param", None) or default_field
    message = str(exc)
    for prefix in (f"{field}: ", f"{field} "):
        if message.startswith(prefix):
            message = message[len(prefix) :]
            break
    too_large = isinstance(exc, WorkTooLarge) and exc.unit == "bytes"
    return (TooLarge if too_large else ValidationFailed)(field, message)
