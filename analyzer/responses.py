"""Serve a stored recording, with single byte ranges so players can seek (Safari needs them)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import IO

from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils.http import content_disposition_header

from analyzer.models import Analysis

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_CHUNK_BYTES = 64 * 1024


def _parse_range(header: str, size: int) -> tuple[int, int] | None | bool:
    """Return (first, last) byte, None to ignore the header, or False if unsatisfiable."""
    match = _RANGE.match(header.strip())
    if match is None or not (match[1] or match[2]):
        return None  # Absent, malformed or multi-range: a full response is always allowed.
    if not match[1]:
        length = int(match[2])
        if length == 0:
            return False
        return max(size - length, 0), size - 1
    first = int(match[1])
    last = min(int(match[2]), size - 1) if match[2] else size - 1
    if first >= size or first > last:
        return False
    return first, last


def _read(handle: IO[bytes], remaining: int) -> Iterator[bytes]:
    try:
        while remaining > 0:
            chunk = handle.read(min(_CHUNK_BYTES, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk
    finally:
        handle.close()


def stored_audio_response(request: HttpRequest, analysis: Analysis) -> HttpResponseBase:
    """The analysis's file with its stored content type, inline, privately cached."""
    handle = analysis.file.storage.open(analysis.file.name, "rb")
    size = analysis.file.storage.size(analysis.file.name)
    wanted = _parse_range(request.headers.get("Range", ""), size)
    response: HttpResponseBase
    if wanted is False:
        handle.close()
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
    elif wanted is None:
        response = FileResponse(
            handle, content_type=analysis.content_type, filename=analysis.original_name
        )
    else:
        first, last = wanted
        handle.seek(first)
        response = StreamingHttpResponse(
            _read(handle, last - first + 1), status=206, content_type=analysis.content_type
        )
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
        response["Content-Length"] = str(last - first + 1)
        response["Content-Disposition"] = content_disposition_header(False, analysis.original_name)
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = "private, max-age=3600"
    return response
