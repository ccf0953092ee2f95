"""Sound tracks are extracted from real little videos made with ffmpeg for the occasion."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path
from typing import Any
from unittest import mock

import imageio_ffmpeg
import numpy as np
import soundfile as sf

from ml.errors import AudioDecodeError, DecodeTimeoutError, NoAudioTrackError
from ml.tests.ffmpeg_processes import left_behind, watching_ffmpeg
from ml.video import VideoInfo, _channel_count, extract_audio_track, video_info

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
TONE_HZ = 440.0
SECONDS = 1.5


def _ffmpeg(*args: str) -> None:
    subprocess.run([FFMPEG, "-y", "-loglevel", "error", *args], check=True)


def _has_encoder(name: str) -> bool:
    listing = subprocess.run(
        [FFMPEG, "-hide_banner", "-encoders"], capture_output=True, text=True, check=False
    ).stdout
    return any(line.split()[1:2] == [name] for line in listing.splitlines())


def _picture(rate: int = 10) -> list[str]:
    return ["-f", "lavfi", "-i", f"testsrc=size=64x64:rate={rate}"]


def _tone(sample_rate: int = 44100) -> list[str]:
    return ["-f", "lavfi", "-i", f"sine=frequency={TONE_HZ:g}:sample_rate={sample_rate}"]


def _dominant_frequency(signal: np.ndarray, sample_rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal))))
    return float(np.argmax(spectrum)) * sample_rate / len(signal)


class _Media:
    """Builds the videos once per class in a temporary folder."""

    media: Path

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.media = Path(tempfile.mkdtemp(prefix="test_video_"))
        cls.addClassCleanup(shutil.rmtree, cls.media, ignore_errors=True)
        vcodec = "libx264" if _has_encoder("libx264") else "mpeg4"
        duration = ["-t", f"{SECONDS:g}"]
        # A stereo AAC tone under pictures; ffmpeg puts the mp4 index at the end.
        cls.av = cls.media / "av.mp4"
        _ffmpeg(*_picture(), *_tone(), *duration, "-c:v", vcodec, "-c:a", "aac", "-ac", "2",
                "-shortest", str(cls.av))  # fmt: skip
        cls.silent = cls.media / "silent.mp4"
        _ffmpeg(*_picture(), *duration, "-c:v", vcodec, str(cls.silent))
        cls.sound_only = cls.media / "sound_only.m4a"
        _ffmpeg(*_tone(), *duration, "-c:a", "aac", str(cls.sound_only))
        cls.corrupt = cls.media / "corrupt.mp4"
        cls.corrupt.write_bytes(np.random.default_rng(0).bytes(4096))
        cls.truncated = cls.media / "truncated.mp4"
        cls.truncated.write_bytes(cls.av.read_bytes()[: cls.av.stat().st_size // 2])
        # What a browser's MediaRecorder uploads: a live webm whose headers hold no duration.
        cls.live_webm: Path | None = None
        if _has_encoder("libvpx") and _has_encoder("libopus"):
            cls.live_webm = cls.media / "live.webm"
            _ffmpeg(*_picture(), *_tone(48000), *duration, "-c:v", "libvpx", "-c:a", "libopus",
                    "-live", "1", "-f", "webm", str(cls.live_webm))  # fmt: skip


class ExtractAudioTrackTests(_Media, unittest.TestCase):
    def setUp(self) -> None:
        self.out = Path(tempfile.mkdtemp(prefix="test_video_out_"))
        self.addCleanup(shutil.rmtree, self.out, ignore_errors=True)

    def _extract(self, src: Path, **kwargs: object) -> tuple[np.ndarray, Any]:
        dst = self.out / "out.wav"
        extract_audio_track(src, dst, **kwargs)  # type: ignore[arg-type]
        signal, _ = sf.read(dst, dtype="float32")
        return signal, sf.info(dst)

    def test_it_writes_16_bit_mono_pcm_at_16_khz(self) -> None:
        _, info = self._extract(self.av)
        self.assertEqual(info.format, "WAV")
        self.assertEqual(info.subtype, "PCM_16")
        self.assertEqual(info.samplerate, 16000)
        self.assertEqual(info.channels, 1)

    def test_it_keeps_the_tone_and_the_duration(self) -> None:
        signal, info = self._extract(self.av)
        self.assertAlmostEqual(len(signal) / info.samplerate, SECONDS, delta=0.05)
        self.assertGreater(np.abs(signal).max(), 0.05)
        self.assertAlmostEqual(_dominant_frequency(signal, info.samplerate), TONE_HZ, delta=3)

    def test_it_resamples_to_the_requested_rate(self) -> None:
        signal, info = self._extract(self.av, sample_rate=8000)
        self.assertEqual(info.samplerate, 8000)
        self.assertAlmostEqual(len(signal) / 8000, SECONDS, delta=0.05)
        self.assertAlmostEqual(_dominant_frequency(signal, 8000), TONE_HZ, delta=3)

    def test_it_writes_two_channels_when_mono_is_off(self) -> None:
        signal, info = self._extract(self.av, mono=False)
        self.assertEqual(info.channels, 2)
        self.assertEqual(signal.shape[1], 2)
        self.assertAlmostEqual(_dominant_frequency(signal[:, 0], 16000), TONE_HZ, delta=3)

    def test_it_replaces_an_existing_file(self) -> None:
        dst = self.out / "out.wav"
        dst.write_bytes(b"stale")
        extract_audio_track(self.av, dst)
        self.assertEqual(sf.info(dst).subtype, "PCM_16")
        self.assertEqual(sorted(p.name for p in self.out.iterdir()), ["out.wav"])

    def test_it_reads_a_file_holding_only_sound(self) -> None:
        signal, info = self._extract(self.sound_only)
        self.assertEqual((info.samplerate, info.channels), (16000, 1))
        self.assertAlmostEqual(_dominant_frequency(signal, 16000), TONE_HZ, delta=3)

    def test_it_reads_a_webm_without_a_duration_in_its_headers(self) -> None:
        if self.live_webm is None:
            self.skipTest("this ffmpeg cannot encode webm (libvpx/libopus)")
        signal, info = self._extract(self.live_webm)
        self.assertAlmostEqual(len(signal) / info.samplerate, SECONDS, delta=0.1)
        self.assertAlmostEqual(_dominant_frequency(signal, 16000), TONE_HZ, delta=3)

    def test_it_raises_no_audio_track_error_for_a_silent_video(self) -> None:
        with self.assertRaises(NoAudioTrackError) as caught:
            extract_audio_track(self.silent, self.out / "out.wav")
        self.assertEqual(str(caught.exception), "This video has no sound track.")
        self.assertEqual(list(self.out.iterdir()), [])

    def test_it_raises_audio_decode_error_for_unreadable_files(self) -> None:
        for src in (self.corrupt, self.truncated):
            with self.subTest(src.name), self.assertRaises(AudioDecodeError) as caught:
                extract_audio_track(src, self.out / "out.wav")
            message = str(caught.exception)
            self.assertIn("Could not read this video file", message)
            self.assertNotIn("MoviePy", message)  # no library internals shown to a user
            self.assertEqual(list(self.out.iterdir()), [], "a partial file was left behind")

    def test_it_leaves_an_existing_file_alone_when_it_fails(self) -> None:
        dst = self.out / "out.wav"
        dst.write_bytes(b"previous")
        with self.assertRaises(AudioDecodeError):
            extract_audio_track(self.corrupt, dst)
        self.assertEqual(dst.read_bytes(), b"previous")
        self.assertEqual(list(self.out.iterdir()), [dst])

    def test_it_removes_the_partial_file_when_writing_fails_midway(self) -> None:
        # An ffmpeg that writes half a WAV to its output (its last argument) and fails.
        broken = self.out / "broken-ffmpeg"
        broken.write_text(
            '#!/bin/sh\nfor last; do :; done\nhead -c 4000 /dev/zero > "${last#file:}"\nexit 1\n'
        )
        broken.chmod(0o755)
        dst = self.out / "out.wav"
        with (
            mock.patch("ml.ffmpeg.executable", side_effect=[FFMPEG, str(broken)]),
            self.assertRaises(AudioDecodeError) as caught,
        ):
            extract_audio_track(self.av, dst)
        self.assertIn("Could not read this video file", str(caught.exception))
        self.assertEqual(list(self.out.iterdir()), [broken], "a partial file was left behind")

    def test_it_raises_only_ml_errors_on_a_cut_file_with_its_index_first(self) -> None:
        # With the index at the start ffmpeg can open a cut file: whatever comes out must
        # be a WAV or one of our errors, never a moviepy exception.
        faststart = self.out / "faststart.mp4"
        _ffmpeg("-i", str(self.av), "-c", "copy", "-movflags", "+faststart", str(faststart))
        cut = self.out / "cut.mp4"
        cut.write_bytes(faststart.read_bytes()[: faststart.stat().st_size // 3])
        dst = self.out / "out.wav"
        try:
            extract_audio_track(cut, dst)
        except AudioDecodeError:
            self.assertFalse(dst.exists())
        else:
            self.assertEqual(sf.info(dst).subtype, "PCM_16")

    def test_it_leaves_no_ffmpeg_process_behind(self) -> None:
        with watching_ffmpeg() as started:
            extract_audio_track(self.av, self.out / "ok.wav")
            for src in (self.silent, self.corrupt, self.truncated):
                with self.assertRaises(AudioDecodeError):
                    extract_audio_track(src, self.out / "bad.wav")
        self.assertGreaterEqual(len(started), 5)  # a probe each, and one extraction
        self.assertEqual(left_behind(started), [])

    def test_it_raises_file_not_found_for_a_missing_source(self) -> None:
        with self.assertRaises(FileNotFoundError):
            extract_audio_track(self.media / "nope.mp4", self.out / "out.wav")

    def test_it_rejects_a_sample_rate_that_is_not_positive(self) -> None:
        with self.assertRaises(ValueError):
            extract_audio_track(self.av, self.out / "out.wav", sample_rate=0)


class VideoInfoTests(_Media, unittest.TestCase):
    def test_it_reports_duration_streams_rate_and_channels(self) -> None:
        info = video_info(self.av)
        self.assertIsInstance(info, VideoInfo)
        self.assertAlmostEqual(info.duration, SECONDS, delta=0.05)
        self.assertTrue(info.has_video)
        self.assertTrue(info.has_audio)
        self.assertEqual(info.audio_sample_rate, 44100)
        self.assertEqual(info.audio_channels, 2)

    def test_it_reports_a_video_without_sound(self) -> None:
        info = video_info(self.silent)
        self.assertTrue(info.has_video)
        self.assertFalse(info.has_audio)
        self.assertIsNone(info.audio_sample_rate)
        self.assertIsNone(info.audio_channels)

    def test_it_reports_a_file_holding_only_sound(self) -> None:
        info = video_info(self.sound_only)
        self.assertEqual((info.has_video, info.has_audio), (False, True))
        self.assertEqual((info.audio_sample_rate, info.audio_channels), (44100, 1))

    def test_it_measures_a_webm_without_a_duration_in_its_headers(self) -> None:
        if self.live_webm is None:
            self.skipTest("this ffmpeg cannot encode webm (libvpx/libopus)")
        info = video_info(self.live_webm)
        self.assertAlmostEqual(info.duration, SECONDS, delta=0.1)
        self.assertEqual(info.audio_sample_rate, 48000)

    def test_it_raises_audio_decode_error_for_unreadable_files(self) -> None:
        for src in (self.corrupt, self.truncated):
            with self.subTest(src.name), self.assertRaises(AudioDecodeError):
                video_info(src)

    def test_it_raises_decode_timeout_error_when_ffmpeg_is_too_slow(self) -> None:
        with self.assertRaises(DecodeTimeoutError):
            video_info(self.av, timeout=1e-6)

    def test_it_counts_the_channels_of_ffmpeg_layouts(self) -> None:
        line = "  Stream #0:1[0x2](eng): Audio: aac (LC), 48000 Hz, {}, fltp, 128 kb/s"
        expected = {"mono": 1, "stereo": 2, "5.1(side)": 6, "7.1": 8, "quad": 4,
                    "3 channels": 3, "22.2": 24, "weird": None}  # fmt: skip
        for layout, channels in expected.items():
            with self.subTest(layout):
                self.assertEqual(_channel_count(line.format(layout), 0, 1), channels)

    def test_it_counts_the_channels_of_the_default_sound_stream(self) -> None:
        report = (
            "  Stream #0:1: Audio: aac, 48000 Hz, mono, fltp\n"
            "  Stream #0:2: Audio: aac, 48000 Hz, 5.1, fltp (default)\n"
        )
        self.assertEqual(_channel_count(report, 0, 2), 6)
        self.assertEqual(_channel_count(report, None, None), 1)


if __name__ == "__main__":
    unittest.main()
