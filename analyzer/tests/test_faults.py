"""Faults while uploading: the database gone, the disk full, the process killed.

Whatever happens, the user gets a clear answer (503 or 507, never a 500) and nothing is
half kept: no file without its row, no row without its file. Once the fault is gone the
next upload works, without a restart.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from unittest import mock

from django.conf import settings
from django.contrib.sessions.middleware import SessionMiddleware
from django.core.files.storage import FileSystemStorage
from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.db import OperationalError, connection
from django.db.backends.utils import CursorWrapper
from django.http import HttpResponse
from django.test import Client, TestCase, TransactionTestCase, override_settings
from django.urls import reverse

from analyzer import middleware, retention, uploads
from analyzer.models import Analysis
from analyzer.tests.factories import (
    QueueMixin,
    TempMediaMixin,
    make_analysis,
    queued_jobs,
    speech_wav,
    upload,
)


@contextmanager
def failing_sql(fragment: str) -> Iterator[list[str]]:
    """Statements containing ``fragment`` fail as if PostgreSQL had gone away.

    Yields the statements that were refused.
    """
    refused: list[str] = []
    execute = CursorWrapper._execute

    def _execute(self: CursorWrapper, sql: str, *args: object) -> object:
        if fragment in sql:
            refused.append(sql)
            raise OperationalError("server closed the connection unexpectedly")
        return execute(self, sql, *args)

    with mock.patch.object(CursorWrapper, "_execute", _execute):
        yield refused


class NothingKeptMixin(TempMediaMixin):
    def assertNothingKept(self) -> None:
        self.assertEqual(Analysis.objects.count(), 0)
        self.assertEqual(self.stored_files(), [])
        self.assertEqual(self.temporary_files(), [])
        self.assertEqual(queued_jobs(), [])

    def assertUploadWorks(self, client: Client | None = None) -> None:
        client = client or self.client
        response = client.post(reverse("analyzer:upload"), {"file": upload(self.speech)})
        self.assertEqual(response.status_code, 302)
        analysis = Analysis.objects.get()
        self.assertEqual(self.stored_files(), [Path(analysis.file.path)])
        self.assertEqual([job.id for job in queued_jobs()], [analysis.job_id])


class DatabaseUnavailableTests(NothingKeptMixin, TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.speech = speech_wav()

    def post(self, client: Client | None = None) -> HttpResponse:
        client = client or self.client
        return client.post(reverse("analyzer:upload"), {"file": upload(self.speech)})

    def assertUnavailable(self, response: HttpResponse, message: str) -> None:
        self.assertEqual(response.status_code, 503)
        self.assertEqual(response["Retry-After"], "30")
        self.assertTemplateUsed(response, "503.html")
        self.assertContains(response, message, status_code=503)

    def test_it_answers_503_and_keeps_no_file_when_the_row_cannot_be_written(self) -> None:
        with (
            failing_sql('INSERT INTO "analyzer_analysis"') as refused,
            self.assertLogs("analyzer.middleware", "WARNING"),
        ):
            response = self.post()

        self.assertTrue(refused)
        self.assertUnavailable(response, middleware.UPLOAD_NOT_STORED_MESSAGE)
        self.assertNothingKept()
        self.assertUploadWorks()

    def test_it_answers_503_and_keeps_no_file_when_the_session_cannot_be_saved(self) -> None:
        # An anonymous visitor's upload belongs to their session, saved before the file.
        with (
            failing_sql('"django_session"') as refused,
            self.assertLogs("analyzer.middleware", "WARNING"),
        ):
            response = self.post()

        self.assertTrue(refused)
        self.assertUnavailable(response, "your file was not stored, please try again")
        self.assertNothingKept()
        self.assertUploadWorks()

    def test_it_answers_503_when_the_session_fails_after_the_view(self) -> None:
        # Whether the upload was kept is not known there, so the page does not say.
        client = Client(raise_request_exception=False)
        broken = mock.patch.object(
            SessionMiddleware, "process_response", side_effect=OperationalError("gone")
        )
        with broken, self.assertLogs("django.request", "ERROR"):
            response = client.get(reverse("analyzer:history"))

        self.assertUnavailable(response, middleware.UNAVAILABLE_MESSAGE)
        self.assertNotContains(response, "not stored", status_code=503)

    def test_it_answers_503_to_the_progress_poll(self) -> None:
        analysis = make_analysis(session_key=self.client.session.session_key, emotion=None)
        with failing_sql('FROM "analyzer_analysis"'), self.assertLogs("analyzer.middleware"):
            response = self.client.get(reverse("analyzer:status", args=[analysis.pk]))

        self.assertUnavailable(response, middleware.UNAVAILABLE_MESSAGE)
        self.assertEqual(self.client.get(analysis.get_absolute_url()).status_code, 200)

    def test_it_still_answers_500_to_other_errors(self) -> None:
        client = Client(raise_request_exception=False)
        with (
            mock.patch("analyzer.views.selectors.analysis_list", side_effect=ValueError("bug")),
            self.assertLogs("django.request", "ERROR"),
        ):
            response = client.get(reverse("analyzer:history"))

        self.assertEqual(response.status_code, 500)


class DatabaseComesBackTests(QueueMixin, NothingKeptMixin, TransactionTestCase):
    """PostgreSQL really unreachable (nothing listens on the port), then back."""

    def setUp(self) -> None:
        super().setUp()
        self.speech = speech_wav()

    def test_it_answers_503_while_postgresql_is_down_and_recovers_by_itself(self) -> None:
        connection.close()
        with (
            mock.patch.dict(connection.settings_dict, HOST="127.0.0.1", PORT="9"),
            self.assertLogs("analyzer.middleware", "WARNING"),
        ):
            response = self.client.post(reverse("analyzer:upload"), {"file": upload(self.speech)})
            connection.close()

        self.assertEqual(response.status_code, 503)
        self.assertContains(response, middleware.UPLOAD_NOT_STORED_MESSAGE, status_code=503)
        self.assertNothingKept()
        # The database is back: the same browser uploads again, no restart needed.
        self.assertUploadWorks()


class DiskFullTests(NothingKeptMixin, TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.speech = speech_wav()

    def assertDiskFull(self, response: HttpResponse) -> None:
        self.assertEqual(response.status_code, 507)
        self.assertContains(response, "not stored", status_code=507)
        self.assertNotContains(response, "Errno", status_code=507)
        self.assertNothingKept()

    def test_it_removes_the_part_written_before_the_disk_filled_up(self) -> None:
        written: list[Path] = []

        def save_half(storage: FileSystemStorage, name: str, content: object) -> str:
            path = Path(storage.path(name))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(self.speech[: len(self.speech) // 2])
            written.append(path)
            raise OSError(errno.ENOSPC, "No space left on device")

        with (
            mock.patch.object(FileSystemStorage, "_save", save_half),
            self.assertLogs("analyzer.uploads", "ERROR"),
        ):
            response = self.client.post(reverse("analyzer:upload"), {"file": upload(self.speech)})

        self.assertEqual(len(written), 1)
        self.assertFalse(written[0].exists())
        self.assertDiskFull(response)
        self.assertContains(response, uploads.DISK_FULL_ERROR, status_code=507)
        self.assertTemplateUsed(response, "analyzer/upload.html")
        self.assertUploadWorks()

    def test_it_answers_503_when_the_upload_cannot_be_held_in_memory(self) -> None:
        with (
            mock.patch("ml.audio.os.memfd_create", side_effect=OSError(errno.ENOMEM, "No memory")),
            self.assertLogs("analyzer.uploads", "ERROR"),
        ):
            response = self.client.post(reverse("analyzer:upload"), {"file": upload(self.speech)})

        self.assertContains(response, uploads.STORAGE_ERROR, status_code=503)
        self.assertNothingKept()
        self.assertUploadWorks()

    @override_settings(FILE_UPLOAD_MAX_MEMORY_SIZE=0)  # Django writes the upload to disk.
    def test_it_answers_507_when_django_cannot_buffer_the_upload(self) -> None:
        with (
            mock.patch.object(
                TemporaryFileUploadHandler,
                "receive_data_chunk",
                side_effect=OSError(errno.ENOSPC, "No space left on device"),
            ),
            self.assertLogs("analyzer.middleware", "ERROR"),
        ):
            response = self.client.post(reverse("analyzer:upload"), {"file": upload(self.speech)})

        self.assertDiskFull(response)
        self.assertContains(response, middleware.DISK_FULL_MESSAGE, status_code=507)
        self.assertEqual(list(self.temp_root.iterdir()), [])


_KILLED_AFTER_STORING = """
import os, signal, sys
import django
django.setup()
from unittest import mock
from django.core.files.uploadedfile import SimpleUploadedFile
from analyzer import services

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)  # The file is stored; its row is not written yet.

