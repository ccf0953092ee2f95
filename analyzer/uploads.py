"""What the web process and the worker both do with an upload's bytes.

- Stop storing an upload as soon as it passes the size limit
  (:class:`UploadSizeLimitHandler`). Without this Django would write a multi-gigabyte
  upload to a temporary file before the view could refuse it. This handler runs first:
  once a file passes ``SPEECHEMOTION_MAX_UPLOAD_BYTES`` the file is skipped (its partial
  temporary file is removed, the rest of the body is read and dropped) and the request is
  marked, so the form can say why the file is missing.
- The errors an upload can end in (:class:`AnalysisInputError`: the user's file;
  :class:`AnalysisStorageError`: our side), the size check, the hashed temporary copy and
  the checked decode, shared by ``analyzer.services`` (intake) and ``analyzer.processing``
  (the worker).
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat

from ml.audio import DecodedAudio, ensure_speech, load_audio
from ml.errors import MLError

logger = logging.getLogger(__name__)

CHUNK_BYTES = 1024 * 1024
TEMPORARY_PREFIX = "speechemotion-"
_CUT_OFF_ATTRIBUTE = "speechemotion_upload_cut_off"

UNREADABLE_INPUT_ERROR = "The file could not be read as audio."
MISSING_FILE_ERROR = "The stored recording is missing."


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


class AnalysisInputError(ValidationError):
    """The upload cannot be analysed; ``str(err)`` tells the user why.

    A ``ValidationError``, so a view can hand it to ``form.add_error`` as it is.
    """

    def __str__(self) -> str:
        return " ".join(self.messages)


DISK_FULL_ERROR = (
    "There is no room left to store recordings right now, so yours was not stored. "
    "Please try again later."
)
STORAGE_ERROR = (
    "Your recording could not be stored because of a problem on our side; it was not kept. "
    "Please try again later."
)
_DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


class AnalysisStorageError(Exception):
    """The upload could not be stored (disk full, storage failing); nothing of it was kept.

    Not the user's fault, unlike :class:`AnalysisInputError`: the same file may work later.
    """

    def __init__(self, message: str, *, disk_full: bool) -> None:
        super().__init__(message)
        self.message = message
        self.disk_full = disk_full

    @classmethod
    def from_os_error(cls, error: OSError) -> AnalysisStorageError:
        disk_full = error.errno in _DISK_FULL_ERRNOS
        if disk_full:
            logger.error("No space left to store an upload: %s", error)
        else:
            logger.exception("Storing an upload failed")
        return cls(DISK_FULL_ERROR if disk_full else STORAGE_ERROR, disk_full=disk_full)


def check_size(size: int) -> None:
    limit = settings.SPEECHEMOTION_MAX_UPLOAD_BYTES
    if size <= 0:
        raise AnalysisInputError("The file is empty.", code="empty")
    if size > limit:
        raise AnalysisInputError(
            f"The file is too large ({filesizeformat(size)}); "
            f"the limit is {filesizeformat(limit)}.",
            code="too_large",
        )


@dataclass(frozen=True)
class TemporaryCopy:
    path: Path
    sha256: str
    size: int


@contextmanager
def temporary_copy(
    chunks: Iterable[bytes], *, suffix: str, max_bytes: int | None
) -> Iterator[TemporaryCopy]:
    """Copy ``chunks`` to a temporary file, hashing and counting on the way."""
    digest = hashlib.sha256()
    size = 0
    try:
        fd, name = tempfile.mkstemp(prefix=TEMPORARY_PREFIX, suffix=suffix)
    except OSError as err:
        raise AnalysisStorageError.from_os_error(err) from err
    path = Path(name)
    try:
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    size += len(chunk)
                    # Checked while copying too: the declared size of an upload is a claim.
                    if max_bytes is not None and size > max_bytes:
                        check_size(size)
                    digest.update(chunk)
                    out.write(chunk)
        except OSError as err:
            raise AnalysisStorageError.from_os_error(err) from err
        yield TemporaryCopy(path=path, sha256=digest.hexdigest(), size=size)
    finally:
        path.unlink(missing_ok=True)


def decode_upload(path: Path, *, max_duration: float | None) -> DecodedAudio:
    """Decode and check for speech; a failure is an AnalysisInputError (a full disk is not)."""
    try:
        decoded = load_audio(path, max_duration=max_duration)
        ensure_speech(decoded.signal)
    except MLError as err:
        raise AnalysisInputError(str(err), code=type(err).__name__) from err
    except Exception as err:
        if isinstance(err, OSError) and err.errno in _DISK_FULL_ERRNOS:
            # The decoder's scratch files did not fit: not the input's fault.
            raise AnalysisStorageError.from_os_error(err) from err
        # A decoder bug on strange input is still the input's problem for the user (400,
        # not 500); the traceback goes to the log for us.
        logger.exception("Unexpected error while decoding %s", path)
        raise AnalysisInputError(UNREADABLE_INPUT_ERROR, code="unreadable") from err
    return decoded
