"""The same file uploaded twice by the same owner: the existing result, and "Analyse again"."""

from __future__ import annotations

import hashlib
from unittest import mock

from django.test import Client, TestCase
from django.urls import reverse

from analyzer import processing, services
from analyzer.models import Analysis
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
from ml.labels import Emotion

UPLOAD = reverse("analyzer:upload")


class DuplicateUploadTests(TempMediaMixin, TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.speech = speech_wav(Emotion.ANGRY)

    def setUp(self) -> None:
        super().setUp()
        self.user = make_user()
        self.client.force_login(self.user)

    def test_it_shows_the_existing_result_instead_of_a_second_analysis(self) -> None:
        existing = make_analysis(owner=self.user, data=self.speech, original_name="first.wav")

        with mock.patch.object(services, "check_upload") as decode:
            response = self.client.post(
                UPLOAD, {"file": upload(self.speech, "again.wav")}, follow=True
            )

        self.assertRedirects(response, existing.get_absolute_url())
        decode.assert_not_called()
        self.assertEqual(Analysis.objects.count(), 1)
        self.assertEqual(queued_jobs(), [])
        self.assertEqual(self.stored_files(), [self.media_root / existing.file.name])
        self.assertEqual(self.temporary_files(), [])
        date = existing.created_at.astimezone().strftime("%-d %b %Y, %H:%M")
        self.assertContains(response, "You already analysed this file on")
        self.assertContains(response, date)
        again = reverse("analyzer:analyse_again", args=[existing.pk])
        self.assertContains(response, f'action="{again}"')
        self.assertContains(response, "Analyse again</button>")
        # Said once: the same page seen again is the plain result.
        self.assertNotContains(self.client.get(existing.get_absolute_url()), "already analysed")

    def test_it_analyses_again_without_a_new_upload(self) -> None:
        self.client.post(UPLOAD, {"file": upload(self.speech, "take.wav")})
        first = Analysis.objects.get()
        with mock.patch.object(processing, "get_recognizer", return_value=fake_recognizer()):
            run_queued_analyses()
        self.client.post(UPLOAD, {"file": upload(self.speech, "take.wav")})
        self.assertEqual(Analysis.objects.count(), 1)

        response = self.client.post(reverse("analyzer:analyse_again", args=[first.pk]), follow=True)

        second = Analysis.objects.exclude(pk=first.pk).get()
        self.assertRedirects(response, second.get_absolute_url())
        self.assertContains(response, "“take.wav” is being analysed again.")
        self.assertEqual(second.status, Analysis.Status.PENDING)
        self.assertEqual((second.owner, second.sha256), (self.user, first.sha256))
        self.assertEqual(second.sha256, hashlib.sha256(self.speech).hexdigest())
        # Its own copy of the recording: each row deletes its file with it.
        self.assertNotEqual(second.file.name, first.file.name)
        self.assertEqual(second.file.read(), self.speech)
        # (The first job's row stays in the queue: run_queued_analyses leaves jobs as they are.)
        self.assertEqual(
            [job.args["analysis_id"] for job in queued_jobs()], [str(first.pk), str(second.pk)]
        )
        with mock.patch.object(
            processing, "get_recognizer", return_value=fake_recognizer(emotion=Emotion.HAPPY)
        ):
            processing.analysis_process(analysis_id=str(second.pk))
        second.refresh_from_db()
        self.assertEqual((second.status, second.emotion), ("done", "happy"))
        first.refresh_from_db()
        self.assertEqual(first.emotion, "sad")

    def test_it_analyses_a_file_whose_earlier_analysis_failed(self) -> None:
        make_analysis(
            owner=self.user, data=self.speech, emotion=None, status=Analysis.Status.FAILED
        )

        response = self.client.post(UPLOAD, {"file": upload(self.speech)})

        self.assertEqual(Analysis.objects.count(), 2)
        self.assertEqual(response["Location"], Analysis.objects.first().get_absolute_url())
        self.assertEqual(len(queued_jobs()), 1)

    def test_it_does_not_match_another_owners_file(self) -> None:
        make_analysis(owner=make_user("bob"), data=self.speech)
        make_analysis(session_key="s" * 32, data=self.speech)

        self.client.post(UPLOAD, {"file": upload(self.speech)})

        self.assertEqual(Analysis.objects.filter(owner=self.user).count(), 1)
        self.assertEqual(len(queued_jobs()), 1)

    def test_it_matches_an_anonymous_visitors_own_earlier_upload(self) -> None:
        browser, stranger = Client(), Client()
        first = browser.post(UPLOAD, {"file": upload(self.speech)})
        second = browser.post(UPLOAD, {"file": upload(self.speech)})
        strangers = stranger.post(UPLOAD, {"file": upload(self.speech)})

        self.assertEqual(second["Location"], first["Location"])
        self.assertNotEqual(strangers["Location"], first["Location"])
        self.assertEqual(Analysis.objects.count(), 2)

    def test_it_lets_only_the_owner_analyse_again(self) -> None:
        bobs = make_analysis(owner=make_user("bob"), data=self.speech)
        url = reverse("analyzer:analyse_again", args=[bobs.pk])

        self.assertEqual(self.client.post(url).status_code, 404)
        self.assertEqual(self.client.get(url).status_code, 405)
        self.assertEqual(Analysis.objects.count(), 1)

    def test_it_says_when_the_stored_recording_is_missing(self) -> None:
        existing = make_analysis(owner=self.user, data=self.speech)
        existing.file.storage.delete(existing.file.name)

        response = self.client.post(
            reverse("analyzer:analyse_again", args=[existing.pk]), follow=True
        )

        self.assertRedirects(response, existing.get_absolute_url())
        self.assertContains(response, services.MISSING_FILE_ERROR)
        self.assertEqual(Analysis.objects.count(), 1)
