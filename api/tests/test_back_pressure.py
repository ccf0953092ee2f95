"""The API's POST under back-pressure: 429 (the key owner's own queue) or 503 (the whole
queue), as JSON with Retry-After, and nothing stored."""

from __future__ import annotations

from django.test import TestCase, override_settings

from analyzer.models import Analysis
from analyzer.tests.factories import (
    TempMediaMixin,
    make_analysis,
    make_user,
    queued_jobs,
    speech_wav,
    tone_wav,
    upload,
)
from api.tests.helpers import KeyClient, new_key
from ml.labels import Emotion

ANALYSES = "/api/v1/analyses/"


class ApiBackPressureTests(TempMediaMixin, TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.speech = speech_wav(Emotion.SAD)

    def setUp(self) -> None:
        super().setUp()
        self.user = make_user("ada")
        self.api = KeyClient(new_key("ada"))
        for i in range(3):
            make_analysis(data=tone_wav(1.0, 900 + i), processing_ms=3000)  # 3 s each

    def waiting(self, count: int, **fields: object) -> None:
        for i in range(count):
            make_analysis(emotion=None, data=tone_wav(1.0, 200 + 10 * i), **fields)

    def assertRefused(self, response, status: int, retry_after: str, text: str) -> None:
        self.assertEqual(response.status_code, status)
        self.assertEqual(response["Retry-After"], retry_after)
        self.assertEqual(response["Content-Type"], "application/json")
        self.assertIn(text, response.json()["detail"])
        self.assertEqual(Analysis.objects.filter(owner=self.user, status="pending").count(), 2)
        self.assertEqual(queued_jobs(), [])

    @override_settings(SPEECHEMOTION_MAX_PENDING_PER_OWNER=2, SPEECHEMOTION_MAX_QUEUE_WAIT=0)
    def test_it_answers_429_when_the_owner_has_too_many_waiting(self) -> None:
        self.waiting(2, owner=self.user)

        response = self.api.post(ANALYSES, {"file": upload(self.speech)})

        self.assertRefused(response, 429, "3", "You already have 2 recordings waiting")

    @override_settings(SPEECHEMOTION_MAX_PENDING_PER_OWNER=0, SPEECHEMOTION_MAX_QUEUE_WAIT=5)
    def test_it_answers_503_when_the_queue_is_full(self) -> None:
        self.waiting(2, owner=self.user)  # 2 x 3 s >= 5 s

        response = self.api.post(ANALYSES, {"file": upload(self.speech)})

        self.assertRefused(response, 503, "4", "Many recordings are waiting")  # 6 - 5 + 3

    @override_settings(SPEECHEMOTION_MAX_PENDING_PER_OWNER=3, SPEECHEMOTION_MAX_QUEUE_WAIT=60)
    def test_it_accepts_below_both_limits(self) -> None:
        self.waiting(2, owner=self.user)

        response = self.api.post(ANALYSES, {"file": upload(self.speech)})

        self.assertEqual(response.status_code, 202)
        self.assertEqual(len(queued_jobs()), 1)
