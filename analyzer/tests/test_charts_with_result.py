"""The charts' data is made beside the model and saved with the result when it is ready."""

from __future__ import annotations

import threading
from unittest import mock

from django.test import TestCase

from analyzer import processing, services
from analyzer.models import Analysis, AnalysisOverview
from analyzer.tests.factories import (
    TempMediaMixin,
    fake_recognizer,
    run_queued_analyses,
    speech_wav,
    upload,
)
from ml.overview import overview as real_overview


def _queue() -> Analysis:
    return services.analysis_create(
        upload=upload(speech_wav(), "talk.wav"), owner=None, session_key="k" * 32
    )


class ChartsWithResultTests(TempMediaMixin, TestCase):
    def test_it_saves_the_result_and_the_charts_in_one_step_when_both_are_ready(self) -> None:
        analysis = _queue()
        steps: list[tuple[str, bool, bool]] = []
        save_outcome = processing._save_outcome

        def save_and_look(target: Analysis, **kwargs: object) -> bool:
            saved = save_outcome(target, **kwargs)
            row = Analysis.objects.get(pk=target.pk)
            has_charts = AnalysisOverview.objects.filter(analysis=target).exists()
            steps.append((row.status, row.charts_pending, has_charts))
            return saved

        with (
            mock.patch.object(processing, "get_recognizer", return_value=fake_recognizer()),
            mock.patch.object(processing, "_save_outcome", side_effect=save_and_look),
            mock.patch.object(processing, "_save_charts") as save_charts,
        ):
            run_queued_analyses()

        self.assertEqual(steps, [("done", False, True)])
        save_charts.assert_not_called()
        data = AnalysisOverview.objects.get(analysis=analysis).data
        self.assertEqual(data["spectrogram"]["bands"], 64)

    def test_it_saves_the_result_first_when_the_charts_are_late(self) -> None:
        analysis = _queue()
        release = threading.Event()
        steps: list[tuple[str, bool, bool]] = []
        save_outcome = processing._save_outcome

        def late_overview(*args: object, **kwargs: object) -> object:
            release.wait(timeout=30)  # until the result is saved
            return real_overview(*args, **kwargs)

        def save_and_look(target: Analysis, **kwargs: object) -> bool:
            saved = save_outcome(target, **kwargs)
            row = Analysis.objects.get(pk=target.pk)
            has_charts = AnalysisOverview.objects.filter(analysis=target).exists()
            steps.append((row.status, row.charts_pending, has_charts))
            release.set()
            return saved

        with (
            mock.patch.object(processing, "get_recognizer", return_value=fake_recognizer()),
            mock.patch.object(processing, "CHARTS_WAIT_SECONDS", 0),
            mock.patch.object(processing, "overview", side_effect=late_overview),
            mock.patch.object(processing, "_save_outcome", side_effect=save_and_look),
        ):
            run_queued_analyses()

        # The page could show the result before the charts were there.
        self.assertEqual(steps, [("done", True, False)])
        analysis.refresh_from_db()
        self.assertEqual(analysis.status, Analysis.Status.DONE)
        self.assertFalse(analysis.charts_pending)
        self.assertTrue(AnalysisOverview.objects.filter(analysis=analysis).exists())
