"""Errors → HTTP answers, in one place.

/api/v1/ answers DRF's usual shapes (``{"field": ["message"]}`` or ``{"detail": "..."}``);
views that set ``error_style = "backend"`` (the /backend/ contract) answer
``{"status": "error", "alert": "<field>: <message>"}``, the shape existing clients show.
Nothing ever answers with a stack trace.
"""

from __future__ import annotations

import logging

from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from taskml.domain import ServiceError
from taskml.middleware import (
    DATABASE_UNAVAILABLE,
    RETRY_AFTER_SECONDS,
    forget_broken_connections,
    is_database_unavailable,
)
from taskml.pipeline.errors import PipelineError
from taskml.pipeline.errors import TooLarge as WorkTooLarge

log = logging.getLogger("taskml.api")


def _flatten(detail, prefix: str = "") -> list[str]:
    if isinstance(detail, dict):
        out = []
        for key, value in detail.items():
            name = "" if key == "non_field_errors" else key
            out += _flatten(value, f"{prefix}.{name}" if prefix and name else prefix or name)
        return out
    if isinstance(detail, list):
        return [m for item in detail for m in _flatten(item, prefix)]
    return [f"{prefix}: {detail}" if prefix else str(detail)]


def alert(message: str, code: int, extra: dict | None = None) -> Response:
    """The /backend/ error shape; ``extra`` adds keys such as a refusal's ``suggestion``."""
    return Response({"status": "error", "alert": message, **(extra or {})}, status=code)


def api_exception_handler(exc, context):
    view = context.get("view")
    backend = getattr(view, "error_style", "") == "backend"
    if isinstance(exc, ServiceError):
        retry_after = getattr(exc, "retry_after", None)
        headers = {"Retry-After": str(retry_after)} if retry_after else None
        if backend:
            response = alert(str(exc), exc.status_code, exc.extra)
        else:
            body = {exc.field: [exc.message]} if exc.field and exc.status_code == 400 else {"detail": str(exc)}
            response = Response({**body, **exc.extra}, status=exc.status_code)
        for name, value in (headers or {}).items():
            response[name] = value
        return response
    if isinstance(exc, PipelineError):
        code = 413 if isinstance(exc, WorkTooLarge) and exc.unit == "bytes" else 400
        return alert(str(exc), code) if backend else Response({"detail": str(exc)}, status=code)
    if is_database_unavailable(exc):  # PostgreSQL restarting: a clean 503, and a fresh connection next time
        log.warning("database unavailable in %s: %s", type(view).__name__ if view else "a view", exc)
        forget_broken_connections()
        body = {"status": "error", "alert": DATABASE_UNAVAILABLE} if backend else {"detail": DATABASE_UNAVAILABLE}
        return Response(body, status=status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": RETRY_AFTER_SECONDS})
    response = exception_handler(exc, context)
    if response is None:
        log.exception("unhandled error in %s", type(view).__name__ if view else "a view", exc_info=exc)
        message = "internal error; the server log has the details"
        if backend:
            return alert(message, status.HTTP_500_INTERNAL_SERVER_ERROR)
        return Response({"detail": message}, status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    if backend:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else response.data
        response.data = {"status": "error", "alert": "; ".join(_flatten(detail))}
    return response
