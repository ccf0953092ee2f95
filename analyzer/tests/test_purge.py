"""``manage.py purge``: old analyses go with their recordings; leftovers are cleaned up."""

from __future__ import annotations

import argparse
import os
import time
from datetime import timedelta
from io import StringIO
from pathlib import Path

from django.core.management import call_command
from django.core.management.base import CommandError
from django.template.defaultfilters import filesizeformat
from django.test import SimpleTestCase, TestCase, override_settings
from django.utils import timezone

from analyzer import retention, services
from analyzer.management.commands.purge import parse_age
from analyzer.models import Analysis, AnalysisChart, Segment
from analyzer.tests.factories import TempMediaMixin, make_analysis, tone_wav


def _age(analysis: Analysis, delta: timedelta) -> Analysis:
    Analysis.objects.filter(pk=analysis.pk).update(created_at=timezone.now() - delta)
    analysis.refresh_from_db()
    return analysis


def _make_old(path: Path, *, hours: float) -> None:
    then = time.time() - hours * 3600
    os.utime(path, (then, then))


class AgeTests(SimpleTestCase):
    def test_it_reads_days_hours_and_minutes(self) -> None:
        self.assertEqual(parse_age("30d"), timedelta(days=30))
        self.assertEqual(parse_age("12h"), timedelta(hours=12))
        self.assertEqual(parse_age("90m"), timedelta(minutes=90))
        self.assertEqual(parse_age(" 2W "), timedelta(weeks=2))

    def test_it_refuses_anything_else(self) -> None:
        for text in ("30", "d", "-1d", "0d", "1.5h", "30 days", ""):
            with self.subTest(text=text), self.assertRaises(argparse.ArgumentTypeError):
                parse_age(text)


class PurgeCommandTests(TempMediaMixin, TestCase):
    def setUp(self) -> None:
        super().setUp()
        self.old = _age(make_analysis(original_name="old.wav"), timedelta(days=40))
        self.recent = _age(make_analysis(original_name="recent.wav"), timedelta(days=3))
        self.new = make_analysis(original_name="new.wav")
        Segment.objects.create(analysis=self.old, start=0, end=1, emotion="happy", confidence=0.6)
        AnalysisChart.objects.create(analysis=self.old, kind="timeline", svg="<svg></svg>")

    def purge(self, *args: str) -> str:
        out = StringIO()
        with self.captureOnCommitCallbacks(execute=True):
            call_command("purge", *args, stdout=out)
        return out.getvalue()

    def assertKept(self, *analyses: Analysis) -> None:
        self.assertEqual(
            set(Analysis.objects.values_list("original_name", flat=True)),
            {analysis.original_name for analysis in analyses},
        )
        self.assertEqual(
            self.stored_files(), sorted(Path(analysis.file.path) for analysis in analyses)
        )

    def test_it_deletes_old_analyses_with_their_recordings(self) -> None:
        output = self.purge("--older-than", "30d")

        self.assertKept(self.recent, self.new)
        self.assertFalse(Segment.objects.exists())
        self.assertFalse(AnalysisChart.objects.exists())
        self.assertIn("Deleted 1 analysis older than 30 days (created before ", output)
        self.assertIn(f"and their recordings ({filesizeformat(self.old.size)}).", output)
        self.assertIn("Deleted 0 stored files that no analysis refers to", output)

    def test_it_takes_hours_and_minutes(self) -> None:
        _age(self.new, timedelta(minutes=100))

        self.assertIn("Deleted 2 analyses older than 12 hours", self.purge("--older-than", "12h"))
        self.assertKept(self.new)
        self.assertIn("Deleted 1 analysis older than 90 minutes", self.purge("--older-than", "90m"))
        self.assertKept()

    @override_settings(SPEECHEMOTION_RETENTION_DAYS=2)
    def test_it_keeps_analyses_for_the_retention_period_by_default(self) -> None:
        self.assertIn("Deleted 2 analyses older than 2 days", self.purge())
        self.assertKept(self.new)

    @override_settings(SPEECHEMOTION_RETENTION_DAYS=0)
    def test_it_deletes_nothing_for_its_age_when_retention_is_off(self) -> None:
        self.assertIn("Retention is off (RETENTION_DAYS=0)", self.purge())
        self.assertKept(self.old, self.recent, self.new)

    def test_it_only_says_what_it_would_do_in_a_dry_run(self) -> None:
        output = self.purge("--older-than", "1d", "--dry-run")

        self.assertIn("Would delete 2 analyses older than 1 day", output)
        self.assertKept(self.old, self.recent, self.new)

    def test_it_deletes_in_batches(self) -> None:
        for _ in range(4):
            _age(make_analysis(data=tone_wav(0.5)), timedelta(days=50))

        with self.captureOnCommitCallbacks(execute=True):
            result = retention.analysis_purge(older_than=timedelta(days=30), batch_size=2)

        self.assertEqual(result.analyses, 5)
        self.assertKept(self.recent, self.new)

    def test_it_refuses_a_bad_age(self) -> None:
        with self.assertRaisesMessage(CommandError, "'30 days' is not an age"):
            call_command("purge", "--older-than", "30 days")
        with self.assertRaisesMessage(CommandError, "--orphans cleans up leftovers only"):
            call_command("purge", "--orphans", "--older-than", "1d")
        self.assertKept(self.old, self.recent, self.new)


