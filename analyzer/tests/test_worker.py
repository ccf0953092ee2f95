"""An upload is queued, a worker (in this process) runs it, the result page shows it."""

from __future__ import annotations

import importlib.util
import re
import unittest
from unittest import mock

from django.test import TransactionTestCase
from django.urls import reverse
from procrastinate.contrib.django.models import ProcrastinateJob

from analyzer import processing
from analyzer.models import Analysis, AnalysisChart
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

_charts_available = importlib.util.find_spec("analyzer.charts") is not None


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

    @unittest.skipUnless(_charts_available, "analyzer.charts is not there yet")
    def test_it_draws_the_charts_once_and_shows_them(self) -> None:
        analysis = self.upload(long_speech_wav(), "charts.wav")

        with mock.patch.object(processing, "get_recognizer", return_value=fake_recognizer()):
            run_worker()

        kinds = set(AnalysisChart.objects.filter(analysis=analysis).values_list("kind", flat=True))
        self.assertEqual(kinds, set(AnalysisChart.Kind.values))
        with mock.patch("analyzer.charts.render_all") as render_all:
            page = self.client.get(analysis.get_absolute_url())
        render_all.assert_not_called()  # drawn by the worker, not per page view
        content = page.content.decode()
        for kind in ("waveform", "spectrogram", "timeline", "distribution"):
            with self.subTest(chart=kind):
                match = re.search(
                    rf'<figure class="chart" id="chart-{kind}"[^>]*>\s*(.{{5}})', content
                )
                self.assertIsNotNone(match, f"no {kind} chart on the page")
                self.assertTrue(match[1].startswith("<svg") or match[1].startswith("<?xml"))
