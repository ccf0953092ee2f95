"""Every write to analyses goes through here (views, admin and commands alike).

The flow of :func:`analysis_create`: check the size, copy the upload to a temporary file
while hashing it, decode and check it for speech (bad input stops here and nothing is
stored), store the file and a pending row in one short step, then run the model outside
any transaction and save the prediction in a second short step.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import transaction
from django.template.defaultfilters import filesizeformat

from analyzer.models import Analysis
from ml.audio import AudioInfo, DecodedAudio, ensure_speech, load_audio
from ml.errors import MLError
from ml.recognizer import get_recognizer

if TYPE_CHECKING:
    import numpy as np
    from django.contrib.auth.models import AbstractBaseUser
    from django.core.files.uploadedfile import UploadedFile

logger = logging.getLogger(__name__)

_CHUNK_BYTES = 1024 * 1024

UNEXPECTED_MODEL_ERROR = (
    "The emotion model failed on this recording. The recording is kept; an administrator "
    "can analyse it again."
)
UNREADABLE_INPUT_ERROR = "The file could not be read as audio."


class AnalysisInputError(ValidationError):
    """The upload cannot be analysed; ``str(err)`` tells the user why.

    A ``ValidationError``, so a view can hand it to ``form.add_error`` as it is.
    """

    def __str__(self) -> str:
        return " ".join(self.messages)


@dataclass(frozen=True)
class _StoredFormat:
    extension: str
    content_type: str


# Sniffed container -> (extension for the stored name, content type it is served with).
# Within a family the user's extension may pick a more precise one (m4a vs mp4, webm vs mkv).
_AUDIO_TYPES = {
    "wav": "audio/wav",
    "flac": "audio/flac",
    "ogg": "audio/ogg",
    "mp3": "audio/mpeg",
    "m4a": "audio/mp4",
    "mp4": "audio/mp4",
    "mov": "audio/mp4",
    "webm": "audio/webm",
    "mkv": "audio/x-matroska",
}
_VIDEO_TYPES = {
    "ogg": "video/ogg",
    "m4a": "video/mp4",
    "mp4": "video/mp4",
    # Browsers play QuickTime files with H.264/AAC when they are announced as MP4.
    "mov": "video/mp4",
    "webm": "video/webm",
    "mkv": "video/x-matroska",
}
_FAMILY_EXTENSIONS = {
    "wav": ("wav",),
    "flac": ("flac",),
    "ogg": ("ogg",),
    "mp3": ("mp3",),
    "mp4": ("m4a", "mp4", "mov"),
    "matroska": ("webm", "mkv"),
}


def _format_name(info: AudioInfo) -> str:
    """``info.format`` as a plain string ('wav', 'mp4', ...), whether enum or str."""
    return str(getattr(info.format, "value", info.format))


def _stored_format(info: AudioInfo, original_name: str) -> _StoredFormat:
    fmt = _format_name(info)
    family = _FAMILY_EXTENSIONS.get(fmt)
    if family is None:
        return _StoredFormat("bin", "application/octet-stream")
    user_extension = PurePath(original_name).suffix.lstrip(".").lower()
    if user_extension in family:
        extension = user_extension
    elif fmt == "mp4":
        extension = "mp4" if info.has_video else "m4a"
    else:
        extension = family[0]
    types = _VIDEO_TYPES if info.has_video else _AUDIO_TYPES
    return _StoredFormat(extension, types.get(extension, _AUDIO_TYPES[extension]))


def _check_size(size: int) -> None:
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
class _TemporaryCopy:
    path: Path
    sha256: str
    size: int


@contextmanager
def _temporary_copy(
    chunks: Iterable[bytes], *, suffix: str, max_bytes: int | None
) -> Iterator[_TemporaryCopy]:
    """Copy ``chunks`` to a temporary file, hashing and counting on the way."""
    digest = hashlib.sha256()
    size = 0
    fd, name = tempfile.mkstemp(prefix="speechemotion-", suffix=suffix)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                size += len(chunk)
                # Checked while copying too: the declared size of an upload is a claim.
                if max_bytes is not None and size > max_bytes:
                    _check_size(size)
                digest.update(chunk)
                out.write(chunk)
        yield _TemporaryCopy(path=path, sha256=digest.hexdigest(), size=size)
    finally:
        path.unlink(missing_ok=True)


def _safe_suffix(name: str) -> str:
    suffix = PurePath(name).suffix.lower()
    return suffix if suffix[1:].isalnum() and len(suffix) <= 6 else ""


def _decode(path: Path, *, max_duration: float | None) -> DecodedAudio:
    """Decode and check for speech; every failure becomes an AnalysisInputError."""
    try:
        decoded = load_audio(path, max_duration=max_duration)
        ensure_speech(decoded.signal)
    except MLError as err:
        raise AnalysisInputError(str(err), code=type(err).__name__) from err
    except Exception as err:
        # A decoder bug on strange input is still the input's problem for the user (400,
        # not 500); the traceback goes to the log for us.
        logger.exception("Unexpected error while decoding %s", path)
        raise AnalysisInputError(UNREADABLE_INPUT_ERROR, code="unreadable") from err
    return decoded


def _store(analysis: Analysis, *, path: Path) -> None:
    """Store the file, then insert the row; a failed insert leaves no orphan file."""
    with path.open("rb") as content:
        # Only the extension of this name survives (see analysis_upload_to).
        analysis.file.save(f"upload.{analysis.format}", File(content), save=False)
    try:
        with transaction.atomic():
            analysis.save(force_insert=True)
    except BaseException:
        analysis.file.delete(save=False)
        raise


def analysis_create(
    *, upload: UploadedFile, owner: AbstractBaseUser | None, session_key: str
) -> Analysis:
    """Check, store and analyse an uploaded recording.

    Raises :class:`AnalysisInputError` (nothing stored) when the upload is empty, too
    large, not decodable, too short or too long, or holds no speech. A model failure does
    not raise: the analysis is kept with status ``failed`` and a message.
    """
    _check_size(upload.size or 0)
    original_name = PurePath(upload.name or "recording").name[:255]
    with _temporary_copy(
        upload.chunks(_CHUNK_BYTES),
        suffix=_safe_suffix(original_name),
        max_bytes=settings.SPEECHEMOTION_MAX_UPLOAD_BYTES,
    ) as copy:
        _check_size(copy.size)
        decoded = _decode(copy.path, max_duration=settings.SPEECHEMOTION_MAX_DURATION_SECONDS)
        info = decoded.info
        stored = _stored_format(info, original_name)
        analysis = Analysis(
            original_name=original_name,
            format=stored.extension,
            content_type=stored.content_type,
            size=copy.size,
            sha256=copy.sha256,
            duration=float(info.duration),
            sample_rate=int(info.sample_rate),
            channels=int(info.channels),
            status=Analysis.Status.PENDING,
            owner=owner if owner is not None and owner.is_authenticated else None,
            session_key="" if owner is not None and owner.is_authenticated else session_key,
        )
        _store(analysis, path=copy.path)
    logger.info(
        "Stored analysis %s (%s, %.1f s, sha256 %s)",
        analysis.pk,
        _format_name(info),
        info.duration,
        copy.sha256[:12],
    )
    return analysis_run(analysis=analysis, signal=decoded.signal)


def _save_outcome(analysis: Analysis) -> None:
    with transaction.atomic():
        analysis.save(
            update_fields=[
                "status",
                "error_message",
                "emotion",
                "confidence",
                "probabilities",
                "model_name",
                "model_sha256",
                "processing_ms",
            ]
        )


def _mark_failed(analysis: Analysis, message: str) -> Analysis:
    analysis.status = Analysis.Status.FAILED
    analysis.error_message = message
    analysis.emotion = ""
    analysis.confidence = None
    analysis.probabilities = {}
    analysis.processing_ms = None
    _save_outcome(analysis)
    return analysis


def analysis_run(*, analysis: Analysis, signal: np.ndarray) -> Analysis:
    """Run the current model on ``signal`` and save the outcome on ``analysis``.

    ``signal`` : np.ndarray [shape=(n,)] mono float32 at sr=16000, as from ``load_audio``.
    Must not be called inside a transaction: inference takes a while.
    """
    try:
        recognizer = get_recognizer(settings.SPEECHEMOTION_MODEL)
        analysis.model_name = recognizer.name
        analysis.model_sha256 = recognizer.sha256
        started = time.perf_counter()
        prediction = recognizer.predict_signal(signal)
        elapsed_ms = (time.perf_counter() - started) * 1000
    except MLError as err:
        logger.warning("Model error on analysis %s: %s", analysis.pk, err)
        return _mark_failed(analysis, str(err))
    except Exception:
        logger.exception("Model run failed on analysis %s", analysis.pk)
        return _mark_failed(analysis, UNEXPECTED_MODEL_ERROR)

    analysis.status = Analysis.Status.DONE
    analysis.error_message = ""
    analysis.emotion = prediction.emotion.value
    analysis.confidence = float(prediction.confidence)
    analysis.probabilities = {name: float(p) for name, p in prediction.probabilities.items()}
    analysis.processing_ms = elapsed_ms
    _save_outcome(analysis)
    logger.info(
        "Analysis %s: %s (%.0f%%) by %s in %.0f ms",
        analysis.pk,
        analysis.emotion,
        analysis.confidence * 100,
        analysis.model_name,
        elapsed_ms,
    )
    return analysis


def analysis_rerun(*, analysis: Analysis) -> Analysis:
    """Decode the stored recording again and run the current model on it."""
    try:
        if not analysis.file:
            raise FileNotFoundError(analysis.pk)
        stored = analysis.file.storage.open(analysis.file.name, "rb")
    except OSError:
        logger.warning("Stored file of analysis %s is missing", analysis.pk)
        return _mark_failed(analysis, "The stored recording is missing.")
    with (
        stored,
        _temporary_copy(
            stored.chunks(_CHUNK_BYTES), suffix=f".{analysis.format}", max_bytes=None
        ) as copy,
    ):
        try:
            # The recording was accepted once; a limit lowered since must not lock it out.
            decoded = _decode(copy.path, max_duration=None)
        except AnalysisInputError as err:
            return _mark_failed(analysis, str(err))
    return analysis_run(analysis=analysis, signal=decoded.signal)


def analysis_delete(*, analysis: Analysis) -> None:
    """Delete the row; its file goes once the deletion is committed."""
    with transaction.atomic():
        analysis.delete()


def analysis_claim(*, user: AbstractBaseUser, session_key: str) -> int:
    """Give a user the analyses made anonymously in their browser session before signing in.

    Returns how many were claimed.
    """
    if not session_key:
        return 0
    return Analysis.objects.filter(owner__isnull=True, session_key=session_key).update(
        owner=user, session_key=""
    )
