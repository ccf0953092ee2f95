"""Intake and owner actions: every write to analyses from views, the API, admin and commands.

The flow: :func:`analysis_create` checks the size, hashes the upload, probes it and
decodes its first minute to check it for speech (bad input stops here and nothing is
stored), then stores the file, a pending row and its job in the queue in one short step.
A worker (``analyzer.tasks.analyze``) then runs ``analyzer.processing``. Calls run one
way: views -> services -> tasks -> processing -> ml; retention (purge, orphans) is in
``analyzer.retention``.
"""

from __future__ import annotations

import logging
import math
import statistics
from collections.abc import Iterable
from contextlib import suppress
from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.utils import timezone
from procrastinate.exceptions import AlreadyEnqueued

from analyzer import selectors, tasks
from analyzer.models import Analysis
from analyzer.uploads import (
    MISSING_FILE_ERROR,
    AnalysisInputError,
    AnalysisStorageError,
    check_size,
    check_upload,
    upload_source,
)
from ml.audio import AudioInfo
from ml.formats import stored_format

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser
    from django.core.files.uploadedfile import UploadedFile

__all__ = [
    "MISSING_FILE_ERROR",
    "AnalysisBusyError",
    "AnalysisDuplicateError",
    "AnalysisInputError",
    "AnalysisStorageError",
    "analysis_check_capacity",
    "analysis_claim",
    "analysis_copy",
    "analysis_create",
    "analysis_delete",
    "analysis_delete_many",
    "analysis_requeue",
]

logger = logging.getLogger(__name__)

_NAME_MAX_LENGTH = Analysis._meta.get_field("original_name").max_length
_FILE_MAX_LENGTH = Analysis._meta.get_field("file").max_length


def _format_name(info: AudioInfo) -> str:
    """``info.format`` as a plain string ('wav', 'mp4', ...), whether enum or str."""
    return str(getattr(info.format, "value", info.format))


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


def _new_stored_name(analysis: Analysis) -> str:
    """A random name under uploads/ that is not taken (see ``analysis_upload_to``)."""
    field = Analysis._meta.get_field("file")
    while True:
        # Only the extension of this name survives.
        name = field.generate_filename(analysis, f"upload.{analysis.format}")
        if not analysis.file.storage.exists(name):
            return name


def _store(analysis: Analysis, *, content: File) -> None:
    """Store ``content`` (its one write, or a move of Django's temporary upload), then
    insert the row and its job.

    Neither a failed write (disk full: FileSystemStorage leaves the part it wrote) nor a
    failed insert (database gone) leaves a file behind.
    """
    storage = analysis.file.storage
    name = _new_stored_name(analysis)
    try:
        content.seek(0)
        stored = storage.save(name, content, max_length=_FILE_MAX_LENGTH)
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


class AnalysisBusyError(Exception):
    """Too much is waiting to be analysed: the upload is refused before anything is stored.

    ``queue_full``: the whole queue would keep it waiting too long (HTTP 503), else its
    owner has too many analyses waiting (HTTP 429). ``retry_after``: seconds to wait.
    """

    def __init__(self, message: str, *, retry_after: int, queue_full: bool) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.queue_full = queue_full

    @property
    def status_code(self) -> int:
        return 503 if self.queue_full else 429


# Until enough analyses have finished to measure them: a short clip's time, generously.
DEFAULT_ANALYSIS_SECONDS = 2.0
# How many recent analyses the median worker time is taken over.
_RECENT_ANALYSES = 50


def _median_analysis_seconds() -> float:
    """The median worker time (``processing_ms``) of the recent finished analyses."""
    recent = list(
        Analysis.objects.filter(status=Analysis.Status.DONE, processing_ms__isnull=False)
        .order_by("-created_at")
        .values_list("processing_ms", flat=True)[:_RECENT_ANALYSES]
    )
    return statistics.median(recent) / 1000 if recent else DEFAULT_ANALYSIS_SECONDS


def _live_workers() -> int:
    from procrastinate.contrib.django.models import ProcrastinateWorker

    recent = timezone.now() - timedelta(seconds=settings.SPEECHEMOTION_STALLED_WORKER_SECONDS)
    return ProcrastinateWorker.objects.filter(last_heartbeat__gte=recent).count()


