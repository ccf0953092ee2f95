"""Decoding: every supported input becomes the same mono float32 signal at 16 kHz.

The files are a real RAVDESS take written in each format; the decoded signal is compared
with the original samples, so a wrong rate, a lost channel or a level change shows.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import unittest
from pathlib import Path
from unittest import mock

import numpy as np

from ml import audio
from ml.audio import AudioFormat, DecodedAudio, load_audio, probe_audio, sniff_format
from ml.errors import (
    AudioDecodeError,
    AudioTooLongError,
    AudioTooShortError,
    DecodeTimeoutError,
    MLError,
    UnsupportedFormatError,
)
from ml.tests.helpers import (
    TempDirMixin,
    ffmpeg_encode,
    speech,
    wav_header,
    white_noise,
    write_audio,
    write_speech,
)

SR = 16000


def _similarity(a: np.ndarray, b: np.ndarray, max_lag: int = 800) -> float:
    """Peak normalised cross-correlation within +-50 ms (codecs may delay the signal)."""
    n = len(a) + len(b)
    cc = np.fft.irfft(np.fft.rfft(a, n) * np.conj(np.fft.rfft(b, n)), n)
    cc = np.r_[cc[-max_lag:], cc[: max_lag + 1]]
    return float(cc.max() / np.sqrt(np.sum(a.astype(np.float64) ** 2) * np.sum(b**2)))


class _Source(TempDirMixin):
    """One RAVDESS take (``cls.source``) as 16 kHz and 44.1 kHz WAV and as FLAC."""

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.source = speech()
        cls.seconds = len(cls.source) / SR
        cls.wav = {rate: write_speech(cls.tmp / f"speech-{rate}.wav", sample_rate=rate)
                   for rate in cls.wav_rates}  # fmt: skip
        cls.flac = write_speech(cls.tmp / "speech.flac")

    wav_rates: tuple[int, ...] = (16000, 44100)


class _AllFormats(_Source):
    """The same take in every supported format."""

    wav_rates = (8000, 16000, 22050, 44100, 48000)

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        tmp = cls.tmp
        cls.ogg = write_speech(tmp / "speech.ogg", format="OGG", subtype="VORBIS")
        cls.opus = write_speech(tmp / "speech-opus.ogg", format="OGG", subtype="OPUS")
        cls.mp3 = write_speech(tmp / "speech.mp3", sample_rate=44100, subtype="MPEG_LAYER_III")
        cls.m4a = ffmpeg_encode(cls.wav[44100], tmp / "speech.m4a", "-c:a", "aac")
        cls.webm = ffmpeg_encode(cls.wav[48000], tmp / "speech.webm", "-c:a", "libopus")


class DecodingTests(_AllFormats, unittest.TestCase):
    def assertSameSpeech(self, path: Path, *, similarity: float = 0.98) -> DecodedAudio:
        decoded = load_audio(path)
        signal = decoded.signal
        self.assertEqual(signal.dtype, np.float32)
        self.assertEqual(signal.ndim, 1)
        self.assertTrue(np.all(np.isfinite(signal)))
        self.assertAlmostEqual(decoded.duration, self.seconds, delta=0.02)
        self.assertAlmostEqual(decoded.info.duration, self.seconds, delta=0.02)
        self.assertGreaterEqual(_similarity(signal, self.source), similarity)
        level_db = 20 * np.log10(np.std(signal) / np.std(self.source))
        self.assertLess(abs(level_db), 1.0, "the level changed in decoding")
        return decoded

    def test_it_decodes_wav_at_common_sample_rates_to_16k_mono(self) -> None:
        for rate, path in self.wav.items():
            with self.subTest(sample_rate=rate):
                self.assertSameSpeech(path)
                info = probe_audio(path)
                self.assertEqual((info.format, info.sample_rate, info.channels),
                                 (AudioFormat.WAV, rate, 1))  # fmt: skip

    def test_it_keeps_16k_lossless_input_sample_for_sample(self) -> None:
        for path in (self.wav[16000], self.flac):
            with self.subTest(path=path.name):
                signal = self.assertSameSpeech(path).signal
                np.testing.assert_allclose(signal, self.source, atol=1.5 / 32768)

    def test_it_mixes_stereo_down_to_the_mean_of_the_channels(self) -> None:
        path = write_audio(self.tmp / "stereo.wav", np.stack([self.source, 0.5 * self.source], 1))
        decoded = load_audio(path)
        self.assertEqual(decoded.info.channels, 2)
        self.assertEqual(decoded.signal.shape, self.source.shape)
        np.testing.assert_allclose(decoded.signal, 0.75 * self.source, atol=2 / 32768)

    def test_it_decodes_stereo_48k_to_mono_16k(self) -> None:
        path = write_speech(self.tmp / "stereo-48k.wav", sample_rate=48000, channels=2)
        self.assertEqual(self.assertSameSpeech(path).info.channels, 2)

    def test_it_decodes_flac_ogg_and_mp3(self) -> None:
        cases = [
            (self.flac, AudioFormat.FLAC, "audio/flac"),
            (self.ogg, AudioFormat.OGG, "audio/ogg"),
            (self.opus, AudioFormat.OGG, "audio/ogg"),
            (self.mp3, AudioFormat.MP3, "audio/mpeg"),
        ]
        for path, fmt, content_type in cases:
            with self.subTest(path=path.name):
                info = self.assertSameSpeech(path).info
                self.assertEqual((info.format, info.content_type), (fmt, content_type))

    def test_it_decodes_m4a_and_webm_through_ffmpeg(self) -> None:
        cases = [
            (self.m4a, AudioFormat.MP4, "audio/mp4", 44100),
            (self.webm, AudioFormat.MATROSKA, "audio/webm", 48000),
        ]
        for path, fmt, content_type, rate in cases:
            with self.subTest(path=path.name):
                info = self.assertSameSpeech(path).info
                self.assertEqual(info.format, fmt)
                self.assertFalse(info.has_video)
                self.assertEqual(info.content_type, content_type)
                self.assertEqual(info.sample_rate, rate)

    def test_it_recognises_each_container_from_its_first_bytes(self) -> None:
        cases = [
            (self.wav[16000], AudioFormat.WAV),
            (self.flac, AudioFormat.FLAC),
            (self.ogg, AudioFormat.OGG),
            (self.mp3, AudioFormat.MP3),
            (self.m4a, AudioFormat.MP4),
            (self.webm, AudioFormat.MATROSKA),
        ]
        for path, fmt in cases:
            with self.subTest(path=path.name):
                self.assertIs(sniff_format(path.read_bytes()[:64]), fmt)

    def test_it_trusts_the_content_not_the_name(self) -> None:
        flac_as_wav = self.tmp / "really-flac.wav"
        flac_as_wav.write_bytes(self.flac.read_bytes())
        wav_as_mp3 = self.tmp / "really-wav.mp3"
        wav_as_mp3.write_bytes(self.wav[22050].read_bytes())
        no_suffix = self.tmp / "recording"
        no_suffix.write_bytes(self.ogg.read_bytes())
        cases = [
            (flac_as_wav, AudioFormat.FLAC),
            (wav_as_mp3, AudioFormat.WAV),
            (no_suffix, AudioFormat.OGG),
        ]
        for path, fmt in cases:
            with self.subTest(path=path.name):
                self.assertIs(self.assertSameSpeech(path).info.format, fmt)


class BadInputTests(_Source, unittest.TestCase):
    def assertUserMessage(self, err: BaseException) -> None:
        """A sentence for a person: no traceback, no library jargon, no server path."""
        message = str(err)
        self.assertTrue(message[:1].isupper() and message.endswith("."), message)
        for jargon in ("Traceback", "libsndfile", "Errno", str(self.tmp), "Error:"):
            self.assertNotIn(jargon, message)

    def assertRefused(self, path: Path, error: type[MLError] = AudioDecodeError) -> MLError:
        with self.assertRaises(error) as caught:
            load_audio(path)
        self.assertUserMessage(caught.exception)
        return caught.exception

    def _write(self, name: str, data: bytes) -> Path:
        path = self.tmp / name
        path.write_bytes(data)
        return path

    def test_it_refuses_an_empty_file(self) -> None:
        err = self.assertRefused(self._write("empty.wav", b""))
        self.assertIn("empty", str(err))

    def test_it_refuses_a_missing_file(self) -> None:
        err = self.assertRefused(self.tmp / "nowhere.wav")
        self.assertIn("could not be read", str(err))

    def test_it_refuses_a_text_file_named_wav(self) -> None:
        path = self._write("notes.wav", b"Call Ada back about the recording on Monday.\n" * 20)
        err = self.assertRefused(path, UnsupportedFormatError)
        self.assertIn("not a supported audio or video format", str(err))
        self.assertIn("wav", str(err))

    def test_it_refuses_random_bytes(self) -> None:
        noise = np.random.default_rng(0).bytes(4096)
        self.assertRefused(self._write("random.wav", noise))

    def test_it_refuses_random_bytes_behind_a_real_signature(self) -> None:
        body = np.random.default_rng(1).bytes(5000)
        heads = {
            "wav": b"RIFF" + (5000).to_bytes(4, "little") + b"WAVE",
            "flac": b"fLaC",
            "ogg": b"OggS",
            "mp3": b"ID3",
            "m4a": b"\0\0\0\x20ftypM4A ",
        }
        for suffix, head in heads.items():
            with self.subTest(container=suffix):
                self.assertRefused(self._write(f"garbage.{suffix}", head + body))

    def test_it_refuses_a_wav_cut_inside_its_header(self) -> None:
        data = self.wav[44100].read_bytes()
        for size in (12, 20, 30):
            with self.subTest(bytes=size):
                err = self.assertRefused(self._write(f"cut-{size}.wav", data[:size]))
                self.assertIn("corrupt or truncated", str(err))

    def test_it_keeps_the_part_of_a_wav_cut_in_its_samples(self) -> None:
        data = self.wav[16000].read_bytes()
        cut = self._write("half.wav", data[: 44 + (len(data) - 44) // 2])
        decoded = load_audio(cut)
        self.assertAlmostEqual(decoded.duration, self.seconds / 2, delta=0.01)
        np.testing.assert_allclose(
            decoded.signal, self.source[: len(decoded.signal)], atol=1.5 / 32768
        )

    def test_it_refuses_a_truncated_flac(self) -> None:
        data = self.flac.read_bytes()
        for size in (20, 42, 1000):
            with self.subTest(bytes=size):
                err = self.assertRefused(self._write(f"cut-{size}.flac", data[:size]))
                self.assertIn("corrupt or truncated", str(err))
        # Cut among the audio frames: refused, or the part before the cut at most.
        try:
            decoded = load_audio(self._write("half.flac", data[: len(data) // 2]))
        except AudioDecodeError as err:
            self.assertUserMessage(err)
        else:
            self.assertLess(decoded.duration, 0.75 * self.seconds)


class DurationLimitTests(_Source, unittest.TestCase):
    def test_it_refuses_a_recording_over_the_limit(self) -> None:
        long = write_audio(self.tmp / "long.wav", np.tile(self.source, 3))
        with self.assertRaises(AudioTooLongError) as caught:
            load_audio(long, max_duration=5)
        message = str(caught.exception)
        self.assertIn(f"{3 * self.seconds:.1f} s long", message)
        self.assertIn("the limit is 5.0 s", message)
        self.assertAlmostEqual(load_audio(long).duration, 3 * self.seconds, delta=0.01)

    def test_it_refuses_a_long_wav_from_its_header_before_decoding(self) -> None:
        # Two hours announced and present, but sparse: nothing is written to disk.
        data_bytes = 7200 * SR * 2
        path = self.tmp / "two-hours.wav"
        with path.open("wb") as fh:
            fh.write(wav_header(data_bytes=data_bytes))
            fh.truncate(44 + data_bytes)
        started = time.perf_counter()
        with (
            mock.patch("ml.audio._read_soundfile", side_effect=AssertionError("decoded")),
            self.assertRaises(AudioTooLongError) as caught,
        ):
            load_audio(path, max_duration=600)
        self.assertLess(time.perf_counter() - started, 1.0)
        self.assertIn("120 min 00 s", str(caught.exception))
        self.assertIn("the limit is 10 min 00 s", str(caught.exception))

    def test_it_refuses_a_tiny_flac_that_claims_hours_at_once(self) -> None:
        data = bytearray(self.flac.read_bytes())
        # STREAMINFO's total-samples field: the low 36 bits of bytes 18..25 of the file.
        field = int.from_bytes(data[18:26], "big")
        hours = 5 * 3600 * SR
        data[18:26] = ((field & ~((1 << 36) - 1)) | hours).to_bytes(8, "big")
        path = self.tmp / "liar.flac"
        path.write_bytes(bytes(data))
        started = time.perf_counter()
        with self.assertRaises(AudioTooLongError) as caught:
            load_audio(path, max_duration=600)
        self.assertLess(time.perf_counter() - started, 1.0)
        self.assertIn("300 min 00 s", str(caught.exception))

    def test_it_refuses_a_tiny_wav_that_claims_hours_at_once(self) -> None:
        # libsndfile counts the samples actually present, so this is refused as short.
        path = self.tmp / "liar.wav"
        samples = (0.2 * white_noise(0.1)).clip(-1, 1) * 32767
        path.write_bytes(wav_header(data_bytes=0xFFFFFF00) + samples.astype("<i2").tobytes())
        started = time.perf_counter()
        with self.assertRaises((AudioTooLongError, AudioTooShortError)):
            load_audio(path, max_duration=600)
        self.assertLess(time.perf_counter() - started, 1.0)

    def test_it_refuses_a_recording_under_half_a_second(self) -> None:
        short = write_audio(self.tmp / "short.wav", self.source[: int(0.3 * SR)])
        with self.assertRaises(AudioTooShortError) as caught:
            load_audio(short)
        message = str(caught.exception)
        self.assertIn("too short (0.30 s)", message)
        self.assertIn("at least 0.5 s", message)
        just_enough = write_audio(self.tmp / "just-enough.wav", self.source[: int(0.6 * SR)])
        self.assertAlmostEqual(load_audio(just_enough).duration, 0.6, delta=1e-3)


class DecodeTimeoutTests(_Source, unittest.TestCase):
    """The time limit of calls that give none is configured, never read from the
    environment (the web service passes its setting, the CLI its flag)."""

    def setUp(self) -> None:
        self.addCleanup(audio.configure, decode_timeout=audio.decode_timeout())

    def test_it_defaults_to_two_minutes_whatever_the_environment_says(self) -> None:
        done = subprocess.run(
            [sys.executable, "-c", "import ml.audio; print(ml.audio.decode_timeout())"],
            env={**os.environ, "SPEECHEMOTION_DECODE_TIMEOUT": "1"},
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        self.assertEqual(done.stdout.strip(), "120.0")

    def test_it_uses_the_configured_limit_when_the_call_gives_none(self) -> None:
        audio.configure(decode_timeout=1e-9)
        with self.assertRaises(DecodeTimeoutError) as caught:
            load_audio(self.wav[44100])
        self.assertIn("Decoding took longer than 0.0 s", str(caught.exception))
        self.assertGreater(load_audio(self.wav[44100], timeout=60).duration, 1)

    def test_it_refuses_a_limit_that_is_not_a_positive_number(self) -> None:
        for bad in (0.0, -1.0, float("nan"), float("inf")):
            with self.subTest(bad), self.assertRaises(ValueError):
                audio.configure(decode_timeout=bad)
        self.assertEqual(audio.decode_timeout(), audio.DEFAULT_DECODE_TIMEOUT)


if __name__ == "__main__":
    unittest.main()
