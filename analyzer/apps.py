from __future__ import annotations

import logging
import sys
import threading
import time

from django.apps import AppConfig

logger = logging.getLogger(__name__)

WORKER_SWITCH_INTERVAL_SECONDS = 0.001


def _is_worker_process() -> bool:
    """``manage.py procrastinate worker``: the process that runs the analyses."""
    return sys.argv[1:3] == ["procrastinate", "worker"]


def _load_model() -> None:
    from django.conf import settings

    from analyzer import processing

    started = time.perf_counter()
    try:
        recognizer = processing.get_recognizer(settings.SPEECHEMOTION_MODEL)
    except Exception:
        # The first analysis will fail with the message; the worker itself keeps running.
        logger.exception("The worker could not load the emotion model")
        return
    logger.info(
        "Worker ready: model %s loaded in %.1f s", recognizer.name, time.perf_counter() - started
    )


class AnalyzerConfig(AppConfig):
    name = "analyzer"
    verbose_name = "Speech emotion analyses"

    def ready(self) -> None:
        from django.conf import settings

        from analyzer import signals  # noqa: F401  (connects the receivers)
        from ml import audio

        # ml reads no environment variable: its limits come from the settings.
        audio.configure(decode_timeout=settings.SPEECHEMOTION_DECODE_TIMEOUT)

        if _is_worker_process():
            # The worker's event loop (fetching the next job, finishing the last one, the
            # hop from a job's thread back to the loop) waits for the GIL behind the two
            # analyses' threads: with Python's 5 ms switch interval that was a few
            # milliseconds per job, one slot idle meanwhile. One queue worker / model alone
            # on 4 s clips (bench.worker_throughput, medians of 3 runs, twice each): 0.76
            # and 0.73 with 5 ms, 0.79 and 0.78 with this.
            sys.setswitchinterval(WORKER_SWITCH_INTERVAL_SECONDS)
            # Loading the model takes seconds too: do it now, beside the worker's start, so
            # that the first upload's result is there as fast as the next ones.
            threading.Thread(target=_load_model, name="load-model", daemon=True).start()