class LeftoverTests(TempMediaMixin, TestCase):
    """What an interrupted upload or a lost file leaves is found and dealt with."""

    def setUp(self) -> None:
        super().setUp()
        self.analysis = make_analysis(original_name="kept.wav")
        _make_old(Path(self.analysis.file.path), hours=5)
        folder = self.media_root / "uploads" / "2026" / "01"
        folder.mkdir(parents=True)
        self.orphan = folder / ("a" * 32 + ".wav")
        self.orphan.write_bytes(tone_wav(0.5))
        _make_old(self.orphan, hours=2)
        # Perhaps an upload whose row is being written right now.
        self.fresh = folder / ("b" * 32 + ".wav")
        self.fresh.write_bytes(b"RIFF")

    def purge(self, *args: str) -> str:
        out = StringIO()
        call_command("purge", "--orphans", *args, stdout=out)
        return out.getvalue()

    def test_it_deletes_old_files_that_no_analysis_refers_to(self) -> None:
        old = _age(make_analysis(original_name="old.wav"), timedelta(days=400))

        output = self.purge()

        self.assertFalse(self.orphan.exists())
        self.assertTrue(self.fresh.exists())
        self.assertTrue(Path(self.analysis.file.path).exists())
        self.assertTrue(Analysis.objects.filter(pk=old.pk).exists())  # --orphans: no age purge
        self.assertIn("Deleted 1 stored file that no analysis refers to (older than 1 hour", output)
        self.assertIn("Marked 0 analyses failed", output)

    def test_it_marks_an_analysis_failed_when_its_recording_is_gone(self) -> None:
        Path(self.analysis.file.path).unlink()

        output = self.purge()

        self.assertIn("Marked 1 analysis failed because the recording is missing.", output)
        self.analysis.refresh_from_db()
        self.assertEqual(self.analysis.status, Analysis.Status.FAILED)
        self.assertEqual(self.analysis.error_message, services.MISSING_FILE_ERROR)
        self.assertEqual(self.analysis.emotion, "happy")  # The result itself is kept.
        self.assertIn("Marked 0 analyses failed", self.purge())

    def test_it_shows_the_missing_recording_on_the_result_page(self) -> None:
        key = self.client.session.session_key
        Analysis.objects.filter(pk=self.analysis.pk).update(session_key=key)
        Path(self.analysis.file.path).unlink()
        self.purge()

        response = self.client.get(self.analysis.get_absolute_url())

        self.assertContains(response, "The analysis failed")
        self.assertContains(response, services.MISSING_FILE_ERROR)

    def test_it_changes_nothing_in_a_dry_run(self) -> None:
        Path(self.analysis.file.path).unlink()

        output = self.purge("--dry-run", "-v", "2")

        self.assertTrue(self.orphan.exists())
        self.assertIn("Would delete 1 stored file", output)
        self.assertIn(f"file uploads/2026/01/{self.orphan.name}", output)
        self.assertIn("Would mark 1 analysis failed", output)
        self.assertIn(f"analysis {self.analysis.pk}", output)
        self.analysis.refresh_from_db()
        self.assertEqual(self.analysis.status, Analysis.Status.DONE)
