"""Stop storing an upload as soon as it passes the size limit.

Without this Django would write a multi-gigabyte upload to a temporary file before the
view could refuse it. This handler runs first: once a file passes
``SPEECHEMOTION_MAX_UPLOAD_BYTES`` the file is skipped (its partial temporary file is
removed, the rest of the body is read and dropped) and the request is marked, so the form
can say why the file is missing.
"""

from __future__ import annotations

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http import HttpRequest

_CUT_OFF_ATTRIBUTE = "speechemotion_upload_cut_off"


class UploadSizeLimitHandler(FileUploadHandler):
    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        if start + len(raw_data) > settings.SPEECHEMOTION_MAX_UPLOAD_BYTES:
            if self.request is not None:
                setattr(self.request, _CUT_OFF_ATTRIBUTE, True)
            raise SkipFile()
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # The next handlers build the file.


def upload_was_cut_off(request: HttpRequest) -> bool:
    """Whether a file in this request was dropped for passing the size limit."""
    return bool(getattr(request, _CUT_OFF_ATTRIBUTE, False))