data = open(sys.argv[1], "rb").read()
with mock.patch.object(services.transaction, "atomic", die):
    services.analysis_create(
        upload=SimpleUploadedFile("take.wav", data), owner=None, session_key="k" * 32,
        limit=False,  # No query before the file is stored: this database has no tables.
    )
"""


class KilledWhileStoringTests(NothingKeptMixin, TestCase):
    def test_purge_removes_the_file_a_killed_upload_left_behind(self) -> None:
        source = self.temp_root / "take.wav"
        source.write_bytes(speech_wav())
        result = subprocess.run(
            [sys.executable, "-c", _KILLED_AFTER_STORING, str(source)],
            cwd=settings.BASE_DIR,
            env={**os.environ, "MEDIA_ROOT": str(self.media_root), "TMPDIR": str(self.temp_root)},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        source.unlink()

        self.assertEqual(result.returncode, -signal.SIGKILL, result.stderr)
        [orphan] = self.stored_files()
        self.assertEqual(self.temporary_files(), [])  # The upload is checked in memory.
        self.assertEqual(Analysis.objects.count(), 0)

        # Younger than an hour it may be an upload still being stored: it stays.
        sweep = retention.analysis_purge_orphans()
        self.assertEqual((sweep.files, sweep.temporary), ([], []))
        self.assertTrue(orphan.exists())
        sweep = retention.analysis_purge_orphans(older_than=timedelta(0))
        self.assertEqual(sweep.files, [str(orphan.relative_to(self.media_root))])
        self.assertEqual(sweep.temporary, [])
        self.assertNothingKept()
