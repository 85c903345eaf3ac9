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
