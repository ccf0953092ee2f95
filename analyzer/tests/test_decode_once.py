"""Each upload is decoded once: a bounded look in the web process, all of it in the worker.

The worker reads the stored recording through the storage API only (as it would from a
remote storage), and an upload's bytes are written at most twice (by Django when it is
large, and to the storage).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

from django.core.files import File
from django.core.files.storage import FileSystemStorage
from django.test import TestCase, override_settings
from django.urls import reverse
from django.utils._os import safe_join

from analyzer import processing
from analyzer.models import Analysis
from analyzer.tests.factories import (
    TempMediaMixin,
    fake_recognizer,
    ffmpeg_encode,
    long_speech_wav,
    make_analysis,
    run_queued_analyses,
    speech_wav,
    upload,
)
from ml import audio
from ml.audio import SPEECH_CHECK_SECONDS


class NoLocalPathStorage(FileSystemStorage):
    """Files on this machine, but no ``path()``, as with a remote storage."""

    def path(self, name: str) -> str:
        raise NotImplementedError("This storage has no local paths.")

    def _open(self, name: str, mode: str = "rb") -> File:
        return File(open(safe_join(self.location, name), mode))  # noqa: SIM115 (File closes it)


class StreamingStorage(NoLocalPathStorage):
    """... whose files come as streams without a descriptor, as an S3 object's."""

    def _open(self, name: str, mode: str = "rb") -> File:
        with open(safe_join(self.location, name), "rb") as fh:
            return File(io.BytesIO(fh.read()), name=name)


@contextmanager
def counting_decodes() -> Iterator[list[float | None]]:
    """Yield the ``head`` (None: all of it) of every decoding started meanwhile."""
    heads: list[float | None] = []
    read_soundfile, ffmpeg_decode = audio._read_soundfile, audio._ffmpeg_decode

    def soundfile(path, info, max_duration, deadline=None, head=None):  # noqa: ANN001, ANN202
        heads.append(head)
        return read_soundfile(path, info, max_duration, deadline, head)

    def ffmpeg(path, max_duration, deadline, head=None):  # noqa: ANN001, ANN202
        heads.append(head)
        return ffmpeg_decode(path, max_duration, deadline, head)

    with (
        mock.patch.object(audio, "_read_soundfile", soundfile),
        mock.patch.object(audio, "_ffmpeg_decode", ffmpeg),
    ):
        yield heads


class DecodedOnceTests(TempMediaMixin, TestCase):
    def post_and_run(self, data: bytes, name: str) -> tuple[Analysis, list, list]:
        with counting_decodes() as web:
            response = self.client.post(reverse("analyzer:upload"), {"file": upload(data, name)})
        self.assertEqual(response.status_code, 302)
        with (
            counting_decodes() as worker,
            mock.patch.object(processing, "get_recognizer", return_value=fake_recognizer()),
        ):
            [analysis] = run_queued_analyses()
        self.assertEqual(analysis.status, Analysis.Status.DONE, analysis.error_message)
        return analysis, web, worker

    def test_it_decodes_a_wav_once_after_a_bounded_look(self) -> None:
        analysis, web, worker = self.post_and_run(speech_wav(), "take.wav")

        self.assertEqual(web, [SPEECH_CHECK_SECONDS])
        self.assertEqual(worker, [None])
        self.assertGreater(analysis.segments.count(), 0)

    def test_it_decodes_an_m4a_once_after_a_bounded_look(self) -> None:
        m4a = ffmpeg_encode(speech_wav(), ".m4a", "-c:a", "aac")

        _, web, worker = self.post_and_run(m4a, "memo.m4a")

        self.assertEqual(web, [SPEECH_CHECK_SECONDS])
        self.assertEqual(worker, [None])


class WrittenAtMostTwiceTests(TempMediaMixin, TestCase):
    def test_it_writes_a_small_upload_once_to_the_storage_only(self) -> None:
        save = FileSystemStorage._save
        with (
            mock.patch.object(FileSystemStorage, "_save", autospec=True, side_effect=save) as saved,
            mock.patch.object(processing, "get_recognizer", return_value=fake_recognizer()),
        ):
            self.client.post(reverse("analyzer:upload"), {"file": upload(speech_wav())})
            [analysis] = run_queued_analyses()

        self.assertEqual(saved.call_count, 1)
        self.assertEqual(self.temporary_files(), [])
        self.assertEqual(list(self.temp_root.iterdir()), [])
        self.assertEqual(self.stored_files(), [self.media_root / analysis.file.name])

    @override_settings(FILE_UPLOAD_MAX_MEMORY_SIZE=0)  # Django writes the upload to disk.
    def test_it_moves_a_large_upload_django_wrote_into_the_storage(self) -> None:
        data = speech_wav()
        with mock.patch.object(processing, "get_recognizer", return_value=fake_recognizer()):
            self.client.post(reverse("analyzer:upload"), {"file": upload(data)})
            [analysis] = run_queued_analyses()

        self.assertEqual(analysis.status, Analysis.Status.DONE)
        self.assertEqual(list(self.temp_root.iterdir()), [])
        self.assertEqual(Path(self.media_root / analysis.file.name).read_bytes(), data)


class WorkerReadsThroughTheStorageTests(TempMediaMixin, TestCase):
    def process_with(self, storage: FileSystemStorage, data: bytes, **fields: object) -> Analysis:
        analysis = make_analysis(data=data, emotion=None, **fields)
        field = Analysis._meta.get_field("file")
        with (
            mock.patch.object(field, "storage", storage),
            mock.patch.object(processing, "get_recognizer", return_value=fake_recognizer()),
        ):
            processing.analysis_process(analysis_id=str(analysis.pk))
        analysis.refresh_from_db()
        return analysis

    def assertAnalysed(self, analysis: Analysis) -> None:
        self.assertEqual(analysis.status, Analysis.Status.DONE, analysis.error_message)
        self.assertGreater(analysis.segments.count(), 0)
        self.assertEqual(self.temporary_files(), [])
        self.assertEqual(list(self.temp_root.iterdir()), [])

    def test_it_analyses_a_recording_from_a_storage_without_local_paths(self) -> None:
        storage = NoLocalPathStorage(location=self.media_root)
        with self.assertRaises(NotImplementedError):
            storage.path("x")

        self.assertAnalysed(self.process_with(storage, speech_wav()))

    def test_it_analyses_a_recording_streamed_from_the_storage(self) -> None:
        storage = StreamingStorage(location=self.media_root)

        self.assertAnalysed(self.process_with(storage, speech_wav()))

    def test_it_analyses_an_m4a_streamed_from_the_storage(self) -> None:
        # ffmpeg needs to seek in MP4 files whose index comes last: a pipe would not do.
        storage = StreamingStorage(location=self.media_root)
        m4a = ffmpeg_encode(long_speech_wav(), ".m4a", "-c:a", "aac")

        analysis = self.process_with(
            storage, m4a, format="m4a", content_type="audio/mp4", original_name="memo.m4a"
        )

        self.assertAnalysed(analysis)
