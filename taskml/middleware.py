"""Requests that meet an unreachable database answer 503 with a JSON body, never a trace.

PostgreSQL restarting (or failing over) closes every connection; until it is back, any query
raises ``OperationalError`` / ``InterfaceError``. The views of /api/v1/ and /backend/ map them
in ``taskml.api_errors``; this middleware does the same for every other view (pages, admin,
login). Each request opens a fresh connection (CONN_MAX_AGE 0, CONN_HEALTH_CHECKS), so the
first request after the database is back succeeds.
"""

from __future__ import annotations

import logging

from django.db import DatabaseError, InterfaceError, OperationalError, connections
from django.http import JsonResponse

log = logging.getLogger("taskml.api")

DATABASE_UNAVAILABLE = "the database is unavailable; try again in a few seconds"
RETRY_AFTER_SECONDS = "5"


def is_database_unavailable(exc: BaseException) -> bool:
    """A lost or refused connection, not a query's own error (a constraint, bad SQL)."""
    if isinstance(exc, InterfaceError):
        return True
    if not isinstance(exc, OperationalError):
        return False
    # An OperationalError on a live connection (a lock timeout, a cancelled statement) is the
    # query's problem; one on a connection that is gone or was never made is the database's.
    for conn in connections.all(initialized_only=True):
        if conn.connection is None or not conn.is_usable():
            return True
    return "connect" in str(exc).lower() or "terminat" in str(exc).lower() or "closed" in str(exc).lower()


def forget_broken_connections() -> None:
    """Drop connections that died, so the next query in this thread reconnects."""
    for conn in connections.all(initialized_only=True):
        try:
            if conn.connection is not None and not conn.is_usable():
                conn.close()
        except DatabaseError:
            conn.connection = None


def unavailable_response(body: dict) -> JsonResponse:
    response = JsonResponse(body, status=503)
    response["Retry-After"] = RETRY_AFTER_SECONDS
    return response


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not is_database_unavailable(exception):
            return None
        log.warning("database unavailable during %s %s: %s", request.method, request.path, exception)
        forget_broken_connections()
        return unavailable_response({"detail": DATABASE_UNAVAILABLE})
