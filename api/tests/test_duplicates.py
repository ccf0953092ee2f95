"""The same file posted twice by one key's owner: the earlier analysis, unless ?force=1."""

from __future__ import annotations

from unittest import mock

from django.test import TestCase

from analyzer import services
from analyzer.models import Analysis
from analyzer.tests.factories import (
    TempMediaMixin,
    make_analysis,
    make_user,
    queued_jobs,
    speech_wav,
    upload,
)
from api.tests.helpers import KeyClient, new_key
from ml.labels import EMOTION_NAMES, Emotion

ANALYSES = "/api/v1/analyses/"


class DuplicateUploadTests(TempMediaMixin, TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.speech = speech_wav(Emotion.SAD)

    def setUp(self) -> None:
        super().setUp()
        self.user = make_user("ada")
        self.api = KeyClient(new_key("ada"))

    def test_it_answers_200_with_the_earlier_analysis(self) -> None:
        existing = make_analysis(
            owner=self.user, data=self.speech, original_name="first.wav", emotion=Emotion.SAD
        )

        with mock.patch.object(services, "check_upload") as decode:
            response = self.api.post(ANALYSES, {"file": upload(self.speech, "second.wav")})

        self.assertEqual(response.status_code, 200)
        body = response.json()
        self.assertEqual(body["id"], str(existing.pk))
        self.assertEqual(body["duplicate_of"], str(existing.pk))
        self.assertEqual((body["file_name"], body["status"]), ("first.wav", "done"))
        self.assertEqual(body["emotion"], "sad")
        self.assertEqual(sorted(body["probabilities"]), sorted(EMOTION_NAMES))
        self.assertIn("segments", body)
        self.assertEqual(response["Location"], f"http://testserver{ANALYSES}{existing.pk}/")
        decode.assert_not_called()
        self.assertEqual(Analysis.objects.count(), 1)
        self.assertEqual(queued_jobs(), [])

    def test_it_analyses_again_with_force(self) -> None:
        existing = make_analysis(owner=self.user, data=self.speech)

        response = self.api.post(f"{ANALYSES}?force=1", {"file": upload(self.speech)})

        self.assertEqual(response.status_code, 202)
        body = response.json()
        self.assertNotEqual(body["id"], str(existing.pk))
        self.assertNotIn("duplicate_of", body)
        self.assertEqual(Analysis.objects.count(), 2)
        self.assertEqual([job.args["analysis_id"] for job in queued_jobs()], [body["id"]])

    def test_it_does_not_match_another_users_file(self) -> None:
        make_analysis(owner=make_user("bob"), data=self.speech)

        response = self.api.post(ANALYSES, {"file": upload(self.speech)})

        self.assertEqual(response.status_code, 202)
        self.assertNotIn("duplicate_of", response.json())

    def test_it_refuses_a_force_that_is_not_a_boolean(self) -> None:
        response = self.api.post(f"{ANALYSES}?force=maybe", {"file": upload(self.speech)})

        self.assertEqual(response.status_code, 400)
        self.assertIn("force", response.json())
        self.assertEqual(Analysis.objects.count(), 0)

    def test_the_schema_describes_the_200_and_force(self) -> None:
        schema = self.client.get("/api/v1/schema/?format=json").json()
        operation = schema["paths"][ANALYSES]["post"]

        self.assertIn("200", operation["responses"])
        self.assertIn("force", [parameter["name"] for parameter in operation["parameters"]])
        ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        component = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
        self.assertIn("duplicate_of", component["properties"])
