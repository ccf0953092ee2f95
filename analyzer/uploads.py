"""What the web process and the worker both do with an upload's bytes.

- Stop storing an upload as soon as it passes the size limit
  (:class:`UploadSizeLimitHandler`). Without this Django would write a multi-gigabyte
  upload to a temporary file before the view could refuse it. This handler runs first:
  once a file passes ``SPEECHEMOTION_MAX_UPLOAD_BYTES`` the file is skipped (its partial
  temporary file is removed, the rest of the body is read and dropped) and the request is
  marked, so the form can say why the file is missing.
- The errors an upload can end in (:class:`AnalysisInputError`: the user's file;
  :class:`AnalysisStorageError`: our side), the size check, the hashing, and the two
  looks at the sound: the web process's quick checks (:func:`check_upload`, a bounded
  decoding) and the worker's one full decoding (:func:`decode_upload`). Neither writes
  the bytes anywhere: an upload is written once by Django (when large) and once to the
  storage.
"""

from __future__ import annotations

import errno
import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat

from ml.audio import (
    DecodedAudio,
    check_audio,
    ensure_speech,
    load_audio,
    readable_path,
    regular_file_descriptor,
    stream_chunks,
)
from ml.errors import MLError

if TYPE_CHECKING:
    import numpy as np

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
class UploadSource:
    """An upload ready to check: ``path`` for the decoder (valid inside the ``with``
    block only, not a stored file's), its ``sha256`` and its ``size`` in bytes."""

    path: Path
    sha256: str
    size: int


@contextmanager
def upload_source(file: BinaryIO, *, max_bytes: int | None) -> Iterator[UploadSource]:
    """Hash and count ``file`` and give the decoder a path to it, writing it nowhere.

    A file on disk already (Django's temporary upload, a file the ``analyze`` command
    opened) is read where it is; one held in memory goes into an anonymous in-memory file
    (see ``ml.audio.readable_path``). Past ``max_bytes`` it stops with the size error:
    the declared size of an upload is a claim.
    """
    digest = hashlib.sha256()
    size = 0

    def counted(chunks: Iterable[bytes]) -> Iterator[bytes]:
        nonlocal size
        for chunk in chunks:
            size += len(chunk)
            if max_bytes is not None and size > max_bytes:
                check_size(size)
            digest.update(chunk)
            yield chunk

    on_disk = regular_file_descriptor(file) is not None
    with ExitStack() as stack:
        try:
            path = stack.enter_context(
                readable_path(
                    file, chunks=None if on_disk else counted(stream_chunks(file, CHUNK_BYTES))
                )
            )
            if on_disk:
                for _ in counted(stream_chunks(file, CHUNK_BYTES)):
                    pass
            file.seek(0)
        except OSError as err:
            raise AnalysisStorageError.from_os_error(err) from err
        yield UploadSource(path=path, sha256=digest.hexdigest(), size=size)


def _as_input_error(path: Path, err: Exception) -> Exception:
    """What a failure to decode becomes: the user's file (400), or our disk (507)."""
    if isinstance(err, MLError):
        return AnalysisInputError(str(err), code=type(err).__name__)
    if isinstance(err, OSError) and err.errno in _DISK_FULL_ERRNOS:
        # The decoder's scratch files did not fit: not the input's fault.
        return AnalysisStorageError.from_os_error(err)
    # A decoder bug on strange input is still the input's problem for the user (400,
    # not 500); the traceback goes to the log for us.
    logger.error("Unexpected error while decoding %s", path, exc_info=err)
    return AnalysisInputError(UNREADABLE_INPUT_ERROR, code="unreadable")


def check_upload(path: Path, *, max_duration: float | None) -> DecodedAudio:
    """The web process's quick checks (``ml.audio.check_audio``): type, declared duration,
    and the first minute decoded and checked for speech. Failures are
    :class:`AnalysisInputError` (a full disk: :class:`AnalysisStorageError`)."""
    try:
        return check_audio(path, max_duration=max_duration)
    except Exception as err:
        raise _as_input_error(path, err) from err


def decode_upload(
    path: Path,
    *,
    max_duration: float | None,
    check_speech: Callable[[np.ndarray], bool] | bool = True,
) -> DecodedAudio:
    """Decode all of ``path`` (the worker's one decoding) and check it for speech when
    ``check_speech`` (or ``check_speech(signal)``) is true; failures as in
    :func:`check_upload`."""
    try:
        decoded = load_audio(path, max_duration=max_duration)
        if check_speech is True or (callable(check_speech) and check_speech(decoded.signal)):
            ensure_speech(decoded.signal)
    except Exception as err:
        raise _as_input_error(path, err) from err
    return decoded
