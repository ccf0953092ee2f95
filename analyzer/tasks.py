"""The worker's jobs, run by ``python manage.py procrastinate worker``.

Procrastinate keeps the queue in PostgreSQL (``procrastinate_*`` tables): a job deferred
by the web process wakes a worker at once through LISTEN/NOTIFY, and any number of workers
on any number of machines can share the queue. Two tasks:

``analyze``
    runs one analysis (``processing.analysis_process``). Database errors are retried a few
    times; on a graceful shutdown a running analysis stops at its next window and goes
    back to the queue.
``recover``
    periodic. A worker that dies (SIGKILL, out of memory, power) leaves its job "doing"
    forever; its heartbeat stops, so this check finds such jobs and queues them again, or
    gives the analysis up as failed (with a Retry button) once it has been interrupted
    ``SPEECHEMOTION_ANALYSIS_MAX_ATTEMPTS`` times. It also fails analyses that no job will
    ever finish, so none stays pending forever.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import (
    DEFAULT_DB_ALIAS,
    InterfaceError,
    OperationalError,
    close_old_connections,
    connections,
)
from procrastinate import JobContext, RetryStrategy
from procrastinate.contrib.django import app
from procrastinate.exceptions import JobAborted
from procrastinate.jobs import Status

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper

logger = logging.getLogger(__name__)

ANALYZE_TASK = "analyzer.analyze"

T = TypeVar("T")


class _Connections:
    """Each job thread's database connection, kept from one job to the next.

    Jobs run in the worker's pool of threads (Procrastinate runs a sync task through
    asgiref's ``sync_to_async``, i.e. the event loop's executor). Opening a connection per
    job cost more than the queries themselves, so a job keeps its thread's connection, by
    Django's own rule for requests: ``close_old_connections()`` at the start and the end of
    each job closes it once it is older than ``CONN_MAX_AGE`` or unusable (an error, a
    restarted server). A thread that gets no job for a while must not hold its connection
    for ever, though: at the end of a job the connection is left "parked", and a small
    daemon thread closes a parked connection once ``CONN_MAX_AGE`` is reached; the next
    job of that thread takes it back first. The pool's threads are created only when no
    idle one is there, so the worker holds at most one connection per job slot.
    """

    CHECK_SECONDS = 1.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._parked: dict[int, BaseDatabaseWrapper] = {}  # thread id -> its connection
        self._sweeper: threading.Thread | None = None

    def take(self) -> None:
        """At a job's start, in its thread: this thread's connection is its own again."""
        with self._lock:
            parked = self._parked.pop(threading.get_ident(), None)
            if parked is not None and parked is not connections[DEFAULT_DB_ALIAS]:
                parked.close()  # a thread that ended left it: its id was given again
        if parked is not None:
            parked.dec_thread_sharing()
        close_old_connections()

    def park(self) -> None:
        """At a job's end, in its thread: keep the connection, unless too old or broken."""
        close_old_connections()
        connection = connections[DEFAULT_DB_ALIAS]
        if connection.connection is None or connection.in_atomic_block:
            return
        # Only the sweeper touches it from another thread, and only while it is parked.
        connection.inc_thread_sharing()
        with self._lock:
            self._parked[threading.get_ident()] = connection
            if self._sweeper is None:
                self._sweeper = threading.Thread(
                    target=self._sweep, name="close-idle-connections", daemon=True
                )
                self._sweeper.start()

    def close_expired(self, now: float | None = None) -> int:
        """Close the parked connections past ``CONN_MAX_AGE`` (all of them with
        ``now=math.inf``: a worker run in a test, say, leaves none open); returns how many."""
        now = time.monotonic() if now is None else now
        with self._lock:
            expired = [
                (ident, connection)
                for ident, connection in self._parked.items()
                if now == math.inf
                or (connection.close_at is not None and now >= connection.close_at)
            ]
            for ident, connection in expired:
                del self._parked[ident]
                # Under the lock: its thread cannot take it back meanwhile.
                connection.close()
                connection.dec_thread_sharing()
        return len(expired)

    def _sweep(self) -> None:
        while True:
            time.sleep(self.CHECK_SECONDS)
            try:
                self.close_expired()
            except Exception:
                logger.exception("Could not close an idle database connection")


