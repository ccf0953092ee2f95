"""A database that cannot be reached, or a full disk, is answered plainly, never with a 500.

Django opens a new database connection for a request when the previous one broke, so once
PostgreSQL is back the next request simply works: nothing here has to recover.

The pages are rendered without the request: base.html's context (the signed-in user, the
messages) would need the very database that is gone.
"""

from __future__ import annotations

import errno
import logging
import sys
from collections.abc import Callable
from contextlib import suppress

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.views import defaults

logger = logging.getLogger(__name__)

DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
RETRY_AFTER_SECONDS = 30

UNAVAILABLE_MESSAGE = "The service is temporarily unavailable; please try again in a moment."
UPLOAD_NOT_STORED_MESSAGE = (
    "The service is temporarily unavailable; your file was not stored, please try again."
)
DISK_FULL_MESSAGE = (
    "The server has run out of storage space; your file was not stored. Please try again later."
)


def is_disk_full(error: BaseException | None) -> bool:
    return isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS


def _is_upload(request: HttpRequest) -> bool:
    match = getattr(request, "resolver_match", None)
    return request.method == "POST" and match is not None and match.view_name == "analyzer:upload"


def unavailable_response(message: str, *, status: int = 503) -> HttpResponse:
    """The 503 page (507 for a full disk) with ``message``, and when to come back."""
    response = HttpResponse(render_to_string("503.html", {"message": message}), status=status)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _response_for(
    request: HttpRequest, error: BaseException | None, *, in_view: bool
) -> HttpResponse | None:
    if isinstance(error, DATABASE_UNAVAILABLE):
        logger.warning("Database unavailable during %s %s: %s", request.method, request.path, error)
        # Within the upload view nothing is committed yet, and the service removes the
        # stored file when its row cannot be written: the upload is surely not kept.
        if in_view and _is_upload(request):
            return unavailable_response(UPLOAD_NOT_STORED_MESSAGE)
        return unavailable_response(UNAVAILABLE_MESSAGE)
    if is_disk_full(error):
        logger.error("Disk full during %s %s: %s", request.method, request.path, error)
        _discard_partial_uploads(request)
        return unavailable_response(DISK_FULL_MESSAGE, status=507)
    return None


def _discard_partial_uploads(request: HttpRequest) -> None:
    """Delete the part of an upload Django buffered to disk before the disk filled up.

    Django closes (and so deletes) such files only for a request parsed to the end.
    """
    for handler in getattr(request, "_upload_handlers", ()):
        buffered = getattr(handler, "file", None)
        if buffered is not None:
            with suppress(OSError):
                buffered.close()


class ServiceUnavailableMiddleware:
    """503 for a database error raised by a view; 507 for a full disk (e.g. while Django
    writes a large upload to a temporary file)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        return _response_for(request, exception, in_view=True)


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: the same answers for errors outside the views.

    E.g. the session saved after the view has answered. Whether an upload was stored by
    then is not known here, so the message does not say.
    """
    error = sys.exc_info()[1]
    return _response_for(request, error, in_view=False) or defaults.server_error(request)