def analysis_check_capacity(*, owner: AbstractBaseUser | None, session_key: str) -> None:
    """Raise :class:`AnalysisBusyError` when one more analysis should not be queued now.

    Two limits: the analyses the owner (user, or anonymous browser session) has waiting or
    running (``SPEECHEMOTION_MAX_PENDING_PER_OWNER``), and the expected wait of the whole
    queue (``SPEECHEMOTION_MAX_QUEUE_WAIT`` seconds): the analyses waiting or running times
    the median worker time of the recent ones, shared among the live workers. 0 turns a
    limit off. A few concurrent uploads may pass a limit together: it bounds, not counts.
    """
    active = Analysis.objects.filter(status__in=Analysis.ACTIVE_STATUSES)
    per_owner = settings.SPEECHEMOTION_MAX_PENDING_PER_OWNER
    max_wait = settings.SPEECHEMOTION_MAX_QUEUE_WAIT
    if not (per_owner or max_wait):
        return
    median = _median_analysis_seconds()
    if per_owner:
        if owner is not None and owner.is_authenticated:
            waiting = active.filter(owner=owner).count()
        elif session_key:
            waiting = active.filter(owner__isnull=True, session_key=session_key).count()
        else:
            waiting = 0
        if waiting >= per_owner:
            retry_after = max(1, math.ceil(median))
            raise AnalysisBusyError(
                f"You already have {waiting} recordings waiting to be analysed, the most at "
                f"once. Please upload this one when one of them is done (in about "
                f"{_seconds(retry_after)}); it was not stored.",
                retry_after=retry_after,
                queue_full=False,
            )
    if max_wait:
        expected = active.count() * median / max(1, _live_workers())
        if expected >= max_wait:
            retry_after = max(1, math.ceil(expected - max_wait + median))
            raise AnalysisBusyError(
                "Many recordings are waiting to be analysed right now (about "
                f"{_seconds(math.ceil(expected))} of work), so yours was not stored. Please try "
                f"again in {_seconds(retry_after)}.",
                retry_after=retry_after,
                queue_full=True,
            )


def _seconds(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} s" if seconds != 1 else "1 second"
    return f"{math.ceil(seconds / 60)} min"


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
    limit: bool = True,
) -> Analysis:
    """Check and store an uploaded recording and queue its analysis.

    The checks that answer at once run here (see ``uploads.check_upload``: type, size,
    declared duration, the first minute decoded and checked for speech); the bytes are
    written once, to the storage. Raises :class:`AnalysisInputError` (nothing stored) when
    the upload is empty, too large, not decodable, too short or too long, or holds no
    speech, and :class:`AnalysisStorageError` (nothing stored) when the disk is full.
    Database errors propagate, and nothing is stored then either. Returns the pending
    analysis; a worker analyses it (see ``processing.analysis_process``).

    With ``reuse_existing``, a file the owner already has an analysis of (same SHA-256,
    see ``selectors.analysis_find_duplicate``) raises :class:`AnalysisDuplicateError`
    before it is decoded, and nothing is stored. With ``limit`` (not for an operator's
    ``analyze`` command), :class:`AnalysisBusyError` when too much is waiting (see
    :func:`analysis_check_capacity`), before it is decoded, and nothing is stored.
    """
    check_size(upload.size or 0)
    original_name = _display_name(upload.name)
    with upload_source(upload, max_bytes=settings.SPEECHEMOTION_MAX_UPLOAD_BYTES) as copy:
        check_size(copy.size)
        if reuse_existing:
            _raise_if_duplicate(copy.sha256, owner=owner, session_key=session_key)
        if limit:
            # After the duplicate check: the earlier result of this file costs nothing.
            analysis_check_capacity(owner=owner, session_key=session_key)
        # Only the first minute is decoded here; the worker decodes the whole once.
        checked = check_upload(copy.path, max_duration=settings.SPEECHEMOTION_MAX_DURATION_SECONDS)
        info = checked.info
        del checked
        stored = stored_format(info.format, has_video=info.has_video, name=original_name)
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
        _store(analysis, content=upload)
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
    analysis_check_capacity(owner=analysis.owner, session_key=analysis.session_key)
    kept = ("original_name", "format", "content_type", "size", "sha256", "duration")
    kept += ("sample_rate", "channels", "owner", "session_key")
    copy = Analysis(
        **{name: getattr(analysis, name) for name in kept}, status=Analysis.Status.PENDING
    )
    try:
        source = analysis.file.storage.open(analysis.file.name, "rb")
    except FileNotFoundError as err:
        raise AnalysisInputError(MISSING_FILE_ERROR, code="missing") from err
    with source:
        _store(copy, content=source)
    logger.info("Analysis %s is a new analysis of the recording of %s", copy.pk, analysis.pk)
    return copy


def analysis_requeue(*, analysis: Analysis) -> Analysis:
    """Queue ``analysis`` (again) for the worker, e.g. after a failure or with a new model.

    The previous result stays visible in the admin until the new one replaces it; the
    status goes back to pending. A missing recording fails at once instead.
    """
    if not analysis.file or not analysis.file.storage.exists(analysis.file.name):
        logger.warning("Stored file of analysis %s is missing", analysis.pk)
        # Here, not at the top: the web process does not import the worker's side (nor
        # the model's code and SciPy behind it) just to serve pages.
        from analyzer.processing import analysis_mark_failed

        return analysis_mark_failed(analysis=analysis, message=MISSING_FILE_ERROR)
    with transaction.atomic():
        analysis.status = Analysis.Status.PENDING
        analysis.error_message = ""
        analysis.segments_done = analysis.segments_total = 0
        analysis.save(update_fields=["status", "error_message", "segments_done", "segments_total"])
        _queue(analysis)
    logger.info("Queued analysis %s again", analysis.pk)
    return analysis


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


def analysis_claim(*, user: AbstractBaseUser, session_key: str) -> int:
    """Give a user the analyses made anonymously in their browser session before signing in.

    Returns how many were claimed.
    """
    if not session_key:
        return 0
    return Analysis.objects.filter(owner__isnull=True, session_key=session_key).update(
        owner=user, session_key=""
    )
