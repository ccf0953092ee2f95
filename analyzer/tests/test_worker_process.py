"""Real worker processes (``manage.py procrastinate worker``) against the test database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.test import TransactionTestCase
from django.urls import reverse
from procrastinate.contrib.django.models import ProcrastinateJob, ProcrastinateWorker

from analyzer.models import Analysis
from analyzer.tasks import ANALYZE_TASK
from analyzer.tests.factories import (
    QueueMixin,
    TempMediaMixin,
    long_speech_wav,
    make_user,
    requires_model,
    speech_wav,
    upload,
)
from ml.recognizer import default_model_path, read_meta


def _database_url() -> str:
    """The test database (not the development one) as a DATABASE_URL for a subprocess."""
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    return f"postgres://{db['USER']}{password}@{host}:{db.get('PORT') or 5432}/{db['NAME']}"


class WorkerProcessMixin(QueueMixin, TempMediaMixin):
    def setUp(self) -> None:
        super().setUp()
        self.log_dir = tempfile.TemporaryDirectory(prefix="se-worker-logs-")
        self.addCleanup(self.log_dir.cleanup)  # type: ignore[attr-defined]
        self.workers: list[Worker] = []

    def start_worker(
        self, *, settings_module: str = "speechemotion.settings", **env: str
    ) -> Worker:
        worker = Worker(
            env={
                "DJANGO_SETTINGS_MODULE": settings_module,
                "DATABASE_URL": _database_url(),
                "MEDIA_ROOT": str(self.media_root),
                # Fast heartbeats and checks, so that a dead worker is noticed in seconds.
                "WORKER_HEARTBEAT_SECONDS": "1",
                "STALLED_WORKER_SECONDS": "2",
                "RECOVERY_INTERVAL_SECONDS": "1",
                "WORKER_LOG_LEVEL": "INFO",
                "LOG_LEVEL": "INFO",
                **env,
            },
            log_path=Path(self.log_dir.name) / f"worker-{len(self.workers) + 1}.log",
        )
        self.workers.append(worker)
        self.addCleanup(worker.stop)  # type: ignore[attr-defined]
        return worker

    def upload(self, data: bytes, name: str) -> Analysis:
        self.client.post(reverse("analyzer:upload"), {"file": upload(data, name)})  # type: ignore[attr-defined]
        return Analysis.objects.get(original_name=name)

    def wait_for(self, what: str, check: Callable[[], bool], *, timeout: float, worker: Worker):
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                self.fail(f"Timed out waiting for {what}.\n--- worker log ---\n{worker.log()}")  # type: ignore[attr-defined]
            if worker.process.poll() is not None:
                self.fail(f"The worker exited while waiting for {what}.\n{worker.log()}")  # type: ignore[attr-defined]
            time.sleep(0.02)


class Worker:
    """``python manage.py procrastinate worker`` in a process of its own; its log in a file."""

    def __init__(self, *, env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        with log_path.open("wb") as log:  # the child keeps its own copy of the descriptor
            # TensorFlow's variables as the worker sets them itself, not as inherited.
            inherited = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "procrastinate", "worker"],
                cwd=settings.BASE_DIR,
                env={**inherited, **env},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no clean-up at all, as when the machine loses power or runs out of memory."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> int:
        """SIGTERM, as ``make run`` and ``docker compose stop`` do; returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


