"""The analyses through the API: upload, wait, list, read, delete, audio; one owner each."""

from __future__ import annotations

import uuid
from datetime import timedelta
from unittest import mock

from django.test import TestCase
from django.utils import timezone

from analyzer import processing
from analyzer.models import Analysis, Segment
from analyzer.tests.factories import (
    TempMediaMixin,
    fake_recognizer,
    make_analysis,
    make_user,
    queued_jobs,
    run_queued_analyses,
    speech_wav,
    upload,
)
from api import views
from api.tests.helpers import KeyClient, new_key
from ml.labels import EMOTION_NAMES, Emotion

ANALYSES = "/api/v1/analyses/"


class ApiTestCase(TempMediaMixin, TestCase):
    def setUp(self) -> None:
        super().setUp()
        self.user = make_user("ada")
        self.api = KeyClient(new_key("ada"))


class UploadTests(ApiTestCase):
    def test_it_queues_a_real_recording_and_answers_202(self) -> None:
        with mock.patch.object(processing, "get_recognizer") as get_recognizer:
            response = self.api.post(ANALYSES, {"file": upload(speech_wav(), "hello.wav")})

        self.assertEqual(response.status_code, 202)
        body = response.json()
        analysis = Analysis.objects.get()
        self.assertEqual(body["id"], str(analysis.pk))
        self.assertEqual(body["status"], "pending")
        self.assertEqual(body["url"], f"http://testserver{ANALYSES}{analysis.pk}/")
        self.assertEqual(response["Location"], body["url"])
        self.assertEqual(body["file_name"], "hello.wav")
        self.assertIsNone(body["emotion"])
        self.assertEqual(analysis.owner, self.user)
        [job] = queued_jobs()
        self.assertEqual(job.args, {"analysis_id": str(analysis.pk)})
        get_recognizer.assert_not_called()

    def test_it_answers_201_with_the_result_when_the_worker_finishes_within_wait(self) -> None:
        recognizer = fake_recognizer(emotion=Emotion.ANGRY)
        # The worker's job runs while the request waits (in this test's transaction).
        with (
            mock.patch.object(processing, "get_recognizer", return_value=recognizer),
            mock.patch.object(views, "_pause", side_effect=lambda s: run_queued_analyses()),
        ):
            response = self.api.post(
                f"{ANALYSES}?wait=5", {"file": upload(speech_wav(), "angry.wav")}
            )

        self.assertEqual(response.status_code, 201)
        body = response.json()
        self.assertEqual(body["status"], "done")
        self.assertEqual(body["emotion"], "angry")
        self.assertEqual(body["model"], "fake-model")
        self.assertEqual(sorted(body["probabilities"]), sorted(EMOTION_NAMES))
        self.assertGreater(len(body["segments"]), 0)
        segment = body["segments"][0]
        self.assertEqual(
            sorted(segment), ["confidence", "emotion", "end", "probabilities", "start"]
        )
        self.assertEqual(segment["emotion"], "angry")

    def test_it_answers_202_when_the_wait_runs_out(self) -> None:
        with mock.patch.object(views, "_pause") as pause:
            response = self.api.post(f"{ANALYSES}?wait=1", {"file": upload(speech_wav())})

        self.assertEqual(response.status_code, 202)
        self.assertEqual(response.json()["status"], "pending")
        self.assertTrue(pause.called)

    def test_it_refuses_a_wait_out_of_range(self) -> None:
        for wait in ("31", "-1", "soon"):
            with self.subTest(wait=wait):
                response = self.api.post(f"{ANALYSES}?wait={wait}", {"file": upload(speech_wav())})
                self.assertEqual(response.status_code, 400)
                self.assertIn("wait", response.json())
        self.assertEqual(Analysis.objects.count(), 0)


def _done(owner, emotion: Emotion, *, minutes_ago: int = 0, **fields) -> Analysis:
    analysis = make_analysis(owner=owner, emotion=emotion, **fields)
    Analysis.objects.filter(pk=analysis.pk).update(
        created_at=timezone.now() - timedelta(minutes=minutes_ago)
    )
    return analysis


