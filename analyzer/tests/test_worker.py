"""An upload is queued, a worker (in this process) runs it, the result page shows it."""

from __future__ import annotations

import re
from unittest import mock

from django.test import TransactionTestCase
from django.urls import reverse
from procrastinate.contrib.django.models import ProcrastinateJob

from analyzer import processing
from analyzer.models import Analysis, AnalysisChart, AnalysisOverview
from analyzer.tasks import ANALYZE_TASK
from analyzer.tests.factories import (
    QueueMixin,
    TempMediaMixin,
    fake_recognizer,
    long_speech_wav,
    queued_jobs,
    run_worker,
    speech_wav,
    upload,
)
from ml.labels import Emotion


class WorkerTests(QueueMixin, TempMediaMixin, TransactionTestCase):
    def live_jobs(self):
        return ProcrastinateJob.objects.filter(task_name=ANALYZE_TASK, status__in=["todo", "doing"])

    def upload(self, data: bytes, name: str) -> Analysis:
        response = self.client.post(reverse("analyzer:upload"), {"file": upload(data, name)})
        analysis = Analysis.objects.get(original_name=name)
        self.assertRedirects(response, analysis.get_absolute_url())
        return analysis

    def test_it_runs_a_queued_upload_and_shows_the_result(self) -> None:
        analysis = self.upload(speech_wav(Emotion.ANGRY), "take.wav")
        self.assertEqual(analysis.status, Analysis.Status.PENDING)
        self.assertEqual(len(queued_jobs()), 1)

        with mock.patch.object(processing, "get_recognizer", return_value=fake_recognizer()):
            run_worker()

        analysis.refresh_from_db()
        self.assertEqual(analysis.status, Analysis.Status.DONE, analysis.error_message)
        self.assertEqual(analysis.emotion, "sad")
        # The job is done and gone (delete_jobs="successful"): nothing is left in the queue.
        self.assertFalse(self.live_jobs().exists())

        page = self.client.get(analysis.get_absolute_url())
        self.assertContains(page, '<div class="emotion emo-sad" data-emotion="sad">Sad</div>')
        self.assertContains(page, "confidence <strong>70%</strong>")
        rows = re.findall(r'<tr data-start="([\d.]+)" data-end="([\d.]+)">', page.content.decode())
        self.assertEqual(len(rows), analysis.segments.count())
        self.assertGreaterEqual(len(rows), 1)
        self.assertContains(page, 'class="seek"')
        self.assertNotContains(page, 'id="progress"')
        self.assertNotContains(page, "http-equiv")

    def test_it_analyses_several_uploads_in_one_run(self) -> None:
        first = self.upload(speech_wav(Emotion.HAPPY), "one.wav")
        second = self.upload(long_speech_wav(), "two.wav")

        with mock.patch.object(processing, "get_recognizer", return_value=fake_recognizer()):
            run_worker()

        for analysis in (first, second):
            analysis.refresh_from_db()
            self.assertEqual(analysis.status, Analysis.Status.DONE, analysis.error_message)
        self.assertGreater(second.segments.count(), first.segments.count())
        self.assertEqual(second.segments_done, second.segments_total)

    def test_it_marks_an_analysis_deleted_while_queued_as_nothing_to_do(self) -> None:
        analysis = self.upload(speech_wav(), "gone.wav")
        analysis.delete()

        with mock.patch.object(processing, "get_recognizer") as get_recognizer:
            run_worker()

        get_recognizer.assert_not_called()
        self.assertFalse(self.live_jobs().exists())

    def test_it_stores_the_charts_data_once_and_the_page_draws_them(self) -> None:
        analysis = self.upload(long_speech_wav(), "charts.wav")

        with mock.patch.object(processing, "get_recognizer", return_value=fake_recognizer()):
            run_worker()

        analysis.refresh_from_db()
        data = AnalysisOverview.objects.get(analysis=analysis).data
        self.assertAlmostEqual(data["duration"], analysis.duration, delta=0.1)
        self.assertEqual(len(data["waveform"]["peaks"]), 1000)
        self.assertEqual(data["spectrogram"]["bands"], 64)
        self.assertLessEqual(data["spectrogram"]["frames"], 400)
        self.assertFalse(AnalysisChart.objects.filter(analysis=analysis).exists())
        with mock.patch.object(processing, "overview") as overview:
            page = self.client.get(analysis.get_absolute_url())
        overview.assert_not_called()  # made by the worker, not per page view
        content = page.content.decode()
        for kind in ("waveform", "spectrogram", "timeline"):
            with self.subTest(chart=kind):
                self.assertRegex(
                    content, rf'<figure class="tchart" id="chart-{kind}">\s*<figcaption>'
                )
        self.assertIn('<ul class="bars" id="chart-distribution"', content)


class JobConnectionTests(TransactionTestCase):
    """The worker's jobs keep their thread's database connection, within CONN_MAX_AGE."""

    def test_it_reuses_a_jobs_connection_and_closes_it_once_idle_past_its_age(self) -> None:
        import time
        from concurrent.futures import ThreadPoolExecutor

        from django.db import connection

        from analyzer.tasks import _Connections

        kept = _Connections()
        backends: list[int] = []

        def job() -> None:
            kept.take()
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                backends.append(cursor.fetchone()[0])
            kept.park()

        def alive(pid: int) -> bool:
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
                return cursor.fetchone()[0] == 1

        self.assertGreater(connection.settings_dict["CONN_MAX_AGE"], 0)
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(job).result()
            pool.submit(job).result()
            self.assertEqual(backends[0], backends[1])  # one connection for both jobs
            self.assertEqual(kept.close_expired(), 0)  # idle, but younger than CONN_MAX_AGE
            self.assertTrue(alive(backends[0]))
            self.assertEqual(kept.close_expired(time.monotonic() + 3600), 1)
            for _ in range(50):  # the server notices the closed connection at once
                if not alive(backends[0]):
                    break
                time.sleep(0.02)
            self.assertFalse(alive(backends[0]))
            pool.submit(job).result()  # the next job opens a new one
        self.assertNotEqual(backends[2], backends[0])
        kept.close_expired(float("inf"))
