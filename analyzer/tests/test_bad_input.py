"""Bad uploads are answered with a clear message on the form (400), and nothing is kept."""

from __future__ import annotations

from unittest import mock

import numpy as np
from django.http import HttpResponse
from django.test import TestCase, override_settings
from django.urls import reverse
from django.utils.html import escape

from analyzer import processing, services, uploads
from analyzer.models import Analysis
from analyzer.tests.factories import (
    TempMediaMixin,
    noise_wav,
    silence_wav,
    speech_signal,
    speech_wav,
    tone_wav,
    upload,
    wav_bytes,
)

NO_SPEECH = "No speech detected"
NOT_SUPPORTED = "This file is not a supported audio or video format"


class BadInputTests(TempMediaMixin, TestCase):
    def post(self, data: bytes, name: str = "take.wav") -> HttpResponse:
        return self.client.post(reverse("analyzer:upload"), {"file": upload(data, name)})

    def assertRefused(self, response: HttpResponse, message: str) -> None:
        self.assertEqual(response.status_code, 400)
        self.assertTemplateUsed(response, "analyzer/upload.html")
        # The message sits in the form's error list, next to the field.
        self.assertContains(response, 'class="errorlist"', status_code=400)
        self.assertContains(response, escape(message), status_code=400)
        self.assertContains(response, 'aria-invalid="true"', status_code=400)
        self.assertEqual(Analysis.objects.count(), 0)
        self.assertEqual(self.stored_files(), [])
        self.assertEqual(self.temporary_files(), [])

    def test_it_refuses_an_empty_file(self) -> None:
        self.assertRefused(self.post(b""), "The file is empty.")

    def test_it_asks_for_a_file_when_none_is_chosen(self) -> None:
        response = self.client.post(reverse("analyzer:upload"), {})
        self.assertRefused(response, "Choose a recording to upload.")

    def test_it_refuses_random_bytes(self) -> None:
        data = np.random.default_rng(7).bytes(20_000)
        self.assertRefused(self.post(data, "random.wav"), NOT_SUPPORTED)

    def test_it_refuses_a_text_file_named_wav(self) -> None:
        data = b"Dear diary, today I recorded nothing at all.\n" * 40
        self.assertRefused(self.post(data, "diary.wav"), NOT_SUPPORTED)

    def test_it_refuses_a_wav_cut_off_inside_its_header(self) -> None:
        self.assertRefused(
            self.post(speech_wav()[:30]),
            "The file looks like WAV but could not be decoded; it may be corrupt or truncated.",
        )

    def test_it_refuses_a_wav_cut_off_just_after_its_header(self) -> None:
        self.assertRefused(self.post(speech_wav()[:244]), "The recording is too short")

    def test_it_refuses_a_recording_that_is_too_short(self) -> None:
        self.assertRefused(
            self.post(wav_bytes(speech_signal()[8000:11000])),
            "The recording is too short (0.19 s); at least 0.5 s of audio is needed.",
        )

    @override_settings(SPEECHEMOTION_MAX_UPLOAD_BYTES=10_000)
    def test_it_refuses_a_file_over_the_size_limit_while_it_streams_in(self) -> None:
        with mock.patch.object(services, "analysis_create") as analysis_create:
            response = self.post(speech_wav())
        self.assertRefused(response, "The file is too large; the limit is 9.8\xa0KB.")
        analysis_create.assert_not_called()

    @override_settings(SPEECHEMOTION_MAX_UPLOAD_BYTES=10_000)
    def test_it_refuses_a_file_over_the_size_limit_in_the_service(self) -> None:
        # The service checks too: it is also called by the admin and commands.
        with self.assertRaisesMessage(
            services.AnalysisInputError,
            "The file is too large (108.5\xa0KB); the limit is 9.8\xa0KB.",
        ):
            services.analysis_create(upload=upload(speech_wav()), owner=None, session_key="k")
        self.assertEqual(self.stored_files(), [])
        self.assertEqual(self.temporary_files(), [])

    @override_settings(SPEECHEMOTION_MAX_DURATION_SECONDS=2)
    def test_it_refuses_a_recording_over_the_duration_limit(self) -> None:
        self.assertRefused(
            self.post(speech_wav()), "The recording is 3.5 s long; the limit is 2.0 s."
        )

    def test_it_refuses_silence(self) -> None:
        self.assertRefused(self.post(silence_wav(3.0)), NO_SPEECH)

    def test_it_refuses_a_steady_tone(self) -> None:
        self.assertRefused(self.post(tone_wav(3.0)), NO_SPEECH)

    def test_it_refuses_noise(self) -> None:
        self.assertRefused(self.post(noise_wav(3.0)), NO_SPEECH)

    def test_it_turns_an_unexpected_decoder_error_into_a_form_error(self) -> None:
        with (
            mock.patch.object(uploads, "check_audio", side_effect=RuntimeError("libsndfile")),
            self.assertLogs("analyzer.uploads", "ERROR"),
        ):
            response = self.post(speech_wav())
        self.assertRefused(response, uploads.UNREADABLE_INPUT_ERROR)
        self.assertNotContains(response, "libsndfile", status_code=400)

    def test_it_never_runs_the_model_on_refused_input(self) -> None:
        with mock.patch.object(processing, "get_recognizer") as get_recognizer:
            self.post(silence_wav())
        get_recognizer.assert_not_called()
