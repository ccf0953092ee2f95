"""Every analysis is a timeline of segments; the overall result is derived from them."""

from __future__ import annotations

import re
import time
from itertools import count
from unittest import mock

from django.test import TestCase

from analyzer import processing, services
from analyzer.models import Analysis
from analyzer.tests.factories import (
    TempMediaMixin,
    fake_recognizer,
    long_speech_signal,
    long_speech_wav,
    make_analysis,
    probabilities_for,
    requires_model,
    run_queued_analyses,
    silence_wav,
    speech_wav,
    upload,
)
from ml.audio import SPEECH_CHECK_SECONDS
from ml.labels import EMOTION_NAMES, Emotion
from ml.recognizer import Prediction


def _queue(data: bytes, name: str = "talk.wav") -> Analysis:
    return services.analysis_create(upload=upload(data, name), owner=None, session_key="k" * 32)


def _shifting_recognizer(first: Emotion, then: Emotion, *, switch_after: int) -> mock.Mock:
    """A fake model hearing ``first`` in the first ``switch_after`` windows, then ``then``."""
    recognizer = fake_recognizer()
    calls = count()

    def predict(signal, **kwargs):
        emotion = first if next(calls) < switch_after else then
        return Prediction(emotion, 0.8, probabilities_for(emotion, 0.8))

    recognizer.predict_signal.side_effect = predict
    return recognizer


@requires_model
class LongRecordingWithModelTests(TempMediaMixin, TestCase):
    def test_it_splits_a_long_recording_into_segments_in_time_order(self) -> None:
        signal = long_speech_signal()
        duration = len(signal) / 16000
        self.assertGreater(duration, 35)
        analysis = _queue(long_speech_wav())

        run_queued_analyses()

        analysis.refresh_from_db()
        self.assertEqual(analysis.status, Analysis.Status.DONE, analysis.error_message)
        segments = list(analysis.segments.all())
        self.assertGreaterEqual(len(segments), 6)
        starts = [s.start for s in segments]
        self.assertEqual(starts, sorted(starts))
        self.assertEqual(len(set(starts)), len(starts))
        for segment in segments:
            self.assertLess(segment.start, segment.end)
            self.assertLessEqual(segment.end, duration + 0.01)
            self.assertAlmostEqual(sum(segment.probabilities.values()), 1.0, places=5)
            self.assertEqual(segment.confidence, max(segment.probabilities.values()))
        # The takes are separated by 1.5 s of silence: no segment spans the gap after the first.
        first_take = len(long_speech_signal((Emotion.NEUTRAL,))) / 16000
        self.assertFalse(any(s.start < first_take + 0.5 < s.end for s in segments))

        self.assertEqual((analysis.segments_done, analysis.segments_total), (len(segments),) * 2)
        self.assertEqual(sorted(analysis.distribution), sorted(EMOTION_NAMES))
        self.assertAlmostEqual(sum(analysis.distribution.values()), 1.0, places=6)
        self.assertAlmostEqual(sum(analysis.probabilities.values()), 1.0, places=6)
        # The headline is the top of the probabilities, its confidence that bar's value.
        self.assertEqual(analysis.confidence, max(analysis.probabilities.values()))
        self.assertEqual(analysis.confidence, analysis.probabilities[analysis.emotion])
        self.assertIn(analysis.verdict, {"clear", "mixed", "unclear"})
        self.assertFalse(analysis.charts_pending)


