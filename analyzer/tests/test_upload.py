from __future__ import annotations

import hashlib
import re
from unittest import mock

from django.db import DEFAULT_DB_ALIAS, IntegrityError, connections
from django.test import TestCase
from django.urls import reverse

from analyzer import processing, services
from analyzer.models import Analysis
from analyzer.tests.factories import (
    TempMediaMixin,
    fake_recognizer,
    ffmpeg_encode,
    make_user,
    queued_jobs,
    requires_model,
    run_queued_analyses,
    speech_signal,
    speech_wav,
    upload,
)
from ml.labels import EMOTION_NAMES, Emotion

STORED_NAME = re.compile(r"^uploads/\d{4}/\d{2}/[0-9a-f]{32}\.wav$")


class UploadPageTests(TempMediaMixin, TestCase):
    def test_it_shows_the_upload_form_with_its_limits(self) -> None:
        response = self.client.get(reverse("analyzer:upload"))

        self.assertContains(response, 'type="file" name="file"')
        self.assertContains(response, "multipart/form-data")
        accept = re.search(r'accept="([^"]+)"', response.content.decode())[1]
        for extension in (".wav", ".flac", ".ogg", ".mp3", ".m4a", ".webm", ".mp4", ".mov", ".mkv"):
            self.assertIn(extension, accept.split(","))
        self.assertContains(response, "Up to 50.0\xa0MB and 60 min of speech")


class UploadQueueTests(TempMediaMixin, TestCase):
    """The request stores the recording and queues it; the model runs only in the worker."""

    def test_it_stores_the_upload_and_queues_its_analysis(self) -> None:
        with mock.patch.object(processing, "get_recognizer") as get_recognizer:
            response = self.client.post(
                reverse("analyzer:upload"), {"file": upload(speech_wav(), "q.wav")}, follow=True
            )

        get_recognizer.assert_not_called()
        analysis = Analysis.objects.get()
        self.assertRedirects(response, reverse("analyzer:result", args=[analysis.pk]))
        self.assertEqual(analysis.status, Analysis.Status.PENDING)
        [job] = queued_jobs()
        self.assertEqual(job.args, {"analysis_id": str(analysis.pk)})
        self.assertEqual(job.queue_name, "analyses")
        self.assertEqual(analysis.job_id, job.id)
        self.assertIsNotNone(analysis.queued_at)
        # The page says what is going on and keeps itself up to date.
        self.assertContains(response, "Analysing… waiting in the queue")
        status_url = reverse("analyzer:status", args=[analysis.pk])
        self.assertContains(response, f'data-status-url="{status_url}"')
        self.assertContains(response, '<noscript><meta http-equiv="refresh" content="2">')
        self.assertNotContains(response, 'role="meter"')

    def test_it_leaves_neither_row_nor_job_for_a_refused_upload(self) -> None:
        response = self.client.post(reverse("analyzer:upload"), {"file": upload(b"nonsense")})

        self.assertEqual(response.status_code, 400)
        self.assertEqual(Analysis.objects.count(), 0)
        self.assertEqual(queued_jobs(), [])


