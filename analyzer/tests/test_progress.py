"""While an analysis waits or runs, its page shows the progress and a JSON status to poll."""

from __future__ import annotations

from django.db import connection
from django.test import Client, TestCase
from django.urls import reverse

from analyzer.models import Analysis
from analyzer.tests.factories import TempMediaMixin, make_analysis, make_user


def _worker_heartbeat(seconds_ago: float) -> None:
    # Procrastinate's models are read-only; this is the row a running worker keeps fresh.
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO procrastinate_workers (last_heartbeat) "
            "VALUES (now() - make_interval(secs => %s))",
            [seconds_ago],
        )


class ProgressTests(TempMediaMixin, TestCase):
    def setUp(self) -> None:
        super().setUp()
        self.owner = make_user("owner")
        self.client.force_login(self.owner)
        self.analysis = make_analysis(
            owner=self.owner,
            emotion=None,
            status=Analysis.Status.RUNNING,
            segments_done=3,
            segments_total=10,
        )
        self.status_url = reverse("analyzer:status", args=[self.analysis.pk])

    def test_it_answers_the_status_as_json(self) -> None:
        response = self.client.get(self.status_url)

        self.assertEqual(response["Content-Type"], "application/json")
        self.assertIn("no-cache", response["Cache-Control"])
        self.assertEqual(
            response.json(),
            {
                "status": "running",
                "active": True,
                "updating": True,
                "segments_done": 3,
                "segments_total": 10,
                "text": "Analysing… 3 of 10 segments",
                "url": self.analysis.get_absolute_url(),
            },
        )

    def test_it_says_when_the_analysis_is_over(self) -> None:
        Analysis.objects.filter(pk=self.analysis.pk).update(
            status=Analysis.Status.DONE, segments_done=10
        )

        state = self.client.get(self.status_url).json()

        self.assertEqual(
            (state["status"], state["active"], state["updating"]), ("done", False, False)
        )

    def test_it_shows_the_result_at_once_and_the_charts_when_they_come(self) -> None:
        Analysis.objects.filter(pk=self.analysis.pk).update(
            status=Analysis.Status.DONE, emotion="calm", confidence=0.5, charts_pending=True
        )

        page = self.client.get(self.analysis.get_absolute_url())
        state = self.client.get(self.status_url).json()

        self.assertContains(page, '<div class="emotion emo-calm" data-emotion="calm">Calm</div>')
        self.assertContains(page, '<span id="progress-text">Drawing the charts…</span>')
        self.assertContains(page, f'data-status-url="{self.status_url}"')
        self.assertContains(page, '<noscript><meta http-equiv="refresh" content="2">')
        self.assertEqual((state["active"], state["updating"]), (False, True))
        self.assertEqual(state["text"], "Drawing the charts…")

        Analysis.objects.filter(pk=self.analysis.pk).update(charts_pending=False)
        final = self.client.get(self.analysis.get_absolute_url())
        self.assertNotContains(final, "Drawing the charts…")
        self.assertNotContains(final, "http-equiv")

    def test_it_shows_the_progress_on_the_page_and_polls_for_more(self) -> None:
        response = self.client.get(self.analysis.get_absolute_url())

        self.assertContains(response, '<h2 id="progress-text">Analysing… 3 of 10 segments</h2>')
        self.assertContains(response, '<progress id="progress-bar" max="10" value="3">')
        self.assertContains(response, f'data-status-url="{self.status_url}"')
        # Without JavaScript the page reloads itself instead.
        self.assertContains(response, '<noscript><meta http-equiv="refresh" content="2">')
        self.assertNotContains(response, "Retry")

    def test_it_says_when_no_worker_is_running(self) -> None:
        no_worker = self.client.get(self.analysis.get_absolute_url())
        _worker_heartbeat(seconds_ago=3600)  # a dead one does not count
        dead_worker = self.client.get(self.analysis.get_absolute_url())
        _worker_heartbeat(seconds_ago=1)
        live_worker = self.client.get(self.analysis.get_absolute_url())

        message = "No analysis worker is running at the moment"
        self.assertContains(no_worker, message)
        self.assertContains(dead_worker, message)
        self.assertNotContains(live_worker, message)

    def test_it_shows_a_queued_analysis_as_waiting(self) -> None:
        Analysis.objects.filter(pk=self.analysis.pk).update(
            status=Analysis.Status.PENDING, segments_done=0, segments_total=0
        )

        response = self.client.get(self.analysis.get_absolute_url())

        self.assertContains(response, "Analysing… waiting in the queue")
        self.assertEqual(self.client.get(self.status_url).json()["active"], True)

    def test_it_keeps_the_status_from_others(self) -> None:
        other = Client()
        other.force_login(make_user("mallory"))
        anonymous = Client()

        self.assertEqual(other.get(self.status_url).status_code, 404)
        self.assertEqual(anonymous.get(self.status_url).status_code, 404)