class ListTests(ApiTestCase):
    def test_it_lists_newest_first_in_pages(self) -> None:
        for minutes in range(25):
            _done(self.user, Emotion.HAPPY, minutes_ago=minutes, original_name=f"{minutes}.wav")

        first = self.api.get(ANALYSES).json()
        second = self.api.get(first["next"]).json()

        self.assertEqual(first["count"], 25)
        self.assertEqual([a["file_name"] for a in first["results"][:2]], ["0.wav", "1.wav"])
        self.assertEqual(len(first["results"]), 20)
        self.assertEqual(len(second["results"]), 5)
        self.assertIsNone(second["next"])

    def test_it_filters_by_emotion_status_and_date(self) -> None:
        _done(self.user, Emotion.SAD, minutes_ago=60, original_name="old-sad.wav")
        _done(self.user, Emotion.SAD, minutes_ago=1, original_name="new-sad.wav")
        _done(self.user, Emotion.HAPPY, minutes_ago=1, original_name="happy.wav")
        make_analysis(owner=self.user, emotion=None, status="pending", original_name="queued.wav")
        half_an_hour_ago = (timezone.now() - timedelta(minutes=30)).isoformat()

        def names(query: dict[str, str]) -> list[str]:
            response = self.api.get(ANALYSES, query)
            self.assertEqual(response.status_code, 200)
            return sorted(a["file_name"] for a in response.json()["results"])

        self.assertEqual(names({"emotion": "sad"}), ["new-sad.wav", "old-sad.wav"])
        self.assertEqual(names({"status": "pending"}), ["queued.wav"])
        self.assertEqual(names({"created_before": half_an_hour_ago}), ["old-sad.wav"])
        self.assertEqual(
            names({"created_after": half_an_hour_ago, "emotion": "sad"}), ["new-sad.wav"]
        )

    def test_it_names_a_bad_filter(self) -> None:
        response = self.api.get(ANALYSES, {"emotion": "bored", "created_after": "yesterday"})

        self.assertEqual(response.status_code, 400)
        self.assertEqual(sorted(response.json()), ["created_after", "emotion"])

    def test_it_lists_only_the_keys_owners_analyses(self) -> None:
        _done(make_user("bob"), Emotion.SAD, original_name="bobs.wav")

        self.assertEqual(self.api.get(ANALYSES).json()["count"], 0)


class DetailTests(ApiTestCase):
    def test_it_shows_the_whole_result(self) -> None:
        analysis = _done(self.user, Emotion.HAPPY, verdict="mixed", mixed_with="surprised")
        Segment.objects.create(
            analysis=analysis,
            start=0.0,
            end=3.0,
            emotion="happy",
            confidence=0.6,
            probabilities={"happy": 0.6, "surprised": 0.4},
        )

        body = self.api.get(f"{ANALYSES}{analysis.pk}/").json()

        self.assertEqual(body["status"], "done")
        self.assertEqual(body["file_name"], "take.wav")
        self.assertEqual(body["duration"], 1.0)
        self.assertEqual(body["model"], "test-model")
        self.assertEqual((body["emotion"], body["confidence"]), ("happy", 0.6))
        self.assertEqual(body["verdict"], "mixed")
        self.assertEqual(body["headline"], "Mixed: happy, surprised")
        self.assertEqual(sorted(body["probabilities"]), sorted(EMOTION_NAMES))
        self.assertAlmostEqual(sum(body["probabilities"].values()), 1.0)
        self.assertEqual(sorted(body["speaking_time"]), sorted(EMOTION_NAMES))
        self.assertIn("created", body)
        [segment] = body["segments"]
        self.assertEqual(
            (segment["start"], segment["end"], segment["emotion"]), (0.0, 3.0, "happy")
        )
        self.assertEqual(segment["probabilities"]["neutral"], 0.0)
        self.assertEqual(len(segment["probabilities"]), 8)

    def test_it_hides_another_owners_analysis_as_404(self) -> None:
        theirs = _done(make_user("bob"), Emotion.SAD)
        anonymous = make_analysis(session_key="somebody-else")

        for analysis in (theirs, anonymous):
            for path in ("", "audio/"):
                with self.subTest(path=path, analysis=analysis.pk):
                    response = self.api.get(f"{ANALYSES}{analysis.pk}/{path}")
                    self.assertEqual(response.status_code, 404)
                    self.assertEqual(response.json(), {"detail": "No such analysis."})
            self.assertEqual(self.api.delete(f"{ANALYSES}{analysis.pk}/").status_code, 404)
        self.assertEqual(Analysis.objects.count(), 2)

    def test_it_answers_404_json_for_a_missing_or_malformed_id(self) -> None:
        for pk in (uuid.uuid4(), "not-a-uuid"):
            response = self.api.get(f"{ANALYSES}{pk}/")
            self.assertEqual(response.status_code, 404)
            self.assertEqual(response.json(), {"detail": "No such analysis."})

    def test_it_deletes_the_row_and_the_file(self) -> None:
        analysis = _done(self.user, Emotion.SAD)
        self.assertEqual(len(self.stored_files()), 1)

        with self.captureOnCommitCallbacks(execute=True):
            response = self.api.delete(f"{ANALYSES}{analysis.pk}/")

        self.assertEqual(response.status_code, 204)
        self.assertFalse(Analysis.objects.exists())
        self.assertEqual(self.stored_files(), [])
        self.assertEqual(self.api.get(f"{ANALYSES}{analysis.pk}/").status_code, 404)

    def test_it_streams_the_stored_audio(self) -> None:
        analysis = _done(self.user, Emotion.SAD)

        response = self.api.get(f"{ANALYSES}{analysis.pk}/audio/", HTTP_ACCEPT="audio/*")

        self.assertEqual(response.status_code, 200)
        self.assertEqual(response["Content-Type"], "audio/wav")
        self.assertEqual(b"".join(response.streaming_content), analysis.file.open("rb").read())