class TimelineTests(TempMediaMixin, TestCase):
    def test_it_names_the_top_of_the_speech_weighted_mean_probabilities(self) -> None:
        analysis = _queue(long_speech_wav())
        recognizer = _shifting_recognizer(Emotion.HAPPY, Emotion.SAD, switch_after=2)

        with mock.patch.object(processing, "get_recognizer", return_value=recognizer):
            run_queued_analyses()

        analysis.refresh_from_db()
        segments = list(analysis.segments.all())
        self.assertGreater(len(segments), 4)
        self.assertEqual([s.emotion for s in segments[:2]], ["happy", "happy"])
        self.assertEqual({s.emotion for s in segments[2:]}, {"sad"})
        self.assertEqual(analysis.emotion, "sad")
        self.assertGreater(analysis.distribution["sad"], analysis.distribution["happy"])
        self.assertAlmostEqual(analysis.distribution["happy"] + analysis.distribution["sad"], 1)
        # The mean of the segments' probabilities, weighted by their speaking time.
        self.assertAlmostEqual(
            analysis.probabilities["sad"],
            0.8 * analysis.distribution["sad"] + (0.2 / 7) * analysis.distribution["happy"],
        )
        self.assertEqual(analysis.confidence, analysis.probabilities["sad"])

    def test_it_gives_a_short_clip_the_prediction_of_its_one_segment(self) -> None:
        analysis = _queue(speech_wav())

        with mock.patch.object(processing, "get_recognizer", return_value=fake_recognizer()):
            run_queued_analyses()

        analysis.refresh_from_db()
        [segment] = analysis.segments.all()
        self.assertEqual(analysis.emotion, segment.emotion)
        self.assertAlmostEqual(analysis.confidence, segment.confidence)
        for name in EMOTION_NAMES:
            self.assertAlmostEqual(analysis.probabilities[name], segment.probabilities[name])
        self.assertEqual(analysis.distribution["sad"], 1.0)

    def test_it_shows_the_segments_with_their_times(self) -> None:
        self.client.get("/")  # a session for the upload
        key = self.client.session.session_key
        analysis = services.analysis_create(
            upload=upload(long_speech_wav(), "talk.wav"), owner=None, session_key=key
        )
        with mock.patch.object(processing, "get_recognizer", return_value=fake_recognizer()):
            run_queued_analyses()

        page = self.client.get(analysis.get_absolute_url())

        content = page.content.decode()
        segments = list(analysis.segments.all())
        rows = re.findall(r'<a class="seek" href="[^"]+#t=([\d.]+)" data-start="([\d.]+)"', content)
        self.assertEqual(len(rows), len(segments))
        self.assertEqual([float(start) for _, start in rows], [round(s.start, 3) for s in segments])
        last = segments[-1]
        minutes, seconds = divmod(round(last.start, 1), 60)
        self.assertIn(f">{int(minutes):02d}:{seconds:04.1f}</a>", content)
        self.assertContains(page, f"Over {len(segments)} segments of speech.")

    def test_it_writes_the_progress_while_it_runs(self) -> None:
        analysis = _queue(long_speech_wav())
        seen: list[tuple[str, int, int]] = []
        write_progress = processing._Progress.__call__

        # The row as the page reads it after each window. Read here, in the thread that
        # runs the analysis: the model's windows run in threads of their own (ml.timeline),
        # whose connections cannot see this test's transaction.
        def write_then_read(progress: processing._Progress, done: int, total: int) -> None:
            write_progress(progress, done, total)
            row = Analysis.objects.get(pk=analysis.pk)
            seen.append((row.status, row.segments_done, row.segments_total))

        with (
            mock.patch.object(processing, "get_recognizer", return_value=fake_recognizer()),
            mock.patch.object(processing, "PROGRESS_INTERVAL_SECONDS", 0),
            mock.patch.object(processing._Progress, "__call__", write_then_read),
        ):
            run_queued_analyses()

        row = Analysis.objects.get(pk=analysis.pk)
        total = row.segments_total
        self.assertGreater(total, 1)
        # Every window but the last is written as it ends; the last one's count comes with
        # the result, in the same write.
        self.assertEqual(
            seen,
            [("running", i, total) for i in range(1, total)] + [("running", total - 1, total)],
        )
        self.assertEqual((row.status, row.segments_done), ("done", total))

    def test_it_throttles_the_progress_updates(self) -> None:
        analysis = _queue(speech_wav())
        progress = processing._Progress(analysis, should_stop=None)

        with self.assertNumQueries(0):
            for done in range(1, 10):
                progress(done, 10)  # nine windows within half a second: no UPDATE yet
        later = time.monotonic() + processing.PROGRESS_INTERVAL_SECONDS
        with (
            mock.patch.object(processing.time, "monotonic", return_value=later),
            self.assertNumQueries(1),
        ):
            progress(9, 10)
            progress(10, 10)  # the last window: written with the result, not here

        self.assertEqual(Analysis.objects.get(pk=analysis.pk).segments_done, 9)

    def test_it_stops_when_the_worker_asks_it_to(self) -> None:
        analysis = _queue(long_speech_wav())

        with (
            mock.patch.object(processing, "get_recognizer", return_value=fake_recognizer()),
            self.assertRaises(processing.AnalysisInterrupted),
        ):
            processing.analysis_process(analysis_id=str(analysis.pk), should_stop=lambda: True)

        analysis.refresh_from_db()
        self.assertEqual(analysis.status, Analysis.Status.RUNNING)  # the task sets it back
        self.assertEqual(analysis.segments.count(), 0)

    def test_it_fails_a_recording_without_a_speech_region(self) -> None:
        analysis = _queue(speech_wav())

        with (
            mock.patch.object(processing, "get_recognizer", return_value=fake_recognizer()),
            mock.patch.object(processing, "timeline", return_value=[]),
        ):
            run_queued_analyses()

        analysis.refresh_from_db()
        self.assertEqual(analysis.status, Analysis.Status.FAILED)
        self.assertTrue(analysis.error_message.startswith("No speech detected"))
        self.assertEqual(analysis.segments.count(), 0)

    def test_it_fails_a_stored_recording_of_silence(self) -> None:
        # The upload refuses silence; a file stored some other way finds no speech region.
        analysis = make_analysis(data=silence_wav(3.0), emotion=None)

        with mock.patch.object(processing, "get_recognizer", return_value=fake_recognizer()):
            processing.analysis_process(analysis_id=str(analysis.pk))

        analysis.refresh_from_db()
        self.assertEqual(analysis.status, Analysis.Status.FAILED)
        self.assertTrue(analysis.error_message.startswith("No speech detected"))
        self.assertEqual(analysis.segments.count(), 0)

    def test_it_checks_the_rest_of_a_long_recording_for_speech(self) -> None:
        # The upload looked at the first minute only: the worker checks all of it.
        analysis = make_analysis(data=silence_wav(SPEECH_CHECK_SECONDS + 5), emotion=None)

        with mock.patch.object(processing, "get_recognizer") as get_recognizer:
            processing.analysis_process(analysis_id=str(analysis.pk))

        get_recognizer.assert_not_called()
        analysis.refresh_from_db()
        self.assertEqual(analysis.status, Analysis.Status.FAILED)
        self.assertTrue(analysis.error_message.startswith("No speech detected: the recording"))

    def test_it_replaces_the_segments_of_an_earlier_run(self) -> None:
        analysis = _queue(long_speech_wav())
        with mock.patch.object(processing, "get_recognizer", return_value=fake_recognizer()):
            run_queued_analyses()
            first = analysis.segments.count()
            processing.analysis_process(analysis_id=str(analysis.pk))

        self.assertEqual(analysis.segments.count(), first)
