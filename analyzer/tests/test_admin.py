from __future__ import annotations

from unittest import mock

from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import TestCase
from django.urls import reverse

from analyzer import processing
from analyzer.models import Analysis, AnalysisChart, Segment
from analyzer.tests.factories import (
    TempMediaMixin,
    fake_recognizer,
    make_analysis,
    make_user,
    queued_jobs,
    requires_model,
    run_queued_analyses,
    speech_wav,
    tone_wav,
)
from ml.labels import EMOTION_NAMES, Emotion

CHANGELIST = reverse("admin:analyzer_analysis_changelist")


class AdminTests(TempMediaMixin, TestCase):
    def setUp(self) -> None:
        super().setUp()
        self.staff = make_user("root", staff=True)
        self.client.force_login(self.staff)
        # Staff see everyone's analyses in the admin, including anonymous ones.
        self.analysis = make_analysis(
            owner=make_user("ada"), emotion=Emotion.FEARFUL, original_name="ada.wav"
        )
        self.anonymous = make_analysis(
            session_key="k" * 32, original_name="anon.wav", data=tone_wav(1.0, 300.0)
        )

    def test_it_lists_every_analysis(self) -> None:
        response = self.client.get(CHANGELIST)

        self.assertContains(response, "ada.wav")
        self.assertContains(response, "anon.wav")
        self.assertContains(response, "60%")
        self.assertContains(response, "Analyse again with the current model")

    def test_it_filters_and_searches(self) -> None:
        by_emotion = self.client.get(CHANGELIST, {"emotion__exact": "fearful"})
        by_hash = self.client.get(CHANGELIST, {"q": self.anonymous.sha256[:20]})

        self.assertContains(by_emotion, "ada.wav")
        self.assertNotContains(by_emotion, "anon.wav")
        self.assertContains(by_hash, "anon.wav")
        self.assertNotContains(by_hash, "ada.wav")

    def test_it_shows_a_player_and_the_probabilities(self) -> None:
        url = reverse("admin:analyzer_analysis_change", args=[self.analysis.pk])

        response = self.client.get(url)

        audio_url = reverse("admin:analyzer_analysis_audio", args=[self.analysis.pk])
        self.assertContains(response, f'<audio controls preload="metadata" src="{audio_url}">')
        for emotion in Emotion:
            self.assertContains(response, f"{emotion.label}</th>")
        self.assertContains(response, "<td>60.0%</td>")
        self.assertNotContains(response, 'name="emotion"')  # read-only, not a form field
        audio = self.client.get(audio_url)
        self.assertEqual(audio.status_code, 200)
        self.assertEqual(audio["Content-Type"], "audio/wav")

    def test_it_shows_the_processing_time_in_readable_units(self) -> None:
        for processing_ms, shown in [(12.0, "12 ms"), (1234.0, "1.2 s"), (184_000.0, "3 min 4 s")]:
            with self.subTest(shown=shown):
                Analysis.objects.filter(pk=self.analysis.pk).update(processing_ms=processing_ms)
                url = reverse("admin:analyzer_analysis_change", args=[self.analysis.pk])

                response = self.client.get(url)

                self.assertContains(response, "Processing time")
                self.assertContains(response, f'<div class="readonly">{shown}</div>', html=True)
        self.assertNotContains(response, "184000")

    def test_it_has_no_add_button(self) -> None:
        self.assertEqual(self.client.get(reverse("admin:analyzer_analysis_add")).status_code, 403)

    def test_it_keeps_the_audio_from_non_staff(self) -> None:
        self.client.force_login(make_user("plain"))
        url = reverse("admin:analyzer_analysis_audio", args=[self.analysis.pk])
        self.assertEqual(self.client.get(url).status_code, 302)  # to the admin login

    def test_it_deletes_rows_and_files_in_bulk(self) -> None:
        self.assertEqual(len(self.stored_files()), 2)

        with self.captureOnCommitCallbacks(execute=True):
            self.client.post(
                CHANGELIST,
                {
                    "action": "delete_selected",
                    ACTION_CHECKBOX_NAME: [self.analysis.pk, self.anonymous.pk],
                    "post": "yes",
                },
            )

        self.assertEqual(Analysis.objects.count(), 0)
        self.assertEqual(self.stored_files(), [])

    def test_it_shows_the_segments_and_the_charts_read_only(self) -> None:
        Segment.objects.create(
            analysis=self.analysis, start=63.25, end=66.25, emotion="fearful", confidence=0.61
        )
        AnalysisChart.objects.create(
            analysis=self.analysis, kind="timeline", svg='<svg id="timeline-chart"></svg>'
        )

        response = self.client.get(
            reverse("admin:analyzer_analysis_change", args=[self.analysis.pk])
        )

        self.assertContains(response, "01:03.2")
        self.assertContains(response, "01:06.2")
        self.assertContains(response, "61%")
        self.assertContains(response, '<svg id="timeline-chart"></svg>', html=False)
        # Read-only: no inputs for the segment, and no room for new ones.
        self.assertNotContains(response, 'name="segments-0-start"')
        self.assertContains(response, 'name="segments-MAX_NUM_FORMS" value="0"')

    def test_it_analyses_again_with_the_current_model(self) -> None:
        speech = make_analysis(data=speech_wav(), original_name="speech.wav", emotion=None)

        response = self.client.post(
            CHANGELIST,
            {"action": "analyse_again", ACTION_CHECKBOX_NAME: [speech.pk]},
            follow=True,
        )

        self.assertContains(response, "Queued 1 recording(s) to be analysed again.")
        speech.refresh_from_db()
        self.assertEqual(speech.status, Analysis.Status.PENDING)
        [job] = queued_jobs()
        self.assertEqual(job.args, {"analysis_id": str(speech.pk)})

        with mock.patch.object(
            processing, "get_recognizer", return_value=fake_recognizer(name="model-v2")
        ):
            run_queued_analyses()

        speech.refresh_from_db()
        self.assertEqual(speech.status, Analysis.Status.DONE)
        self.assertEqual((speech.emotion, speech.model_name), ("sad", "model-v2"))
        self.assertEqual(speech.segments.count(), speech.segments_total)
        self.assertGreater(speech.segments_total, 0)

    def test_it_marks_a_rerun_failed_when_the_file_is_gone(self) -> None:
        (self.media_root / self.analysis.file.name).unlink()

        response = self.client.post(
            CHANGELIST,
            {"action": "analyse_again", ACTION_CHECKBOX_NAME: [self.analysis.pk]},
            follow=True,
        )

        self.assertContains(response, "1 recording(s) could not be queued.")
        self.analysis.refresh_from_db()
        self.assertEqual(self.analysis.status, Analysis.Status.FAILED)
        self.assertEqual(self.analysis.error_message, "The stored recording is missing.")
        self.assertEqual(self.analysis.emotion, "")
        self.assertEqual(queued_jobs(), [])


@requires_model
class AdminRerunWithModelTests(TempMediaMixin, TestCase):
    def test_it_analyses_again_with_the_bundled_model(self) -> None:
        self.client.force_login(make_user("root", staff=True))
        analysis = make_analysis(data=speech_wav(Emotion.SAD), emotion=None)

        self.client.post(
            CHANGELIST, {"action": "analyse_again", ACTION_CHECKBOX_NAME: [analysis.pk]}
        )
        run_queued_analyses()

        analysis.refresh_from_db()
        self.assertEqual(analysis.status, Analysis.Status.DONE, analysis.error_message)
        self.assertIn(analysis.emotion, EMOTION_NAMES)
        self.assertAlmostEqual(sum(analysis.probabilities.values()), 1.0, places=5)
        self.assertNotEqual(analysis.model_name, "test-model")
