"""A database outage answers 503 + Retry-After in the API's error shape, logged in one line.

While PostgreSQL restarts (seconds) every query fails with OperationalError or
InterfaceError. Without this, each request got Django's HTML 500 page and a full
traceback in the log (about 200 a second under load). Now clients get
`{"code": "database_unavailable", ...}` with `Retry-After`, the log gets one line per
failed request (`DatabaseOutageLogFilter` also cuts the traceback from Django's own
500 log lines for errors raised outside views), and the broken connection is closed so
the next request opens a fresh one: the app recovers by itself once the database is back.
"""

from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError, connections
from django.http import JsonResponse

logger = logging.getLogger("pairrate.database")

OUTAGE_ERRORS = (OperationalError, InterfaceError)
RETRY_AFTER_SECONDS = 5


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _is_outage(exc: BaseException | None) -> bool:
    """The database could not be reached or its connection broke (both transient)."""
    return isinstance(exc, OUTAGE_ERRORS)


def outage_response() -> JsonResponse:
    response = JsonResponse(
        {"code": "database_unavailable", "detail": "the database is unavailable for a moment; retry shortly"},
        status=503,
    )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response._has_been_logged = True  # logged once, by the middleware; Django would add a second line
    return response


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not _is_outage(exception):
            return None
        logger.warning("database unavailable: %s %s -> 503: %s", request.method, request.path, _first_line(exception))
        for connection in connections.all(initialized_only=True):
            if not connection.in_atomic_block:
                connection.close()  # the next request reconnects
        return outage_response()


class DatabaseOutageLogFilter(logging.Filter):
    """Django logs uncaught errors with their traceback; for an outage keep one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if _is_outage(exc):
            record.msg, record.args = f"{record.getMessage()}: database unavailable: {_first_line(exc)}", ()
            record.exc_info, record.exc_text = None, None
        return True
