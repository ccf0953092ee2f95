"""A failed analysis offers a Retry button to its owner, which queues it again."""

from __future__ import annotations

from unittest import mock

from django.test import Client, TestCase
from django.urls import reverse

from analyzer import processing
from analyzer.models import Analysis
from analyzer.tests.factories import (
    TempMediaMixin,
    fake_recognizer,
    make_analysis,
    make_user,
    queued_jobs,
    run_queued_analyses,
    speech_wav,
)


class RetryTests(TempMediaMixin, TestCase):
    def setUp(self) -> None:
        super().setUp()
        self.owner = make_user("owner")
        self.client.force_login(self.owner)
        self.analysis = make_analysis(
            owner=self.owner,
            data=speech_wav(),
            emotion=None,
            status=Analysis.Status.FAILED,
            error_message=processing.ABANDONED_ERROR,
        )
        self.retry_url = reverse("analyzer:retry", args=[self.analysis.pk])

    def test_it_offers_a_retry_button_on_a_failed_analysis(self) -> None:
        response = self.client.get(self.analysis.get_absolute_url())

        self.assertContains(response, "The analysis failed")
        self.assertContains(response, processing.ABANDONED_ERROR)
        self.assertContains(response, f'<form method="post" action="{self.retry_url}">')
        self.assertContains(response, '<button class="button" type="submit">Retry</button>')

    def test_it_queues_the_analysis_again(self) -> None:
        response = self.client.post(self.retry_url, follow=True)

        self.assertRedirects(response, self.analysis.get_absolute_url())
        self.assertContains(response, "is queued again.")
        self.assertContains(response, "Analysing… waiting in the queue")
        self.analysis.refresh_from_db()
        self.assertEqual(self.analysis.status, Analysis.Status.PENDING)
        self.assertEqual(self.analysis.error_message, "")
        [job] = queued_jobs()
        self.assertEqual(job.args, {"analysis_id": str(self.analysis.pk)})

        with mock.patch.object(processing, "get_recognizer", return_value=fake_recognizer()):
            run_queued_analyses()

        self.analysis.refresh_from_db()
        self.assertEqual(self.analysis.status, Analysis.Status.DONE)
        self.assertContains(self.client.get(self.analysis.get_absolute_url()), "Sad</div>")

    def test_it_queues_one_job_however_often_it_is_pressed(self) -> None:
        self.client.post(self.retry_url)
        Analysis.objects.filter(pk=self.analysis.pk).update(status=Analysis.Status.FAILED)
        self.client.post(self.retry_url)

        self.assertEqual(len(queued_jobs()), 1)

    def test_it_does_nothing_to_an_analysis_that_has_not_failed(self) -> None:
        done = make_analysis(owner=self.owner)

        response = self.client.post(reverse("analyzer:retry", args=[done.pk]), follow=True)

        self.assertContains(response, "This analysis has not failed")
        self.assertEqual(queued_jobs(), [])

    def test_it_fails_at_once_when_the_recording_is_gone(self) -> None:
        (self.media_root / self.analysis.file.name).unlink()

        response = self.client.post(self.retry_url, follow=True)

        self.assertContains(response, "The stored recording is missing.")
        self.assertEqual(queued_jobs(), [])

    def test_it_only_retries_for_the_owner_and_only_by_post(self) -> None:
        other = Client()
        other.force_login(make_user("mallory"))

        self.assertEqual(other.post(self.retry_url).status_code, 404)
        self.assertEqual(Client().post(self.retry_url).status_code, 404)
        self.assertEqual(self.client.get(self.retry_url).status_code, 405)
        self.assertEqual(queued_jobs(), [])
        self.analysis.refresh_from_db()
        self.assertEqual(self.analysis.status, Analysis.Status.FAILED)