@requires_model
class UploadWithModelTests(TempMediaMixin, TestCase):
    def test_it_analyses_an_upload_end_to_end(self) -> None:
        data = speech_wav(Emotion.ANGRY)
        expected_duration = len(speech_signal(Emotion.ANGRY)) / 16000

        self.client.post(reverse("analyzer:upload"), {"file": upload(data, "my take.wav")})
        run_queued_analyses()
        analysis = Analysis.objects.get()
        response = self.client.get(analysis.get_absolute_url())

        self.assertEqual(analysis.status, Analysis.Status.DONE, analysis.error_message)
        self.assertEqual(analysis.original_name, "my take.wav")
        self.assertEqual(analysis.sha256, hashlib.sha256(data).hexdigest())
        self.assertEqual(analysis.size, len(data))
        self.assertAlmostEqual(analysis.duration, expected_duration, places=3)
        self.assertEqual((analysis.sample_rate, analysis.channels), (16000, 1))
        self.assertEqual((analysis.format, analysis.content_type), ("wav", "audio/wav"))
        self.assertIn(analysis.emotion, EMOTION_NAMES)
        self.assertEqual(sorted(analysis.probabilities), sorted(EMOTION_NAMES))
        self.assertAlmostEqual(sum(analysis.probabilities.values()), 1.0, places=5)
        self.assertAlmostEqual(analysis.confidence, max(analysis.probabilities.values()))
        self.assertTrue(analysis.model_name)
        self.assertEqual(len(analysis.model_sha256), 64)
        self.assertGreater(analysis.processing_ms, 0)

        # A short take is one segment, and the result is that segment's prediction.
        [segment] = analysis.segments.all()
        self.assertEqual(
            (segment.emotion, segment.confidence), (analysis.emotion, analysis.confidence)
        )
        self.assertAlmostEqual(analysis.distribution[analysis.emotion], 1.0)

        # What the user sees: the verdict, eight bars, the segment, the player, the facts.
        self.assertIn(analysis.verdict, {"clear", "mixed", "unclear"})
        self.assertContains(response, f">{analysis.headline}</div>", html=False)
        self.assertContains(response, f'data-emotion="{analysis.emotion}"')
        self.assertEqual(response.content.decode().count('role="meter"'), 8)
        for emotion in Emotion:
            self.assertContains(response, f'<span class="name chip">{emotion.label}</span>')
        self.assertContains(response, f'src="{reverse("analyzer:audio", args=[analysis.pk])}"')
        self.assertContains(response, analysis.model_sha256[:12])
        self.assertContains(response, "16000 Hz")

        # The stored file has a random name, the same bytes, and nothing else is left over.
        self.assertRegex(analysis.file.name, STORED_NAME)
        self.assertNotIn("take", analysis.file.name)
        self.assertEqual(self.stored_files(), [self.media_root / analysis.file.name])
        self.assertEqual((self.media_root / analysis.file.name).read_bytes(), data)
        self.assertEqual(self.temporary_files(), [])

    def test_it_reports_the_original_sample_rate_and_channels(self) -> None:
        data = speech_wav(Emotion.CALM, sample_rate=22050, channels=2)

        self.client.post(reverse("analyzer:upload"), {"file": upload(data, "stereo.wav")})
        run_queued_analyses()

        analysis = Analysis.objects.get()
        self.assertEqual(analysis.status, Analysis.Status.DONE, analysis.error_message)
        self.assertEqual((analysis.sample_rate, analysis.channels), (22050, 2))
        response = self.client.get(analysis.get_absolute_url())
        self.assertContains(response, "22050 Hz")
        self.assertContains(response, "2 (stereo)")

    def test_it_gives_the_analysis_to_the_signed_in_user(self) -> None:
        self.client.force_login(make_user())
        self.client.post(reverse("analyzer:upload"), {"file": upload(speech_wav(), "one.wav")})

        analysis = Analysis.objects.get()
        self.assertEqual(analysis.owner.username, "ada")
        self.assertEqual(analysis.session_key, "")
        self.assertContains(self.client.get(reverse("analyzer:history")), "one.wav")


