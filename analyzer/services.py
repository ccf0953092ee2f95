"""Every write to analyses goes through here (views, admin, commands and the worker alike).

The flow: :func:`analysis_create` checks the size, copies the upload to a temporary file
while hashing it, decodes it and checks it for speech (bad input stops here and nothing
is stored), then stores the file, a pending row and its job in the queue in one short
step. A worker (``analyzer.tasks.analyze``) then calls :func:`analysis_process`: it
decodes the stored file, classifies every window of speech outside any transaction
(with small progress updates), saves segments and result in one short atomic step, and
then draws the charts and stores them in a second one (so the result shows at once).
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import DatabaseError, transaction
from django.db.models import Count, Exists, OuterRef, Q, Sum
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from analyzer import selectors
from analyzer.models import Analysis, AnalysisChart, Segment
from ml.audio import SAMPLE_RATE, AudioInfo, DecodedAudio, ensure_speech, load_audio
from ml.card import card_from_meta
from ml.errors import MLError
from ml.recognizer import get_recognizer
from ml.timeline import distribution as speaking_distribution
from ml.timeline import overall, timeline
from ml.verdict import ClarityRule, VerdictKind, rule_from_meta

if TYPE_CHECKING:
    import numpy as np
    from django.contrib.auth.models import AbstractBaseUser
    from django.core.files.storage import Storage
    from django.core.files.uploadedfile import UploadedFile

    from ml.timeline import Segment as WindowResult

logger = logging.getLogger(__name__)

_CHUNK_BYTES = 1024 * 1024
_TEMPORARY_PREFIX = "speechemotion-"
_NAME_MAX_LENGTH = Analysis._meta.get_field("original_name").max_length
_FILE_MAX_LENGTH = Analysis._meta.get_field("file").max_length

UNEXPECTED_MODEL_ERROR = (
    "The emotion model failed on this recording. The recording is kept; an administrator "
    "can analyse it again."
)
UNREADABLE_INPUT_ERROR = "The file could not be read as audio."
MISSING_FILE_ERROR = "The stored recording is missing."
NO_SPEECH_REGION_ERROR = (
    "No speech detected: no part of the recording holds speech long enough to analyse."
)
ABANDONED_ERROR = (
    "The analysis did not finish: no worker picked it up or it stopped half-way. "
    "Try again; if it keeps failing, an administrator can look at the worker."
)
INTERRUPTED_ERROR = (
    "The analysis was interrupted {attempts} times (the worker stopped while running it), "
    "so it was given up. Try again; if it keeps failing, the recording may be too long "
    "for the worker."
)

# Progress updates are separate tiny UPDATEs, at most this often.
PROGRESS_INTERVAL_SECONDS = 0.5


class AnalysisInterrupted(Exception):  # noqa: N818  (not an error: the worker is stopping)
    """The worker asked the running analysis to stop; its job goes back to the queue."""


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
    try:
        fd, name = tempfile.mkstemp(prefix=_TEMPORARY_PREFIX, suffix=suffix)
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
                        _check_size(size)
                    digest.update(chunk)
                    out.write(chunk)
        except OSError as err:
            raise AnalysisStorageError.from_os_error(err) from err
        yield _TemporaryCopy(path=path, sha256=digest.hexdigest(), size=size)
    finally:
        path.unlink(missing_ok=True)


def _display_name(name: str | None) -> str:
    """The user's file name as display text only: no folders, no control characters.

    It never reaches the disk (stored names are random, see ``analysis_upload_to``);
    this keeps it harmless in headers (Content-Disposition) and in the admin.
    """
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = " ".join("".join(c if c.isprintable() else " " for c in name).split())
    if len(name) > _NAME_MAX_LENGTH:
        stem, dot, extension = name.rpartition(".")
        if dot and stem and len(extension) <= 8:  # Keep the extension, shorten the rest.
            name = f"{stem[: _NAME_MAX_LENGTH - len(extension) - 1]}.{extension}"
        else:
            name = name[:_NAME_MAX_LENGTH]
    return name if name.strip(". ") else "recording"


def _safe_suffix(name: str) -> str:
    suffix = PurePath(name).suffix.lower()
    return suffix if suffix[1:].isalnum() and len(suffix) <= 6 else ""


def _decode(path: Path, *, max_duration: float | None) -> DecodedAudio:
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


def _new_stored_name(analysis: Analysis) -> str:
    """A random name under uploads/ that is not taken (see ``analysis_upload_to``)."""
    field = Analysis._meta.get_field("file")
    while True:
        # Only the extension of this name survives.
        name = field.generate_filename(analysis, f"upload.{analysis.format}")
        if not analysis.file.storage.exists(name):
            return name


def _store(analysis: Analysis, *, path: Path) -> None:
    """Store the file, then insert the row and its job.

    Neither a failed write (disk full: FileSystemStorage leaves the part it wrote) nor a
    failed insert (database gone) leaves a file behind.
    """
    storage = analysis.file.storage
    name = _new_stored_name(analysis)
    try:
        with path.open("rb") as content:
            stored = storage.save(name, File(content), max_length=_FILE_MAX_LENGTH)
    except BaseException as err:
        # The name was free before the write, so whatever is there now is this upload's.
        with suppress(OSError):
            storage.delete(name)
        if isinstance(err, OSError):
            raise AnalysisStorageError.from_os_error(err) from err
        raise
    analysis.file = stored
    try:
        with transaction.atomic():
            analysis.save(force_insert=True)
            _queue(analysis)
    except BaseException:
        analysis.file.delete(save=False)
        raise


def _queue(analysis: Analysis) -> None:
    """Defer the worker's job for ``analysis`` and note it on the row.

    Called inside the transaction that writes the row: the job is inserted through the
    same connection (Procrastinate's Django connector), so a worker sees the job (and its
    NOTIFY) only once the row is committed, and a rolled-back row leaves no job behind.
    """
    from procrastinate.exceptions import AlreadyEnqueued

    from analyzer import tasks  # Late: tasks imports this module.

    try:
        # A savepoint: a refused insert must not spoil the surrounding transaction.
        with transaction.atomic():
            job_id = tasks.analyze.configure(
                lock=f"analysis:{analysis.pk}", queueing_lock=f"analysis:{analysis.pk}"
            ).defer(analysis_id=str(analysis.pk))
    except AlreadyEnqueued:
        # A job for it is already waiting: that one will do.
        job_id = analysis.job_id
    analysis.job_id = job_id
    analysis.queued_at = timezone.now()
    Analysis.objects.filter(pk=analysis.pk).update(
        job_id=analysis.job_id, queued_at=analysis.queued_at
    )


class AnalysisDuplicateError(Exception):
    """The owner already has an analysis of this very file (same SHA-256): ``existing``."""

    def __init__(self, existing: Analysis) -> None:
        super().__init__(f"Already analysed as {existing.pk}")
        self.existing = existing


def analysis_create(
    *,
    upload: UploadedFile,
    owner: AbstractBaseUser | None,
    session_key: str,
    reuse_existing: bool = False,
) -> Analysis:
    """Check and store an uploaded recording and queue its analysis.

    Raises :class:`AnalysisInputError` (nothing stored) when the upload is empty, too
    large, not decodable, too short or too long, or holds no speech, and
    :class:`AnalysisStorageError` (nothing stored) when the disk is full. Database errors
    propagate, and nothing is stored then either. Returns the pending analysis; a worker
    analyses it (see :func:`analysis_process`).

    With ``reuse_existing``, a file the owner already has an analysis of (same SHA-256,
    see ``selectors.analysis_find_duplicate``) raises :class:`AnalysisDuplicateError`
    before it is decoded, and nothing is stored.
    """
    _check_size(upload.size or 0)
    original_name = _display_name(upload.name)
    with _temporary_copy(
        upload.chunks(_CHUNK_BYTES),
        suffix=_safe_suffix(original_name),
        max_bytes=settings.SPEECHEMOTION_MAX_UPLOAD_BYTES,
    ) as copy:
        _check_size(copy.size)
        if reuse_existing:
            _raise_if_duplicate(copy.sha256, owner=owner, session_key=session_key)
        decoded = _decode(copy.path, max_duration=settings.SPEECHEMOTION_MAX_DURATION_SECONDS)
        info = decoded.info
        del decoded  # The worker decodes the stored file again; do not hold the signal.
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
        "Stored and queued analysis %s (%s, %.1f s, sha256 %s)",
        analysis.pk,
        _format_name(info),
        info.duration,
        copy.sha256[:12],
    )
    return analysis


def _raise_if_duplicate(sha256: str, *, owner: AbstractBaseUser | None, session_key: str) -> None:
    existing = selectors.analysis_find_duplicate(
        sha256=sha256, owner=owner, session_key=session_key
    )
    if existing is not None:
        raise AnalysisDuplicateError(existing)


def analysis_copy(*, analysis: Analysis) -> Analysis:
    """A new analysis of ``analysis``'s stored recording, for the same owner, queued.

    The file is copied (each analysis owns its file and deletes it with its row), so
    "analyse again" needs no new upload. Raises :class:`AnalysisInputError` when the
    stored recording is missing and :class:`AnalysisStorageError` when it cannot be copied.
    """
    kept = ("original_name", "format", "content_type", "size", "sha256", "duration")
    kept += ("sample_rate", "channels", "owner", "session_key")
    copy = Analysis(
        **{name: getattr(analysis, name) for name in kept}, status=Analysis.Status.PENDING
    )
    try:
        source = analysis.file.storage.open(analysis.file.name, "rb")
    except FileNotFoundError as err:
        raise AnalysisInputError(MISSING_FILE_ERROR, code="missing") from err
    with (
        source,
        _temporary_copy(source.chunks(_CHUNK_BYTES), suffix="", max_bytes=None) as temporary,
    ):
        _store(copy, path=temporary.path)
    logger.info("Analysis %s is a new analysis of the recording of %s", copy.pk, analysis.pk)
    return copy


def analysis_requeue(*, analysis: Analysis) -> Analysis:
    """Queue ``analysis`` (again) for the worker, e.g. after a failure or with a new model.

    The previous result stays visible in the admin until the new one replaces it; the
    status goes back to pending. A missing recording fails at once instead.
    """
    if not analysis.file or not analysis.file.storage.exists(analysis.file.name):
        logger.warning("Stored file of analysis %s is missing", analysis.pk)
        return _mark_failed(analysis, MISSING_FILE_ERROR)
    with transaction.atomic():
        analysis.status = Analysis.Status.PENDING
        analysis.error_message = ""
        analysis.segments_done = analysis.segments_total = 0
        analysis.save(update_fields=["status", "error_message", "segments_done", "segments_total"])
        _queue(analysis)
    logger.info("Queued analysis %s again", analysis.pk)
    return analysis


# --- the worker's side ------------------------------------------------------------------------


def analysis_process(
    *, analysis_id: str, should_stop: Callable[[], bool] | None = None
) -> Analysis | None:
    """Decode the stored recording of ``analysis_id`` and analyse it (the worker's job).

    Returns None when the analysis has been deleted meanwhile. Model and input problems
    end in status ``failed`` with a message; database errors propagate (the job is retried),
    and so does :class:`AnalysisInterrupted` when ``should_stop()`` turns true.
    """
    analysis = Analysis.objects.filter(pk=analysis_id).first()
    if analysis is None:
        logger.info("Analysis %s was deleted before it ran", analysis_id)
        return None
    analysis.status = Analysis.Status.RUNNING
    analysis.segments_done = analysis.segments_total = 0
    Analysis.objects.filter(pk=analysis.pk).update(
        status=analysis.status, segments_done=0, segments_total=0
    )
    try:
        if not analysis.file:
            raise FileNotFoundError(analysis.pk)
        stored = analysis.file.storage.open(analysis.file.name, "rb")
    except OSError:
        logger.warning("Stored file of analysis %s is missing", analysis.pk)
        return _mark_failed(analysis, MISSING_FILE_ERROR)
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
    return analysis_run(analysis=analysis, signal=decoded.signal, should_stop=should_stop)


class _Progress:
    """``progress(done, total)`` for ``ml.timeline.timeline``: throttled tiny UPDATEs."""

    def __init__(self, analysis: Analysis, should_stop: Callable[[], bool] | None) -> None:
        self.analysis = analysis
        self.should_stop = should_stop
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        if self.should_stop is not None and self.should_stop():
            raise AnalysisInterrupted(self.analysis.pk)
        now = time.monotonic()
        if now - self.last >= PROGRESS_INTERVAL_SECONDS:
            self.last = now
            Analysis.objects.filter(pk=self.analysis.pk).update(
                segments_done=done, segments_total=total
            )


@dataclass(frozen=True)
class _Summary:
    emotion: str
    confidence: float
    probabilities: dict[str, float]
    distribution: dict[str, float]
    verdict: str
    mixed_with: str


def _summarise(windows: Sequence[WindowResult], *, clarity: ClarityRule) -> _Summary:
    """The overall result: the top of the speech-weighted mean probabilities (the bars the
    page shows) with its verdict by the model's ``clarity``; the share of the speaking time
    per emotion apart."""
    result = overall(windows, clarity=clarity)
    assert result is not None  # windows is not empty
    verdict = result.verdict
    return _Summary(
        emotion=result.emotion.value,
        confidence=result.confidence,
        probabilities=result.probabilities,
        distribution=speaking_distribution(list(windows)),
        verdict=verdict.kind.value,
        mixed_with=verdict.emotions[1].value if verdict.kind is VerdictKind.MIXED else "",
    )


def _render_charts(
    signal: np.ndarray, *, analysis: Analysis, segments: list[Segment]
) -> dict[str, str]:
    """Every chart as SVG, or none when drawing fails (the result is kept all the same)."""
    try:
        from analyzer import charts
    except ImportError:
        logger.warning("analyzer.charts is not available; analysis %s has no charts", analysis.pk)
        return {}
    try:
        drawn = charts.render_all(
            signal,
            SAMPLE_RATE,
            probabilities=analysis.probabilities,
            segments=segments,
            duration=len(signal) / SAMPLE_RATE,
        )
    except Exception:
        logger.exception("Drawing the charts of analysis %s failed", analysis.pk)
        return {}
    kinds = set(AnalysisChart.Kind.values)
    return {kind: svg for kind, svg in drawn.items() if kind in kinds and svg}


_RESULT_FIELDS = (
    "status",
    "error_message",
    "emotion",
    "confidence",
    "probabilities",
    "distribution",
    "verdict",
    "mixed_with",
    "clarity",
    "model_card",
    "model_name",
    "model_sha256",
    "processing_ms",
    "segments_done",
    "segments_total",
    "charts_pending",
)


def _save_outcome(analysis: Analysis, *, segments: Sequence[Segment] = ()) -> bool:
    """Save the result fields and the segments in one short step (the old charts go).

    Returns False (and writes nothing) when the analysis was deleted meanwhile.
    """
    values: dict[str, Any] = {name: getattr(analysis, name) for name in _RESULT_FIELDS}
    with transaction.atomic():
        # The UPDATE locks the row, so a concurrent delete waits for this step.
        if not Analysis.objects.filter(pk=analysis.pk).update(**values):
            return False
        Segment.objects.filter(analysis=analysis).delete()
        AnalysisChart.objects.filter(analysis=analysis).delete()
        Segment.objects.bulk_create(segments)
    return True


def _save_charts(analysis: Analysis, charts: dict[str, str]) -> None:
    """Store the charts drawn after the result, in a second short step."""
    with transaction.atomic():
        if Analysis.objects.filter(pk=analysis.pk).update(charts_pending=False):
            AnalysisChart.objects.bulk_create(
                AnalysisChart(analysis=analysis, kind=kind, svg=svg) for kind, svg in charts.items()
            )
    analysis.charts_pending = False


def _mark_failed(analysis: Analysis, message: str) -> Analysis:
    analysis.status = Analysis.Status.FAILED
    analysis.error_message = message
    analysis.emotion = ""
    analysis.confidence = None
    analysis.probabilities = {}
    analysis.distribution = {}
    analysis.verdict = analysis.mixed_with = ""
    analysis.processing_ms = None
    analysis.segments_done = analysis.segments_total = 0
    analysis.charts_pending = False
    _save_outcome(analysis)
    return analysis


def analysis_run(
    *,
    analysis: Analysis,
    signal: np.ndarray,
    should_stop: Callable[[], bool] | None = None,
) -> Analysis:
    """Classify every window of speech in ``signal`` and save segments and result on ``analysis``.

    ``signal`` : np.ndarray [shape=(n,)] mono float32 at sr=16000, as from ``load_audio``.
    Must not be called inside a transaction: inference takes a while. Progress is written
    as it goes (``segments_done`` of ``segments_total``).
    """
    try:
        recognizer = get_recognizer(settings.SPEECHEMOTION_MODEL)
        analysis.model_name = recognizer.name
        analysis.model_sha256 = recognizer.sha256
        # The verdict and the plain words beside it follow the model that made the result.
        clarity = rule_from_meta(recognizer.meta)
        card = card_from_meta(recognizer.meta)
        analysis.clarity = clarity.to_dict()
        analysis.model_card = card.to_dict() if card else {}
        started = time.perf_counter()
        windows = timeline(recognizer, signal, progress=_Progress(analysis, should_stop))
        elapsed_ms = (time.perf_counter() - started) * 1000
    except (AnalysisInterrupted, DatabaseError):
        raise
    except MLError as err:
        logger.warning("Model error on analysis %s: %s", analysis.pk, err)
        return _mark_failed(analysis, str(err))
    except Exception:
        logger.exception("Model run failed on analysis %s", analysis.pk)
        return _mark_failed(analysis, UNEXPECTED_MODEL_ERROR)
    if not windows:
        return _mark_failed(analysis, NO_SPEECH_REGION_ERROR)

    summary = _summarise(windows, clarity=clarity)
    segments = [
        Segment(
            analysis=analysis,
            start=float(window.start),
            end=float(window.end),
            emotion=window.prediction.emotion.value,
            confidence=float(window.prediction.confidence),
            probabilities={k: float(v) for k, v in window.prediction.probabilities.items()},
        )
        for window in windows
    ]
    analysis.status = Analysis.Status.DONE
    analysis.error_message = ""
    analysis.emotion = summary.emotion
    analysis.confidence = summary.confidence
    analysis.probabilities = summary.probabilities
    analysis.distribution = summary.distribution
    analysis.verdict = summary.verdict
    analysis.mixed_with = summary.mixed_with
    analysis.processing_ms = elapsed_ms
    analysis.segments_done = analysis.segments_total = len(segments)
    analysis.charts_pending = True
    # The result first: the page shows it at once and the charts a moment later.
    if not _save_outcome(analysis, segments=segments):
        logger.info("Analysis %s was deleted while it ran", analysis.pk)
        return analysis
    logger.info(
        "Analysis %s: %s (top %s %.0f%%) over %d segments by %s in %.0f ms",
        analysis.pk,
        analysis.headline,
        analysis.emotion,
        analysis.confidence * 100,
        len(segments),
        analysis.model_name,
        elapsed_ms,
    )
    _save_charts(analysis, _render_charts(signal, analysis=analysis, segments=segments))
    return analysis


def analysis_interrupted(*, analysis_id: str, attempts: int) -> Analysis | None:
    """Give up an analysis whose runs kept dying with their worker (see analyzer.tasks)."""
    analysis = Analysis.objects.filter(pk=analysis_id).first()
    if analysis is None:
        return None
    logger.warning("Giving up analysis %s after %d interrupted runs", analysis_id, attempts)
    return _mark_failed(analysis, INTERRUPTED_ERROR.format(attempts=attempts))


def analysis_set_pending(*, analysis_id: str) -> None:
    """The running job was stopped and went back to the queue."""
    Analysis.objects.filter(pk=analysis_id, status=Analysis.Status.RUNNING).update(
        status=Analysis.Status.PENDING, segments_done=0, segments_total=0
    )


def analysis_fail_abandoned(*, older_than: timedelta) -> int:
    """Mark failed the pending or running analyses that no job will ever finish.

    An analysis qualifies when it was queued more than ``older_than`` ago and its job is
    neither waiting nor running (the job failed for good, or was deleted). Returns how many.
    """
    from procrastinate.contrib.django.models import ProcrastinateJob

    cutoff = timezone.now() - older_than
    live_job = ProcrastinateJob.objects.filter(id=OuterRef("job_id"), status__in=("todo", "doing"))
    abandoned = (
        Analysis.objects.filter(status__in=Analysis.ACTIVE_STATUSES)
        .filter(Q(queued_at__lt=cutoff) | Q(queued_at__isnull=True, created_at__lt=cutoff))
        .exclude(Exists(live_job))
    )
    count = 0
    for analysis in abandoned:
        logger.warning("Analysis %s was abandoned (job %s)", analysis.pk, analysis.job_id)
        _mark_failed(analysis, ABANDONED_ERROR)
        count += 1
    # A result whose charts never came (the job died in between): show it without them.
    Analysis.objects.filter(
        status=Analysis.Status.DONE, charts_pending=True, queued_at__lt=cutoff
    ).exclude(Exists(live_job)).update(charts_pending=False)
    return count


def analysis_delete(*, analysis: Analysis) -> None:
    """Delete the row; its file goes once the deletion is committed."""
    with transaction.atomic():
        analysis.delete()


def analysis_delete_many(*, analyses: Iterable[Analysis]) -> list[str]:
    """Delete each of ``analyses`` as :func:`analysis_delete` does; returns their names."""
    names = []
    for analysis in analyses:
        analysis_delete(analysis=analysis)
        names.append(analysis.original_name)
    return names


# --- retention and leftovers -------------------------------------------------------------------

UPLOADS_DIRECTORY = "uploads"
# A stored file without a row may be an upload whose row is still being written; one this
# old is left over from a process killed in between, or from a failed cleanup.
ORPHAN_MIN_AGE = timedelta(hours=1)
_PURGE_BATCH = 200


@dataclass(frozen=True)
class PurgeResult:
    """What :func:`analysis_purge` deleted (or, in a dry run, would delete)."""

    cutoff: datetime
    analyses: int
    bytes: int


def analysis_purge(
    *, older_than: timedelta, dry_run: bool = False, batch_size: int = _PURGE_BATCH
) -> PurgeResult:
    """Delete the analyses created more than ``older_than`` ago, with their recordings.

    Rows go in short transactions of ``batch_size``; each row's file is deleted once its
    deletion is committed (``analyzer.signals``), so a failure never leaves a row without
    its file. Whatever state an analysis is in, it goes: a queued job then finds nothing.
    """
    cutoff = timezone.now() - older_than
    old = Analysis.objects.filter(created_at__lt=cutoff)
    if dry_run:
        totals = old.aggregate(analyses=Count("pk"), bytes=Sum("size"))
        return PurgeResult(cutoff, totals["analyses"], totals["bytes"] or 0)
    analyses = size = 0
    while True:
        with transaction.atomic():
            # skip_locked: a row the worker is saving right now goes in the next run.
            batch = list(
                old.select_for_update(skip_locked=True)
                .order_by("created_at")
                .values_list("pk", "size")[:batch_size]
            )
            if not batch:
                break
            _, deleted = Analysis.objects.filter(pk__in=[pk for pk, _ in batch]).delete()
        analyses += deleted.get(Analysis._meta.label, 0)
        size += sum(bytes_ for _, bytes_ in batch)
    if analyses:
        logger.info("Purged %d analyses created before %s", analyses, cutoff.isoformat())
    return PurgeResult(cutoff, analyses, size)


@dataclass(frozen=True)
class OrphanSweep:
    """What :func:`analysis_purge_orphans` found: stored files without rows (their names),
    the ``bytes`` they take, the temporary copies of killed processes (their paths), and
    the analyses whose recording is missing (their ids)."""

    files: list[str]
    bytes: int
    temporary: list[str]
    missing: list[str]


def _stored_names(storage: Storage, directory: str) -> Iterator[str]:
    """Every file below ``directory`` of ``storage``, as names relative to its root."""
    try:
        directories, files = storage.listdir(directory)
    except FileNotFoundError:
        return
    for name in files:
        yield f"{directory}/{name}"
    for name in directories:
        yield from _stored_names(storage, f"{directory}/{name}")


def _stale_temporary_copies(cutoff: datetime, *, dry_run: bool) -> list[str]:
    """This machine's temporary copies (``_temporary_copy``) older than ``cutoff``.

    A copy lives while one file is decoded, which ffmpeg's timeout bounds to minutes; an
    older one belonged to a process that was killed.
    """
    stale = []
    for path in Path(tempfile.gettempdir()).glob(f"{_TEMPORARY_PREFIX}*"):
        with suppress(OSError):
            if path.is_file() and path.stat().st_mtime < cutoff.timestamp():
                if not dry_run:
                    path.unlink()
                stale.append(str(path))
    return sorted(stale)


def analysis_purge_orphans(
    *, older_than: timedelta = ORPHAN_MIN_AGE, dry_run: bool = False
) -> OrphanSweep:
    """Delete stored uploads that no row refers to; mark failed the rows whose file is gone.

    A process killed between storing an upload and committing its row leaves such a file
    (and its temporary copy, deleted too); only files older than ``older_than`` count, so
    an upload being stored right now is safe. A row whose recording vanished keeps its
    result but turns ``failed`` with :data:`MISSING_FILE_ERROR`, so its page says so
    instead of offering a broken player.
    """
    storage = Analysis._meta.get_field("file").storage
    cutoff = timezone.now() - older_than
    present = sorted(_stored_names(storage, UPLOADS_DIRECTORY))
    orphans: list[str] = []
    size = 0
    for start in range(0, len(present), 1000):
        chunk = present[start : start + 1000]
        referenced = set(Analysis.objects.filter(file__in=chunk).values_list("file", flat=True))
        for name in chunk:
            if name in referenced:
                continue
            try:
                if storage.get_modified_time(name) >= cutoff:
                    continue
                size += storage.size(name)
            except FileNotFoundError:
                continue  # Deleted meanwhile.
            orphans.append(name)
    if not dry_run:
        for name in orphans:
            logger.warning("Deleting %s: no analysis refers to it", name)
            storage.delete(name)
    temporary = _stale_temporary_copies(cutoff, dry_run=dry_run)

    known = set(present)
    missing = [
        str(pk)
        for pk, name in Analysis.objects.exclude(
            status=Analysis.Status.FAILED, error_message=MISSING_FILE_ERROR
        )
        .values_list("pk", "file")
        .iterator()
        # Checked again: a file stored after the listing above is not missing.
        if name not in known and not (name and storage.exists(name))
    ]
    if missing and not dry_run:
        logger.warning("Stored files of analyses %s are missing", ", ".join(missing))
        Analysis.objects.filter(pk__in=missing).update(
            status=Analysis.Status.FAILED,
            error_message=MISSING_FILE_ERROR,
            segments_done=0,
            segments_total=0,
            charts_pending=False,
        )
    return OrphanSweep(files=orphans, bytes=size, temporary=temporary, missing=missing)


def analysis_claim(*, user: AbstractBaseUser, session_key: str) -> int:
    """Give a user the analyses made anonymously in their browser session before signing in.

    Returns how many were claimed.
    """
    if not session_key:
        return 0
    return Analysis.objects.filter(owner__isnull=True, session_key=session_key).update(
        owner=user, session_key=""
    )
