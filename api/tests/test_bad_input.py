"""Bad uploads through the API: a 4xx with the upload form's own message, nothing kept."""

from __future__ import annotations

import numpy as np
from django.http import HttpResponse
from django.test import TestCase, override_settings

from analyzer.models import Analysis
from analyzer.tests.factories import TempMediaMixin, make_user, speech_wav, upload
from api.tests.helpers import KeyClient, new_key

ANALYSES = "/api/v1/analyses/"


class BadInputTests(TempMediaMixin, TestCase):
    def setUp(self) -> None:
        super().setUp()
        make_user("ada")
        self.api = KeyClient(new_key("ada"))

    def assertRefused(self, response: HttpResponse, message: str, status: int = 400) -> None:
        self.assertEqual(response.status_code, status)
        self.assertEqual(response["Content-Type"], "application/json")
        self.assertIn(message, " ".join(response.json()["file"]))
        self.assertEqual(Analysis.objects.count(), 0)
        self.assertEqual(self.stored_files(), [])

    def test_it_asks_for_a_file_when_none_is_sent(self) -> None:
        self.assertRefused(self.api.post(ANALYSES, {}), "Choose a recording to upload.")

    def test_it_asks_for_a_file_when_the_body_is_json(self) -> None:
        response = self.api.post(ANALYSES, {"file": "x"}, content_type="application/json")

        self.assertEqual(response.status_code, 415)
        self.assertIn("Unsupported media type", response.json()["detail"])

    def test_it_refuses_an_empty_file(self) -> None:
        self.assertRefused(self.api.post(ANALYSES, {"file": upload(b"")}), "The file is empty.")

    def test_it_refuses_random_bytes(self) -> None:
        data = np.random.default_rng(7).bytes(20_000)
        self.assertRefused(
            self.api.post(ANALYSES, {"file": upload(data, "random.wav")}),
            "This file is not a supported audio or video format",
        )

    @override_settings(SPEECHEMOTION_MAX_UPLOAD_BYTES=10_000)
    def test_it_refuses_a_file_over_the_size_limit(self) -> None:
        self.assertRefused(
            self.api.post(ANALYSES, {"file": upload(speech_wav())}),
            "The file is too large; the limit is 9.8\xa0KB.",
            status=413,
        )

    @override_settings(SPEECHEMOTION_MAX_DURATION_SECONDS=2)
    def test_it_refuses_a_recording_over_the_duration_limit(self) -> None:
        self.assertRefused(
            self.api.post(ANALYSES, {"file": upload(speech_wav())}),
            "The recording is 3.5 s long; the limit is 2.0 s.",
        )
