"""A bounded look at a recording (``head``, ``check_audio``) and decoding from a stream."""

from __future__ import annotations

import io
import os
import unittest

import numpy as np

from ml.audio import SAMPLE_RATE, check_audio, load_audio, readable_path
from ml.errors import AudioTooLongError, NoSpeechError
from ml.tests.helpers import TempDirMixin, ffmpeg_encode, silence, speech, tone, write_audio


class HeadTests(TempDirMixin, unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.wav = write_audio(cls.tmp / "tone.wav", tone(10.0))
        cls.m4a = ffmpeg_encode(cls.wav, cls.tmp / "tone.m4a", "-c:a", "aac")

    def test_it_decodes_only_the_head_of_a_longer_recording(self) -> None:
        for path in (self.wav, self.m4a):
            with self.subTest(path=path.name):
                decoded = load_audio(path, head=2.0)
                self.assertEqual(len(decoded.signal), 2 * SAMPLE_RATE)
                self.assertFalse(decoded.complete)
                self.assertAlmostEqual(decoded.info.duration, 10.0, delta=0.1)

    def test_it_says_complete_when_the_head_holds_all_of_it(self) -> None:
        for path in (self.wav, self.m4a):
            with self.subTest(path=path.name):
                decoded = load_audio(path, head=60.0)
                self.assertTrue(decoded.complete)
                self.assertAlmostEqual(len(decoded.signal) / SAMPLE_RATE, 10.0, delta=0.1)

    def test_it_still_refuses_a_recording_longer_than_the_limit(self) -> None:
        for path in (self.wav, self.m4a):
            with self.subTest(path=path.name), self.assertRaises(AudioTooLongError):
                load_audio(path, max_duration=5.0, head=60.0)


class CheckAudioTests(TempDirMixin, unittest.TestCase):
    def test_it_refuses_a_short_recording_without_speech(self) -> None:
        path = write_audio(self.tmp / "silence.wav", silence(3.0))
        with self.assertRaises(NoSpeechError):
            check_audio(path)

    def test_it_accepts_speech(self) -> None:
        path = write_audio(self.tmp / "speech.wav", speech())
        self.assertTrue(check_audio(path).complete)

    def test_it_leaves_a_recording_longer_than_its_look_to_the_full_decoding(self) -> None:
        # Silence first, then speech: today's look stops before the speech.
        path = write_audio(self.tmp / "late.wav", np.concatenate([silence(4.0), speech()]))
        decoded = check_audio(path, head=3.0)
        self.assertFalse(decoded.complete)
        self.assertEqual(len(decoded.signal), 3 * SAMPLE_RATE)


class ReadablePathTests(TempDirMixin, unittest.TestCase):
    def test_it_decodes_a_stream_without_a_descriptor_and_closes_its_copy(self) -> None:
        data = write_audio(self.tmp / "speech.wav", speech()).read_bytes()
        with readable_path(io.BytesIO(data)) as path:
            fd = int(path.name)
            decoded = load_audio(path)
        self.assertEqual(len(decoded.signal), len(speech()))
        with self.assertRaises(OSError):
            os.fstat(fd)

    def test_it_gives_ffmpeg_a_seekable_copy_of_an_mp4_whose_index_comes_last(self) -> None:
        wav = write_audio(self.tmp / "long.wav", np.tile(speech(), 20))
        m4a = ffmpeg_encode(wav, self.tmp / "long.m4a", "-c:a", "aac")  # moov after mdat
        with readable_path(io.BytesIO(m4a.read_bytes())) as path:
            decoded = load_audio(path)
        self.assertAlmostEqual(decoded.duration, len(speech()) * 20 / SAMPLE_RATE, delta=0.2)

    def test_it_reads_a_file_on_disk_where_it_is(self) -> None:
        wav = write_audio(self.tmp / "speech.wav", speech())
        with open(wav, "rb") as fh, readable_path(fh) as path:
            self.assertEqual(int(path.name), fh.fileno())
            self.assertEqual(len(load_audio(path).signal), len(speech()))
