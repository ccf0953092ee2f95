"""No analysis stays pending forever: dead workers' jobs are rerun, abandoned analyses fail."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

from django.db import connection
from django.test import TestCase, TransactionTestCase
from django.urls import reverse
from django.utils import timezone
from procrastinate.contrib.django.models import ProcrastinateJob

from analyzer import processing, services, tasks
from analyzer.models import Analysis
from analyzer.tests.factories import (
    QueueMixin,
    TempMediaMixin,
    fake_recognizer,
    make_analysis,
    make_user,
    queued_jobs,
    run_worker,
    speech_wav,
    upload,
)

TIMEOUT = timedelta(minutes=10)


def _sql(query: str, params: list | None = None) -> None:
    # Procrastinate's Django models are read-only: this plays the part of a worker.
    with connection.cursor() as cursor:
        cursor.execute(query, params or [])


def _backdate(analysis: Analysis, minutes: float) -> None:
    then = timezone.now() - timedelta(minutes=minutes)
    Analysis.objects.filter(pk=analysis.pk).update(created_at=then, queued_at=then)


class AbandonedAnalysisTests(TempMediaMixin, TestCase):
    def pending(self, **fields) -> Analysis:
        return make_analysis(data=speech_wav(), emotion=None, **fields)

    def test_it_fails_an_old_analysis_without_a_job(self) -> None:
        analysis = self.pending(status=Analysis.Status.RUNNING, segments_total=5)
        _backdate(analysis, minutes=11)

        self.assertEqual(processing.analysis_fail_abandoned(older_than=TIMEOUT), 1)

        analysis.refresh_from_db()
        self.assertEqual(analysis.status, Analysis.Status.FAILED)
        self.assertEqual(analysis.error_message, processing.ABANDONED_ERROR)

    def test_it_fails_an_old_analysis_whose_job_failed(self) -> None:
        analysis = self.pending()
        services.analysis_requeue(analysis=analysis)
        _sql("UPDATE procrastinate_jobs SET status = 'failed' WHERE id = %s", [analysis.job_id])
        _backdate(analysis, minutes=11)

        self.assertEqual(processing.analysis_fail_abandoned(older_than=TIMEOUT), 1)

    def test_it_leaves_an_old_analysis_whose_job_waits_or_runs(self) -> None:
        waiting, running = self.pending(), self.pending()
        for analysis in (waiting, running):
            services.analysis_requeue(analysis=analysis)
            _backdate(analysis, minutes=60)
        _sql("UPDATE procrastinate_jobs SET status = 'doing' WHERE id = %s", [running.job_id])

        self.assertEqual(processing.analysis_fail_abandoned(older_than=TIMEOUT), 0)

    def test_it_leaves_a_recent_analysis_and_finished_ones(self) -> None:
        self.pending()
        done = make_analysis()
        _backdate(done, minutes=60)

        self.assertEqual(processing.analysis_fail_abandoned(older_than=TIMEOUT), 0)


class DeadWorkerRecoveryTests(QueueMixin, TempMediaMixin, TransactionTestCase):
    """The ``recover`` task, run by a worker in this process, against real queue tables."""

    def setUp(self) -> None:
        super().setUp()
        self.owner = make_user("owner")
        self.client.force_login(self.owner)
        self.client.post(reverse("analyzer:upload"), {"file": upload(speech_wav(), "cut.wav")})
        self.analysis = Analysis.objects.get()

    def die_while_running(self, *, attempts: int) -> None:
        """What a worker killed in the middle of this analysis leaves behind."""
        _sql("INSERT INTO procrastinate_workers (last_heartbeat) VALUES (now() - interval '1 h')")
        _sql(
            "UPDATE procrastinate_jobs SET status = 'doing', attempts = %s, "
            "worker_id = (SELECT max(id) FROM procrastinate_workers) WHERE id = %s",
            [attempts, self.analysis.job_id],
        )
        Analysis.objects.filter(pk=self.analysis.pk).update(
            status=Analysis.Status.RUNNING, segments_done=1, segments_total=2
        )

    def recover(self) -> None:
        tasks.recover.defer(timestamp=0)
        run_worker(queues=("maintenance",))

    def test_it_runs_the_job_of_a_dead_worker_again(self) -> None:
        self.die_while_running(attempts=0)

        self.recover()

        [job] = queued_jobs()
        self.assertEqual((job.id, job.attempts), (self.analysis.job_id, 1))
        with mock.patch.object(processing, "get_recognizer", return_value=fake_recognizer()):
            run_worker()
        self.analysis.refresh_from_db()
        self.assertEqual(self.analysis.status, Analysis.Status.DONE)
        self.assertEqual(self.analysis.segments.count(), self.analysis.segments_total)

    def test_it_gives_up_after_the_last_attempt_and_offers_a_retry(self) -> None:
        self.die_while_running(attempts=2)  # the third run died too

        self.recover()

        self.assertEqual(queued_jobs(), [])
        self.assertEqual(ProcrastinateJob.objects.get(id=self.analysis.job_id).status, "failed")
        self.analysis.refresh_from_db()
        self.assertEqual(self.analysis.status, Analysis.Status.FAILED)
        page = self.client.get(self.analysis.get_absolute_url())
        self.assertContains(page, "The analysis was interrupted 3 times")
        self.assertContains(page, ">Retry</button>")

        self.client.post(reverse("analyzer:retry", args=[self.analysis.pk]))
        with mock.patch.object(processing, "get_recognizer", return_value=fake_recognizer()):
            run_worker()

        self.analysis.refresh_from_db()
        self.assertEqual(self.analysis.status, Analysis.Status.DONE)

    def test_it_leaves_the_jobs_of_live_workers_alone(self) -> None:
        _sql("INSERT INTO procrastinate_workers (last_heartbeat) VALUES (now())")
        _sql(
            "UPDATE procrastinate_jobs SET status = 'doing', "
            "worker_id = (SELECT max(id) FROM procrastinate_workers) WHERE id = %s",
            [self.analysis.job_id],
        )

        self.recover()

        self.assertEqual(ProcrastinateJob.objects.get(id=self.analysis.job_id).status, "doing")
        self.analysis.refresh_from_db()
        self.assertEqual(self.analysis.status, Analysis.Status.PENDING)

    def test_it_fails_an_abandoned_analysis(self) -> None:
        _sql("DELETE FROM procrastinate_jobs")  # e.g. the queue was emptied by hand
        _backdate(self.analysis, minutes=11)

        self.recover()

        self.analysis.refresh_from_db()
        self.assertEqual(self.analysis.status, Analysis.Status.FAILED)
        self.assertEqual(self.analysis.error_message, processing.ABANDONED_ERROR)
