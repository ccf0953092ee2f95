"""``manage.py analyze PATH...`` adds files and directories to a user's history, queued."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from unittest import mock

from django.core.management import CommandError, call_command
from django.test import TestCase, TransactionTestCase, override_settings
from django.urls import reverse

from analyzer import processing
from analyzer.management.commands.analyze import collect
from analyzer.models import Analysis
from analyzer.tests.factories import (
    QueueMixin,
    TempMediaMixin,
    background_worker,
    fake_recognizer,
    make_user,
    queued_jobs,
    speech_wav,
)
from ml.labels import Emotion


def _folder(test: TestCase) -> Path:
    """Two good recordings (one in a subfolder), one bad one, and a file that is no recording."""
    root = Path(test.enterContext(tempfile.TemporaryDirectory(prefix="se-analyze-")))
    (root / "calls" / "monday").mkdir(parents=True)
    (root / "calls" / "first.wav").write_bytes(speech_wav(Emotion.HAPPY))
    (root / "calls" / "monday" / "second.WAV").write_bytes(speech_wav(Emotion.SAD))
    (root / "calls" / "broken.wav").write_bytes(b"not audio at all\n" * 100)
    (root / "calls" / "notes.txt").write_text("not a recording")
    return root


class AnalyzeCommandTests(TempMediaMixin, TestCase):
    def call(self, *args: str) -> tuple[str, str]:
        out, err = io.StringIO(), io.StringIO()
        call_command("analyze", *args, stdout=out, stderr=err)
        return out.getvalue(), err.getvalue()

    def test_it_queues_the_good_files_and_reports_the_bad_one(self) -> None:
        user = make_user("ada")
        root = _folder(self)
        out = io.StringIO()

        with self.assertRaisesMessage(CommandError, "1 of 3 recording(s) were rejected."):
            call_command("analyze", str(root), "--user", "ada", stdout=out, stderr=io.StringIO())

        analyses = Analysis.objects.order_by("original_name")
        self.assertEqual([a.original_name for a in analyses], ["first.wav", "second.WAV"])
        self.assertTrue(all(a.owner == user for a in analyses))
        self.assertTrue(all(a.status == Analysis.Status.PENDING for a in analyses))
        self.assertEqual(
            sorted(job.args["analysis_id"] for job in queued_jobs()),
            sorted(str(a.pk) for a in analyses),
        )
        summary = out.getvalue()
        self.assertIn("Queued 2 recording(s) for ada.", summary)
        self.assertIn("Rejected 1:", summary)
        self.assertIn(
            f"{root / 'calls' / 'broken.wav'}: This file is not a supported audio or video format",
            summary,
        )
        self.assertNotIn("notes.txt", summary)
        # They are in the user's history like uploads.
        self.client.force_login(user)
        history = self.client.get(reverse("analyzer:history"))
        self.assertContains(history, "first.wav")
        self.assertContains(history, "second.WAV")

    @override_settings(SPEECHEMOTION_MAX_PENDING_PER_OWNER=1, SPEECHEMOTION_MAX_QUEUE_WAIT=1)
    def test_it_queues_an_operators_batch_beyond_the_upload_limits(self) -> None:
        make_user("ada")
        root = _folder(self)

        out, _ = self.call(
            str(root / "calls" / "monday"), str(root / "calls" / "first.wav"), "--user=ada"
        )

        self.assertIn("Queued 2 recording(s) for ada.", out)
        self.assertEqual(len(queued_jobs()), 2)

    def test_it_takes_single_files_and_reports_missing_paths(self) -> None:
        make_user("ada")
        root = _folder(self)

        with self.assertRaisesMessage(CommandError, "1 of 2 recording(s) were rejected."):
            out, _ = self.call(
                str(root / "calls" / "first.wav"), str(root / "nowhere.wav"), "--user=ada"
            )
        self.assertEqual(Analysis.objects.get().original_name, "first.wav")

    def test_it_queues_for_no_one_without_a_user(self) -> None:
        root = _folder(self)

        out, _ = self.call(str(root / "calls" / "monday"))

        self.assertIn("No --user given: the analyses belong to no one", out)
        self.assertIn("Queued 1 recording(s).", out)
        self.assertIsNone(Analysis.objects.get().owner)

    def test_it_refuses_an_unknown_user_before_storing_anything(self) -> None:
        with self.assertRaisesMessage(CommandError, "There is no user 'nobody'."):
            self.call(str(_folder(self)), "--user", "nobody")
        self.assertEqual(Analysis.objects.count(), 0)

    def test_it_finds_in_folders_the_extensions_of_the_formats_table(self) -> None:
        folder = Path(self.enterContext(tempfile.TemporaryDirectory()))
        for name in ("a.opus", "b.MKV", "c.mov", "notes.txt", "d.aiff"):
            (folder / name).write_bytes(b"x")

        files, missing = collect([folder])

        self.assertEqual([path.name for path in files], ["a.opus", "b.MKV", "c.mov"])
        self.assertEqual(missing, [])

    def test_it_says_when_a_folder_holds_no_recordings(self) -> None:
        empty = Path(self.enterContext(tempfile.TemporaryDirectory()))
        with self.assertRaisesMessage(CommandError, "No recordings found"):
            self.call(str(empty))


class AnalyzeCommandWaitTests(QueueMixin, TempMediaMixin, TransactionTestCase):
    def test_it_waits_for_the_worker_and_shows_the_results(self) -> None:
        make_user("ada")
        root = _folder(self)
        out, err = io.StringIO(), io.StringIO()

        with (
            mock.patch.object(processing, "get_recognizer", return_value=fake_recognizer()),
            background_worker(),
            self.assertRaises(CommandError),  # broken.wav
        ):
            call_command("analyze", str(root), "--user=ada", "--wait", stdout=out, stderr=err)

        self.assertEqual(
            set(Analysis.objects.values_list("status", flat=True)), {Analysis.Status.DONE}
        )
        self.assertIn("first.wav: Sad (70%, 1 segments)", out.getvalue())
        self.assertIn("Analysed 2, failed 0.", out.getvalue())
        self.assertIn("Analysing", err.getvalue())  # the progress bar