job_connections = _Connections()


def _with_connection(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``func`` with this thread's kept database connection (see :class:`_Connections`)."""
    job_connections.take()
    try:
        return func(*args, **kwargs)
    finally:
        job_connections.park()


@app.task(
    name=ANALYZE_TASK,
    queue="analyses",
    pass_context=True,
    retry=RetryStrategy(
        max_attempts=settings.SPEECHEMOTION_ANALYSIS_MAX_ATTEMPTS,
        wait=5,
        # Not model or input errors: the service turns those into a failed analysis.
        retry_exceptions={OperationalError, InterfaceError, JobAborted},
    ),
)
def analyze(context: JobContext, analysis_id: str) -> str:
    """Analyse one stored recording; returns the final status (shown in the job's log)."""
    # Here, not at the top: the web process imports this module to queue jobs, and has no
    # use for the worker's side (the model's code, SciPy).
    from analyzer import processing

    logger.info("Analysis %s: starting (attempt %d)", analysis_id, context.job.attempts + 1)
    job_connections.take()
    try:
        analysis = processing.analysis_process(
            analysis_id=analysis_id, should_stop=context.should_abort
        )
    except processing.AnalysisInterrupted:
        logger.info("Analysis %s: stopped with the worker; it goes back to the queue", analysis_id)
        processing.analysis_set_pending(analysis_id=analysis_id)
        raise JobAborted() from None
    finally:
        job_connections.park()
    return "deleted" if analysis is None else analysis.status


def _recovery_cron(seconds: int) -> str:
    # Procrastinate's cron takes an optional sixth field for seconds.
    if seconds < 60:
        return f"* * * * * */{seconds}"
    return f"*/{max(1, seconds // 60)} * * * *"


@app.periodic(
    cron=_recovery_cron(settings.SPEECHEMOTION_RECOVERY_INTERVAL_SECONDS), periodic_id="recover"
)
@app.task(name="analyzer.recover", queue="maintenance", queueing_lock="recover", pass_context=True)
async def recover(context: JobContext, timestamp: int) -> str:
    """Requeue the jobs of dead workers; fail the analyses no job will finish."""
    from analyzer import processing

    job_manager = context.app.job_manager
    max_attempts = settings.SPEECHEMOTION_ANALYSIS_MAX_ATTEMPTS
    requeued = given_up = 0
    stalled = await job_manager.get_stalled_jobs(
        seconds_since_heartbeat=settings.SPEECHEMOTION_STALLED_WORKER_SECONDS
    )
    for job in stalled:
        # ``attempts`` counts the runs before the one that died with its worker.
        runs = job.attempts + 1
        if job.task_name == ANALYZE_TASK and runs >= max_attempts:
            await job_manager.finish_job(job=job, status=Status.FAILED, delete_job=False)
            await sync_to_async(_with_connection)(
                processing.analysis_interrupted,
                analysis_id=job.task_kwargs["analysis_id"],
                attempts=runs,
            )
            given_up += 1
            continue
        try:
            await job_manager.retry_job(job)
        except Exception:
            # E.g. a job with the same queueing lock is already waiting: that one will do.
            logger.exception("Could not requeue stalled job %s; marking it failed", job.id)
            await job_manager.finish_job(job=job, status=Status.FAILED, delete_job=False)
        else:
            logger.warning("Requeued job %s of a dead worker (%s)", job.id, job.call_string)
            requeued += 1
    abandoned = await sync_to_async(_with_connection)(
        processing.analysis_fail_abandoned,
        older_than=timedelta(seconds=settings.SPEECHEMOTION_ANALYSIS_TIMEOUT_SECONDS),
    )
    return f"requeued {requeued}, given up {given_up}, abandoned {abandoned}"
