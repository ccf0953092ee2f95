from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
import threading
import time

from django.apps import AppConfig

logger = logging.getLogger(__name__)


def _is_worker_process() -> bool:
    """``manage.py procrastinate worker``: the process that runs the analyses."""
    return sys.argv[1:3] == ["procrastinate", "worker"]


# What TensorFlow prints on its own when it loads: the oneDNN and CPU-instruction notices
# (and absl's line that comes before them). Nothing an operator has to act on.
_TENSORFLOW_NOTICE = re.compile(
    r"All log messages before absl::InitializeLog\(\) is called"
    r"|oneDNN custom operations are on"
    r"|cpu_feature_guard"
    r"|^To enable the following instructions"
)


def _import_tensorflow_quietly() -> None:
    """Import TensorFlow with its start-up notices kept out of the worker's output.

    TF_CPP_MIN_LOG_LEVEL=2 silences its later INFO and WARNING lines, but the oneDNN notice
    comes before that is read, and only turning oneDNN off (TF_ENABLE_ONEDNN_OPTS=0) stops
    it, which makes the model about a third slower. So the import writes to a temporary
    file instead of standard error, and whatever else it printed is passed on. Done before
    the worker starts, while no other thread writes there.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with tempfile.TemporaryFile() as captured:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow  # noqa: F401
        except ImportError:
            pass  # the model's loader says so with a clear message
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        captured.seek(0)
        output = captured.read().decode(errors="replace")
    kept = [line for line in output.splitlines(True) if not _TENSORFLOW_NOTICE.search(line)]
    if kept:
        sys.stderr.write("".join(kept))
        sys.stderr.flush()


def _load_model() -> None:
    from django.conf import settings

    from analyzer import services

    started = time.perf_counter()
    try:
        recognizer = services.get_recognizer(settings.SPEECHEMOTION_MODEL)
    except Exception:
        # The first analysis will fail with the message; the worker itself keeps running.
        logger.exception("The worker could not load the emotion model")
        return
    with contextlib.suppress(ImportError):
        from analyzer import charts  # noqa: F401  (matplotlib takes a while to import too)
    logger.info(
        "Worker ready: model %s loaded in %.1f s", recognizer.name, time.perf_counter() - started
    )


class AnalyzerConfig(AppConfig):
    name = "analyzer"
    verbose_name = "Speech emotion analyses"

    def ready(self) -> None:
        from analyzer import signals  # noqa: F401  (connects the receivers)

        if _is_worker_process():
            _import_tensorflow_quietly()
            # Loading the model takes seconds too: do it now, beside the worker's start, so
            # that the first upload's result is there as fast as the next ones.
            threading.Thread(target=_load_model, name="load-model", daemon=True).start()