@requires_model
class WorkerProcessTests(WorkerProcessMixin, TransactionTestCase):
    def test_it_analyses_a_queued_upload_within_a_second_of_it(self) -> None:
        self.client.force_login(make_user())
        worker = self.start_worker()
        self.wait_for(
            "the model", lambda: "Worker ready" in worker.log(), timeout=300, worker=worker
        )

        started = time.monotonic()
        analysis = self.upload(speech_wav(), "short.wav")
        self.wait_for(
            "the result",
            lambda: Analysis.objects.get(pk=analysis.pk).status == Analysis.Status.DONE,
            timeout=30,
            worker=worker,
        )
        elapsed = time.monotonic() - started

        # Woken by NOTIFY, not by polling (every 5 s): a short clip is done in about a second.
        self.assertLess(elapsed, 2.5, worker.log())
        analysis.refresh_from_db()
        self.assertEqual(analysis.segments.count(), 1)
        self.assertEqual(analysis.model_name, read_meta(default_model_path())["name"])
        page = self.client.get(analysis.get_absolute_url())
        self.assertContains(page, f'data-emotion="{analysis.emotion}"')
        self.assertContains(page, 'class="seek"')

        self.assertEqual(worker.stop(), 0, worker.log())
        self.assertFalse(ProcrastinateWorker.objects.exists())  # unregistered on the way out
        # TensorFlow's start-up notices are not in the worker's output.
        for notice in ("oneDNN", "cpu_feature_guard", "absl::InitializeLog", "I0000"):
            self.assertNotIn(notice, worker.log())


class KilledWorkerTests(WorkerProcessMixin, TransactionTestCase):
    """A worker killed in the middle of an analysis: another worker finishes it."""

    def test_it_recovers_the_analysis_of_a_killed_worker(self) -> None:
        slow = "analyzer.tests.worker_settings"
        self.client.force_login(make_user())
        analysis = self.upload(long_speech_wav(), "meeting.wav")
        first = self.start_worker(settings_module=slow)

        def half_way() -> bool:
            row = Analysis.objects.get(pk=analysis.pk)
            return row.status == Analysis.Status.RUNNING and row.segments_done >= 1

        self.wait_for("the analysis to start", half_way, timeout=120, worker=first)
        first.kill()

        analysis.refresh_from_db()
        self.assertEqual(analysis.status, Analysis.Status.RUNNING)
        self.assertLess(analysis.segments_done, analysis.segments_total)
        self.assertEqual(ProcrastinateJob.objects.get(id=analysis.job_id).status, "doing")

        second = self.start_worker(settings_module=slow)
        self.wait_for(
            "another worker to finish the analysis",
            lambda: not Analysis.objects.get(pk=analysis.pk).is_active,
            timeout=120,
            worker=second,
        )

        analysis.refresh_from_db()
        self.assertEqual(analysis.status, Analysis.Status.DONE, analysis.error_message)
        self.assertEqual(analysis.model_name, "slow-fake-model")
        self.assertEqual(analysis.segments.count(), analysis.segments_total)
        self.assertEqual(analysis.emotion, "calm")
        self.assertIn(f"Requeued job {analysis.job_id} of a dead worker", second.log())
        # Done with, the job leaves the queue (delete_jobs="successful").
        self.wait_for(
            "the job to leave the queue",
            lambda: not ProcrastinateJob.objects.filter(task_name=ANALYZE_TASK).exists(),
            timeout=30,
            worker=second,
        )
        page = self.client.get(analysis.get_absolute_url())
        self.assertContains(page, '<div class="emotion emo-calm" data-emotion="calm">Calm</div>')
        self.assertEqual(second.stop(), 0, second.log())

    def test_it_puts_a_running_analysis_back_in_the_queue_when_stopped(self) -> None:
        self.client.force_login(make_user())
        analysis = self.upload(long_speech_wav(), "interrupted.wav")
        # No grace period: on SIGTERM the analysis stops at its next window.
        worker = self.start_worker(
            settings_module="analyzer.tests.worker_settings", WORKER_SHUTDOWN_SECONDS="0"
        )
        self.wait_for(
            "the analysis to start",
            lambda: Analysis.objects.get(pk=analysis.pk).segments_done >= 1,
            timeout=120,
            worker=worker,
        )

        self.assertEqual(worker.stop(), 0, worker.log())

        analysis.refresh_from_db()
        self.assertEqual(analysis.status, Analysis.Status.PENDING, worker.log())
        self.assertEqual(analysis.segments.count(), 0)
        job = ProcrastinateJob.objects.get(id=analysis.job_id)
        self.assertEqual((job.status, job.attempts), ("todo", 1))
        self.assertIn("stopped with the worker; it goes back to the queue", worker.log())
