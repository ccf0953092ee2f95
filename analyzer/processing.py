"""The worker's side of an analysis (``analyzer.tasks`` calls it; it calls ``ml``).

:func:`analysis_process` decodes the stored file, classifies every window of speech
outside any transaction (with small progress updates), saves segments and result in one
short atomic step, with what the page draws the charts from (``ml.overview``, computed in a
thread beside the model). Should those not be ready when the model is done, the result is
saved first and they follow in a second step (so the result shows at once). The recovery check
(``analyzer.tasks.recover``) ends here too:
:func:`analysis_interrupted`, :func:`analysis_set_pending`, :func:`analysis_fail_abandoned`.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from analyzer.models import Analysis, AnalysisChart, AnalysisOverview, Segment
from analyzer.uploads import (
    MISSING_FILE_ERROR,
    AnalysisInputError,
    decode_upload,
)
from ml.audio import SAMPLE_RATE, SPEECH_CHECK_SECONDS, readable_path
from ml.card import card_from_meta
from ml.errors import MLError
from ml.overview import overview
from ml.recognizer import get_recognizer
from ml.timeline import summarise, timeline
from ml.verdict import ClarityRule, VerdictKind, rule_from_meta

if TYPE_CHECKING:
    import numpy as np

    from ml.timeline import Segment as WindowResult

logger = logging.getLogger(__name__)

UNEXPECTED_MODEL_ERROR = (
    "The emotion model failed on this recording. The recording is kept; an administrator "
    "can analyse it again."
)
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
# How long the result waits for the charts' data (a few milliseconds of numpy, made beside
# the model) to be saved with it in one step; after that the result is saved alone first.
CHARTS_WAIT_SECONDS = 0.5


class AnalysisInterrupted(Exception):  # noqa: N818  (not an error: the worker is stopping)
    """The worker asked the running analysis to stop; its job goes back to the queue."""


def analysis_process(
    *, analysis_id: str, should_stop: Callable[[], bool] | None = None
) -> Analysis | None:
    """Decode the stored recording of ``analysis_id`` and analyse it (the worker's job).

    Returns None when the analysis has been deleted meanwhile. Model and input problems
    end in status ``failed`` with a message; database errors propagate (the job is retried),
    and so does :class:`AnalysisInterrupted` when ``should_stop()`` turns true.
    """
    started = time.perf_counter()
    analysis = _claim(analysis_id)
    if analysis is None:
        logger.info("Analysis %s was deleted before it ran", analysis_id)
        return None
    try:
        if not analysis.file:
            raise FileNotFoundError(analysis.pk)
        stored = analysis.file.storage.open(analysis.file.name, "rb")
    except OSError:
        logger.warning("Stored file of analysis %s is missing", analysis.pk)
        return analysis_mark_failed(analysis=analysis, message=MISSING_FILE_ERROR)
    # Read through the storage (never a local path), so that workers on other machines
    # can share a remote storage; nothing is written on the way.
    with stored, readable_path(stored) as path:
        try:
            decoded = decode_upload(
                path,
                # The recording was accepted once; a limit lowered since must not lock it
                # out, but a header that said less than the file holds is no excuse.
                max_duration=max(settings.SPEECHEMOTION_MAX_DURATION_SECONDS, analysis.duration),
                # The web process checked the first minute of shorter recordings.
                check_speech=lambda signal: len(signal) >= (SPEECH_CHECK_SECONDS - 1) * SAMPLE_RATE,
            )
        except AnalysisInputError as err:
            return analysis_mark_failed(analysis=analysis, message=str(err))
    if decoded.duration > analysis.duration + 1.0:
        # Its container did not tell, and the web process decoded only the beginning.
        analysis.duration = decoded.duration
        Analysis.objects.filter(pk=analysis.pk).update(duration=analysis.duration)
    return analysis_run(
        analysis=analysis, signal=decoded.signal, should_stop=should_stop, started=started
    )


def _claim(analysis_id: str) -> Analysis | None:
    """Mark the analysis running and read its row, in one round trip (``UPDATE ...
    RETURNING``); None when it has been deleted."""
    meta = Analysis._meta
    quote = connection.ops.quote_name

    def column(name: str) -> str:
        return quote(meta.get_field(name).column)

    sql = (
        f"UPDATE {quote(meta.db_table)} SET {column('status')} = %s, "
        f"{column('segments_done')} = 0, {column('segments_total')} = 0 "
        f"WHERE {quote(meta.pk.column)} = %s "
        f"RETURNING {', '.join(quote(field.column) for field in meta.concrete_fields)}"
    )
    params = [Analysis.Status.RUNNING.value, meta.pk.to_python(analysis_id)]
    return next(iter(Analysis.objects.raw(sql, params)), None)


class _Progress:
    """``progress(done, total)`` for ``ml.timeline.timeline``: throttled tiny UPDATEs."""

    def __init__(self, analysis: Analysis, should_stop: Callable[[], bool] | None) -> None:
        self.analysis = analysis
        self.should_stop = should_stop
        # The first update after PROGRESS_INTERVAL_SECONDS of work: a short recording is
        # done before that, and its result is the only write.
        self.last = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        if self.should_stop is not None and self.should_stop():
            raise AnalysisInterrupted(self.analysis.pk)
        now = time.monotonic()
        # The last window's count is written with the result.
        if done < total and now - self.last >= PROGRESS_INTERVAL_SECONDS:
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
    summary = summarise(windows, clarity=clarity)
    assert summary is not None  # windows is not empty
    result = summary.result
    verdict = result.verdict
    return _Summary(
        emotion=result.emotion.value,
        confidence=result.confidence,
        probabilities=result.probabilities,
        distribution=summary.distribution,
        verdict=verdict.kind.value,
        mixed_with=verdict.emotions[1].value if verdict.kind is VerdictKind.MIXED else "",
    )


def _chart_data(signal: np.ndarray, *, analysis: Analysis) -> dict[str, Any] | None:
    """What the page draws the waveform and spectrogram from (``ml.overview``, a few KB and
    milliseconds), or None when that fails (the result is kept all the same)."""
    try:
        return overview(signal, SAMPLE_RATE).to_dict()
    except Exception:
        logger.exception("The overview of analysis %s failed", analysis.pk)
        return None


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


def _save_outcome(
    analysis: Analysis,
    *,
    segments: Sequence[Segment] = (),
    chart_data: dict[str, Any] | None = None,
) -> bool:
    """Save the result fields and the segments in one step (the old segments and charts
    go), and ``chart_data`` when given (the charts' data ready with the result).

    One SQL statement, so one round trip and atomic by itself: the UPDATE of the row (which
    locks it, so a concurrent delete waits), then in data-modifying CTEs the deletes and
    inserts, each only for a row the UPDATE found. As a transaction of separate ORM calls
    it took six round trips to the database, the largest part of a short clip's time
    outside the model on a busy machine. Returns False (and writes nothing) when the
    analysis was deleted meanwhile.
    """
    quote = connection.ops.quote_name

    def prepared(field: Any, value: Any) -> tuple[str, Any]:
        """``%s`` cast to the column's type, and the value as Django would send it."""
        return f"CAST(%s AS {field.db_type(connection)})", field.get_db_prep_save(value, connection)

    meta = Analysis._meta
    sets, params = [], []
    for name in _RESULT_FIELDS:
        field = meta.get_field(name)
        placeholder, value = prepared(field, getattr(analysis, name))
        sets.append(f"{quote(field.column)} = {placeholder}")
        params.append(value)
    params.append(meta.pk.get_db_prep_value(analysis.pk, connection))
    steps = [
        f"saved AS (UPDATE {quote(meta.db_table)} SET {', '.join(sets)} "
        f"WHERE {quote(meta.pk.column)} = %s RETURNING {quote(meta.pk.column)} AS id)"
    ]

    def link(model: type[Any]) -> str:
        return quote(model._meta.get_field("analysis").column)

    # Nothing else has dependants or signals: Django's delete() would not do more.
    for model in (
        (Segment, AnalysisChart) if chart_data else (Segment, AnalysisChart, AnalysisOverview)
    ):
        steps.append(
            f"deleted_{model._meta.model_name} AS (DELETE FROM {quote(model._meta.db_table)} "
            f"WHERE {link(model)} IN (SELECT id FROM saved))"
        )
    if segments:
        fields = [f for f in Segment._meta.concrete_fields if f.name not in ("id", "analysis")]
        rows = []
        for segment in segments:
            cells = []
            for field in fields:
                placeholder, value = prepared(field, getattr(segment, field.attname))
                cells.append(placeholder)
                params.append(value)
            rows.append(f"({', '.join(cells)})")
        aliases = ", ".join(f"c{i}" for i in range(len(fields)))
        steps.append(
            f"inserted_segments AS (INSERT INTO {quote(Segment._meta.db_table)} "
            f"({link(Segment)}, {', '.join(quote(f.column) for f in fields)}) "
            f"SELECT saved.id, {aliases} FROM saved CROSS JOIN (VALUES {', '.join(rows)}) "
            f"AS v({aliases}))"
        )
    if chart_data:
        field = AnalysisOverview._meta.get_field("data")
        placeholder, value = prepared(field, chart_data)
        params.append(value)
        column = quote(field.column)
        steps.append(
            f"inserted_overview AS (INSERT INTO {quote(AnalysisOverview._meta.db_table)} "
            f"({link(AnalysisOverview)}, {column}) SELECT id, {placeholder} FROM saved "
            f"ON CONFLICT ({link(AnalysisOverview)}) DO UPDATE SET {column} = EXCLUDED.{column})"
        )
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {', '.join(steps)} SELECT count(*) FROM saved", params)
        (saved,) = cursor.fetchone()
    return bool(saved)


def _save_charts(analysis: Analysis, data: dict[str, Any] | None) -> None:
    """Store the charts' data made after the result, in a second short step."""
    with transaction.atomic():
        if Analysis.objects.filter(pk=analysis.pk).update(charts_pending=False) and data:
            AnalysisOverview.objects.create(analysis=analysis, data=data)
    analysis.charts_pending = False


def analysis_mark_failed(*, analysis: Analysis, message: str) -> Analysis:
    """End ``analysis`` as failed with ``message`` (the user reads it); the result goes."""
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
    started: float | None = None,
) -> Analysis:
    """Classify every window of speech in ``signal`` and save segments and result on ``analysis``.

    ``signal`` : np.ndarray [shape=(n,)] mono float32 at sr=16000, as from ``load_audio``.
    Must not be called inside a transaction: inference takes a while. Progress is written
    as it goes (``segments_done`` of ``segments_total``). ``processing_ms`` is the time from
    ``started`` (a ``time.perf_counter()``; by default the model's start) to the result:
    the queue's expected wait is estimated from it.
    """
    # What the charts are drawn from does not depend on the model: it is computed in a
    # thread of its own while the model runs (numpy's FFTs release the GIL, and the speech
    # regions are found on one core), so that it is ready when the result is.
    charts = _overview_pool().submit(_chart_data, signal, analysis=analysis)
    return _analysis_run(
        analysis=analysis,
        signal=signal,
        charts=charts,
        should_stop=should_stop,
        started=started,
    )


@functools.cache
def _overview_pool() -> ThreadPoolExecutor:
    """The threads that make the charts' data, one per job slot, kept for the process's
    life (starting a thread per analysis cost more than the data itself on a busy CPU)."""
    slots = settings.PROCRASTINATE_WORKER_DEFAULTS.get("concurrency", 1)
    return ThreadPoolExecutor(max_workers=max(1, slots), thread_name_prefix="overview")


def _analysis_run(
    *,
    analysis: Analysis,
    signal: np.ndarray,
    charts: Future[dict[str, Any] | None],
    should_stop: Callable[[], bool] | None,
    started: float | None,
) -> Analysis:
    try:
        recognizer = get_recognizer(settings.SPEECHEMOTION_MODEL)
        analysis.model_name = recognizer.name
        analysis.model_sha256 = recognizer.sha256
        # The verdict and the plain words beside it follow the model that made the result.
        clarity = rule_from_meta(recognizer.meta)
        card = card_from_meta(recognizer.meta)
        analysis.clarity = clarity.to_dict()
        analysis.model_card = card.to_dict() if card else {}
        started = time.perf_counter() if started is None else started
        windows = timeline(recognizer, signal, progress=_Progress(analysis, should_stop))
        elapsed_ms = (time.perf_counter() - started) * 1000
    except (AnalysisInterrupted, DatabaseError):
        raise
    except MLError as err:
        logger.warning("Model error on analysis %s: %s", analysis.pk, err)
        return analysis_mark_failed(analysis=analysis, message=str(err))
    except Exception:
        logger.exception("Model run failed on analysis %s", analysis.pk)
        return analysis_mark_failed(analysis=analysis, message=UNEXPECTED_MODEL_ERROR)
    if not windows:
        return analysis_mark_failed(analysis=analysis, message=NO_SPEECH_REGION_ERROR)

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
    # The charts' data is nearly always ready by now: then result and charts are saved in
    # one step. If not, the result first: the page shows it at once, the charts later.
    charts_ready = not wait([charts], timeout=CHARTS_WAIT_SECONDS).not_done
    analysis.charts_pending = not charts_ready
    chart_data = charts.result() if charts_ready else None
    if not _save_outcome(analysis, segments=segments, chart_data=chart_data):
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
    if not charts_ready:
        _save_charts(analysis, charts.result())
    return analysis


def analysis_interrupted(*, analysis_id: str, attempts: int) -> Analysis | None:
    """Give up an analysis whose runs kept dying with their worker (see analyzer.tasks)."""
    analysis = Analysis.objects.filter(pk=analysis_id).first()
    if analysis is None:
        return None
    logger.warning("Giving up analysis %s after %d interrupted runs", analysis_id, attempts)
    return analysis_mark_failed(
        analysis=analysis, message=INTERRUPTED_ERROR.format(attempts=attempts)
    )


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
        analysis_mark_failed(analysis=analysis, message=ABANDONED_ERROR)
        count += 1
    # A result whose charts never came (the job died in between): show it without them.
    Analysis.objects.filter(
        status=Analysis.Status.DONE, charts_pending=True, queued_at__lt=cutoff
    ).exclude(Exists(live_job)).update(charts_pending=False)
    return count
