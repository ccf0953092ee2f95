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
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import InterfaceError, OperationalError, connections
from procrastinate import JobContext, RetryStrategy
from procrastinate.contrib.django import app
from procrastinate.exceptions import JobAborted
from procrastinate.jobs import Status

from analyzer import processing

logger = logging.getLogger(__name__)

ANALYZE_TASK = "analyzer.analyze"

T = TypeVar("T")


def _closing_connections(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``func``, then close this thread's database connections.

    Jobs run in a pool of threads; a connection kept open in each (CONN_MAX_AGE) would
    outlive the job and hold the database open for nothing.
    """
    try:
        return func(*args, **kwargs)
    finally:
        connections.close_all()


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
    logger.info("Analysis %s: starting (attempt %d)", analysis_id, context.job.attempts + 1)
    try:
        analysis = processing.analysis_process(
            analysis_id=analysis_id, should_stop=context.should_abort
        )
    except processing.AnalysisInterrupted:
        logger.info("Analysis %s: stopped with the worker; it goes back to the queue", analysis_id)
        processing.analysis_set_pending(analysis_id=analysis_id)
        raise JobAborted() from None
    finally:
        connections.close_all()
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
            await sync_to_async(_closing_connections)(
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
    abandoned = await sync_to_async(_closing_connections)(
        processing.analysis_fail_abandoned,
        older_than=timedelta(seconds=settings.SPEECHEMOTION_ANALYSIS_TIMEOUT_SECONDS),
    )
    return f"requeued {requeued}, given up {given_up}, abandoned {abandoned}"