class UploadWithoutModelTests(TempMediaMixin, TestCase):
    """The model is replaced by a stand-in: these need the speech data, not TensorFlow."""

    def post_and_run(self, data: bytes, name: str, content_type: str = "audio/wav", **patch):
        recognizer = patch.pop("recognizer", None) or fake_recognizer()
        with mock.patch.object(processing, "get_recognizer", return_value=recognizer, **patch):
            self.client.post(reverse("analyzer:upload"), {"file": upload(data, name, content_type)})
            run_queued_analyses()
        analysis = Analysis.objects.get()
        return analysis, self.client.get(analysis.get_absolute_url())

    def test_it_stores_the_prediction_of_the_model(self) -> None:
        analysis, response = self.post_and_run(speech_wav(), "speech.wav")

        self.assertEqual(analysis.status, Analysis.Status.DONE)
        self.assertEqual(analysis.emotion, "sad")
        self.assertEqual(analysis.model_name, "fake-model")
        self.assertContains(response, '<div class="emotion emo-sad" data-emotion="sad">Sad</div>')
        self.assertContains(response, "70%")

    def test_it_analyses_the_sound_track_of_a_video(self) -> None:
        video = ffmpeg_encode(
            speech_wav(), ".mp4", "-c:a", "aac", "-ar", "44100", "-ac", "2", video=True
        )

        analysis, response = self.post_and_run(video, "phone clip.mp4", "video/mp4")

        self.assertEqual(analysis.status, Analysis.Status.DONE)
        self.assertEqual((analysis.format, analysis.content_type), ("mp4", "video/mp4"))
        self.assertEqual((analysis.sample_rate, analysis.channels), (44100, 2))
        self.assertAlmostEqual(analysis.duration, 3.47, delta=0.1)
        self.assertRegex(analysis.file.name, r"^uploads/\d{4}/\d{2}/[0-9a-f]{32}\.mp4$")
        self.assertContains(response, "MP4 (video/mp4)")
        audio = self.client.get(reverse("analyzer:audio", args=[analysis.pk]))
        self.assertEqual(audio["Content-Type"], "video/mp4")

    def test_it_names_an_audio_only_mp4_as_m4a(self) -> None:
        m4a = ffmpeg_encode(speech_wav(), ".m4a", "-c:a", "aac")

        analysis, _ = self.post_and_run(m4a, "voice memo")

        self.assertEqual((analysis.format, analysis.content_type), ("m4a", "audio/mp4"))
        self.assertTrue(analysis.file.name.endswith(".m4a"))

    def test_it_keeps_a_failed_analysis_with_its_message(self) -> None:
        broken = fake_recognizer(error=RuntimeError("CUDA exploded"))
        with self.assertLogs("analyzer.processing", "ERROR"):
            analysis, response = self.post_and_run(speech_wav(), "kept.wav", recognizer=broken)

        self.assertEqual(analysis.status, Analysis.Status.FAILED)
        self.assertEqual(analysis.error_message, processing.UNEXPECTED_MODEL_ERROR)
        self.assertEqual(analysis.emotion, "")
        self.assertIsNone(analysis.confidence)
        self.assertEqual(analysis.segments.count(), 0)
        self.assertEqual(self.stored_files(), [self.media_root / analysis.file.name])
        self.assertContains(response, "The analysis failed")
        self.assertContains(response, f'action="{reverse("analyzer:retry", args=[analysis.pk])}"')
        self.assertContains(response, "The emotion model failed on this recording.")
        self.assertNotContains(response, "CUDA exploded")
        self.assertNotContains(response, 'role="meter"')

    def test_it_keeps_a_failed_analysis_when_the_model_cannot_load(self) -> None:
        from ml.errors import ModelLoadError

        with self.assertLogs("analyzer.processing", "WARNING"):
            analysis, _ = self.post_and_run(
                speech_wav(),
                "speech.wav",
                side_effect=ModelLoadError("No model directory at /x."),
            )

        self.assertEqual(analysis.status, Analysis.Status.FAILED)
        self.assertEqual(analysis.error_message, "No model directory at /x.")

    def test_it_runs_the_model_outside_the_transaction_that_stores_the_row(self) -> None:
        # This thread's connection: the model may run in other threads (ml.timeline), whose
        # own connections would say nothing about the transaction held here.
        db = connections[DEFAULT_DB_ALIAS]
        depth_at_call = len(db.atomic_blocks)
        depths: list[int] = []
        recognizer = fake_recognizer()
        prediction = recognizer.predict_signal.return_value

        def predict(signal, **kwargs):
            depths.append(len(db.atomic_blocks))
            return prediction

        recognizer.predict_signal.side_effect = predict
        analysis = services.analysis_create(
            upload=upload(speech_wav()), owner=None, session_key="s" * 32
        )
        with mock.patch.object(processing, "get_recognizer", return_value=recognizer):
            processing.analysis_process(analysis_id=str(analysis.pk))

        self.assertEqual(depths, [depth_at_call])
        self.assertEqual(Analysis.objects.get().status, Analysis.Status.DONE)

    def test_it_leaves_no_file_when_the_row_cannot_be_saved(self) -> None:
        with (
            mock.patch.object(Analysis, "save", side_effect=IntegrityError("insert failed")),
            self.assertRaises(IntegrityError),
        ):
            services.analysis_create(upload=upload(speech_wav()), owner=None, session_key="k")

        self.assertEqual(Analysis.objects.count(), 0)
        self.assertEqual(queued_jobs(), [])
        self.assertEqual(self.stored_files(), [])
        self.assertEqual(self.temporary_files(), [])
