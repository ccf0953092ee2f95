"""Decoding limits: what a header claims, how long it may take, what it may allocate.

A file that announces hours is refused from its header in well under a second; a file
that runs on past its header is cut a second past the limit; ffmpeg is stopped by the
wall-clock timeout, its process group and temporary files included; absurd headers (no
sample rate, 65535 channels) and non-finite samples become clean errors.

Processes left behind are found from the ffmpeg processes the runner started
(:mod:`ml.tests.ffmpeg_processes`), not by listing ``/proc/self/task/*/children``, which
fails at random when a thread ends while it is read.
"""

from __future__ import annotations

import math
import shutil
import struct
import subprocess
import tempfile
import threading
import time
import tracemalloc
import unittest
from pathlib import Path
from unittest import mock

import imageio_ffmpeg
import numpy as np
import soundfile as sf

from ml.audio import SAMPLE_RATE, load_audio
from ml.errors import (
    AudioDecodeError,
    AudioTooLongError,
    DecodeTimeoutError,
    MLError,
)
from ml.tests.ffmpeg_processes import left_behind, watching_ffmpeg
from ml.video import extract_audio_track

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
FAST = 1.0  # seconds within which a header's claim must be refused


def _ffmpeg(*args: str) -> None:
    subprocess.run([FFMPEG, "-y", "-loglevel", "error", *args], check=True, timeout=60)


def _tone(seconds: float, rate: int = SAMPLE_RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def _wav(
    *,
    rate: int = SAMPLE_RATE,
    channels: int = 1,
    bits: int = 16,
    fmt: int = 1,
    body: bytes = b"",
    data_size: int | None = None,
) -> bytes:
    """A canonical 44-byte WAV header (every field as given, however absurd) + ``body``."""
    block = channels * bits // 8
    size = len(body) if data_size is None else data_size
    header = b"RIFF" + struct.pack("<I", min(36 + size, 0xFFFFFFFF)) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, fmt, channels, rate,
                                    (rate * block) & 0xFFFFFFFF, block & 0xFFFF, bits)  # fmt: skip
    return header + b"data" + struct.pack("<I", size) + body


def _pcm16(signal: np.ndarray) -> bytes:
    return (signal * 32767).astype("<i2").tobytes()


def _mp4_claiming_hours(data: bytes) -> bytes:
    """Every duration an MP4 holds (movie, tracks, media, edits, sample deltas) set huge."""
    out = bytearray(data)
    fields = {b"mvhd": 20, b"tkhd": 24, b"mdhd": 20, b"elst": 12, b"stts": 16}
    for box, offset in fields.items():
        at = out.find(box)
        while at != -1:
            huge = 0x00100000 if box == b"stts" else 0x7FFFFFFF
            out[at + offset : at + offset + 4] = struct.pack(">I", huge)
            at = out.find(box, at + 4)
    return bytes(out)


def _matroska_duration(data: bytes, milliseconds: float) -> bytes:
    """Set the Duration element (id 0x4489, an 8-byte float in ms) of a Matroska file."""
    at = data.find(b"\x44\x89\x88")
    assert at != -1, "no 8-byte Duration element"
    return data[: at + 3] + struct.pack(">d", milliseconds) + data[at + 11 :]


class _Files(unittest.TestCase):
    tmp: Path

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.tmp = Path(tempfile.mkdtemp(prefix="test_decode_limits_"))
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)

    def setUp(self) -> None:
        # Whatever the decoder leaves in the temporary folder is found here.
        self.scratch = Path(tempfile.mkdtemp(dir=self.tmp, prefix="scratch_"))
        patcher = mock.patch.object(tempfile, "tempdir", str(self.scratch))
        patcher.start()
        self.addCleanup(patcher.stop)
        self.ffmpeg_runs = self.enterContext(watching_ffmpeg())

    def _write(self, name: str, data: bytes) -> Path:
        path = self.tmp / name
        path.write_bytes(data)
        return path

    def assertRefusedFast(self, path: Path, error: type[MLError], **kwargs: float) -> str:
        started = time.perf_counter()
        with self.assertRaises(error) as caught:
            load_audio(path, **kwargs)
        self.assertLess(time.perf_counter() - started, FAST)
        message = str(caught.exception)
        self.assertTrue(message[:1].isupper() and message.endswith("."), message)
        return message

    def assertNothingLeft(self, *, ran_ffmpeg: bool = True) -> None:
        self.assertEqual(list(self.scratch.iterdir()), [], "temporary files left behind")
        if ran_ffmpeg:  # else the check below would hold whatever happened
            self.assertNotEqual(self.ffmpeg_runs, [], "ffmpeg never ran")
        self.assertEqual(left_behind(self.ffmpeg_runs), [], "processes left behind")


class HeaderClaimTests(_Files):
    def test_it_refuses_a_cut_wav_whose_header_announces_hours(self) -> None:
        hours = 3 * 3600 * SAMPLE_RATE * 2
        path = self._write("three-hours.wav", _wav(body=_pcm16(_tone(1)), data_size=hours))
        with mock.patch("ml.audio._read_soundfile", side_effect=AssertionError("decoded")):
            message = self.assertRefusedFast(path, AudioTooLongError, max_duration=600)
        self.assertEqual(message, "The recording is 180 min 00 s long; the limit is 10 min 00 s.")

    def test_it_reads_a_streamed_wav_whose_size_is_a_placeholder(self) -> None:
        # sox, arecord and ffmpeg writing to a pipe cannot go back to fill in the size.
        for size in (0, 0x7FFFF000, 0x7FFFFFF8, 0xFFFFFFFF):
            with self.subTest(data_size=hex(size)):
                path = self._write("streamed.wav", _wav(body=_pcm16(_tone(1)), data_size=size))
                decoded = load_audio(path, max_duration=600)
                self.assertAlmostEqual(decoded.duration, 1.0, delta=1e-3)

    def test_it_refuses_an_mp3_whose_xing_header_announces_hours(self) -> None:
        path = self.tmp / "short.mp3"
        sf.write(path, _tone(1), SAMPLE_RATE, format="MP3")
        data = bytearray(path.read_bytes())
        xing = max(data.find(b"Xing"), data.find(b"Info"))
        self.assertGreater(xing, 0)
        data[xing + 8 : xing + 12] = struct.pack(">I", 10_000_000)  # frames, flag bit 0
        message = self.assertRefusedFast(
            self._write("liar.mp3", bytes(data)), AudioTooLongError, max_duration=600
        )
        self.assertIn("the limit is 10 min 00 s", message)

    def test_it_refuses_an_mp4_whose_tables_announce_hours(self) -> None:
        source = self.tmp / "one-second.wav"
        sf.write(source, _tone(1), SAMPLE_RATE)
        m4a, mp4 = self.tmp / "sound.m4a", self.tmp / "video.mp4"
        _ffmpeg("-i", str(source), "-c:a", "aac", str(m4a))
        _ffmpeg("-f", "lavfi", "-i", "testsrc=size=32x32:rate=5:duration=1", "-i", str(source),
                "-c:v", "mpeg4", "-c:a", "aac", str(mp4))  # fmt: skip
        for original in (m4a, mp4):
            with self.subTest(original.name):
                liar = self._write(
                    f"liar-{original.name}", _mp4_claiming_hours(original.read_bytes())
                )
                message = self.assertRefusedFast(liar, AudioTooLongError, max_duration=600)
                self.assertIn("the limit is 10 min 00 s", message)
                self.assertNothingLeft()

    def test_it_refuses_a_matroska_whose_header_announces_hours(self) -> None:
        source = self.tmp / "one-second.wav"
        sf.write(source, _tone(1), SAMPLE_RATE)
        mkv = self.tmp / "sound.mkv"
        _ffmpeg("-i", str(source), "-c:a", "pcm_f32le", str(mkv))
        liar = self._write("liar.mkv", _matroska_duration(mkv.read_bytes(), 5 * 3600e3))
        message = self.assertRefusedFast(liar, AudioTooLongError, max_duration=600)
        self.assertEqual(message, "The recording is 300 min 00 s long; the limit is 10 min 00 s.")

    def test_it_decodes_a_flac_of_unknown_length_up_to_the_limit_only(self) -> None:
        # A FLAC written to a pipe leaves its total-samples field at 0, "unknown".
        path = self.tmp / "ten-seconds.flac"
        sf.write(path, _tone(10), SAMPLE_RATE)
        data = bytearray(path.read_bytes())
        field = int.from_bytes(data[18:26], "big")
        data[18:26] = (field & ~((1 << 36) - 1)).to_bytes(8, "big")
        unknown = self._write("unknown-length.flac", bytes(data))
        self.assertAlmostEqual(load_audio(unknown).duration, 10.0, delta=1e-3)
        message = self.assertRefusedFast(unknown, AudioTooLongError, max_duration=3)
        self.assertEqual(message, "The recording is longer than the limit of 3.0 s.")

    def test_it_stops_measuring_a_live_webm_past_the_limit(self) -> None:
        # No duration in the headers (a browser's MediaRecorder): it must be decoded to
        # be measured, but no further than the limit.
        source = self.tmp / "twelve-seconds.wav"
        sf.write(source, _tone(12), SAMPLE_RATE)
        live = self.tmp / "live.webm"
        _ffmpeg("-i", str(source), "-c:a", "libopus", "-live", "1", "-f", "webm", str(live))
        self.assertAlmostEqual(load_audio(live).duration, 12.0, delta=0.05)
        with mock.patch("ml.audio._ffmpeg_decode", side_effect=AssertionError("decoded")):
            message = self.assertRefusedFast(live, AudioTooLongError, max_duration=2)
        self.assertEqual(message, "The recording is longer than the limit of 2.0 s.")
        self.assertAlmostEqual(load_audio(live, max_duration=20).duration, 12.0, delta=0.05)


class MemoryBoundTests(_Files):
    def _peak_bytes(self, path: Path, **kwargs: float | None) -> tuple[int, object]:
        tracemalloc.start()
        try:
            try:
                outcome: object = load_audio(path, **kwargs)
            except MLError as err:
                outcome = err
            return tracemalloc.get_traced_memory()[1], outcome
        finally:
            tracemalloc.stop()

    def test_it_cuts_a_sound_track_running_past_its_header(self) -> None:
        # The header says 1 s; 30 s of float samples follow. ffmpeg is stopped at 3 s.
        source = self.tmp / "thirty-seconds.wav"
        sf.write(source, _tone(30, 48000), 48000)
        mkv = self.tmp / "long.mkv"
        _ffmpeg("-i", str(source), "-c:a", "pcm_f32le", str(mkv))
        liar = self._write("understated.mkv", _matroska_duration(mkv.read_bytes(), 1000.0))
        peak, outcome = self._peak_bytes(liar, max_duration=2)
        self.assertIsInstance(outcome, AudioTooLongError)
        self.assertEqual(str(outcome), "The recording is longer than the limit of 2.0 s.")
        output = 3 * SAMPLE_RATE * 4  # max_duration + 1 s of mono float32 at 16 kHz
        self.assertLess(peak, 3 * output, f"{peak} bytes allocated for {output} of output")

    def test_it_holds_one_block_of_a_many_channel_file_at_a_time(self) -> None:
        signal = np.repeat(_tone(10, 48000)[:, None], 8, axis=1)
        path = self.tmp / "eight-channels.wav"
        sf.write(path, signal, 48000, subtype="PCM_16")  # 7.7 MB, 15 MB as float32
        peak, outcome = self._peak_bytes(path, max_duration=None)
        self.assertNotIsInstance(outcome, Exception)
        output = 10 * SAMPLE_RATE * 4
        self.assertLess(peak, 2 * output + (4 << 20), f"{peak} bytes for {output} of output")

    def test_it_stops_reading_a_second_past_the_limit(self) -> None:
        # An honest header is refused before decoding; to see the decoder stop, let the
        # header check pass.
        path = self.tmp / "twenty-seconds.flac"
        sf.write(path, _tone(20), SAMPLE_RATE)
        with mock.patch("ml.audio._check_duration", side_effect=[None, None]):
            decoded = load_audio(path, max_duration=2)
        self.assertLessEqual(decoded.duration, 3.0 + 1.1)  # the limit, 1 s, one block


class AbsurdHeaderTests(_Files):
    def test_it_refuses_absurd_rates_and_channel_counts(self) -> None:
        body = bytes(64000)
        cases = {
            "no sample rate": _wav(rate=0, body=body),
            "1 Hz": _wav(rate=1, body=body),
            "2^31 Hz": _wav(rate=0x7FFFFFFF, body=body),
            "no channel": _wav(channels=0, body=body),
            "1024 channels": _wav(channels=1024, body=body),
            "65535 channels": _wav(channels=65535, body=body),
            "0 bits": _wav(bits=0, body=body),
            "unknown codec": _wav(fmt=0x7777, body=body),
        }
        for name, data in cases.items():
            with self.subTest(name):
                path = self._write("absurd.wav", data)
                message = self.assertRefusedFast(path, AudioDecodeError, max_duration=600)
                self.assertNotIn("Error", message)

    def test_it_refuses_samples_that_are_not_sound(self) -> None:
        # Any bit pattern is a float: a damaged float file holds NaN, infinities, 1e30.
        for value in (np.nan, np.inf, -np.inf, 1e30, -100.0):
            for rate in (SAMPLE_RATE, 44100):  # straight, and through the resampler
                with self.subTest(value=value, sample_rate=rate):
                    signal = _tone(1, rate)
                    signal[rate // 2] = value
                    path = self.tmp / "float.wav"
                    sf.write(path, signal, rate, subtype="FLOAT")
                    message = self.assertRefusedFast(path, AudioDecodeError)
                    self.assertIn("corrupt", message)

    def test_it_refuses_them_in_a_sound_track_decoded_by_ffmpeg(self) -> None:
        signal = _tone(1)
        signal[8000] = np.nan
        source = self.tmp / "nan.wav"
        sf.write(source, signal, SAMPLE_RATE, subtype="FLOAT")
        mkv = self.tmp / "nan.mkv"
        _ffmpeg("-i", str(source), "-c:a", "pcm_f32le", str(mkv))
        self.assertRefusedFast(mkv, AudioDecodeError)

    def test_it_keeps_float_samples_a_little_over_full_scale_as_they_are(self) -> None:
        signal = 3 * _tone(1)  # peaks at 1.5, as a mix left unlimited does
        path = self._write("loud.wav", _wav(fmt=3, bits=32, body=signal.astype("<f4").tobytes()))
        np.testing.assert_array_equal(load_audio(path).signal, signal)


class TimeoutTests(_Files):
    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        source = cls.tmp / "source.wav"
        sf.write(source, _tone(2, 44100), 44100)
        cls.m4a = cls.tmp / "sound.m4a"
        _ffmpeg("-i", str(source), "-c:a", "aac", str(cls.m4a))
        cls.mp4 = cls.tmp / "video.mp4"
        _ffmpeg("-f", "lavfi", "-i", "testsrc=size=32x32:rate=5:duration=2", "-i", str(source),
                "-c:v", "mpeg4", "-c:a", "aac", str(cls.mp4))  # fmt: skip
        # An ffmpeg that never answers, and has a child that does not either.
        cls.slow = cls.tmp / "slow-ffmpeg"
        cls.slow.write_text("#!/bin/sh\nsleep 60 &\nexec sleep 60\n")
        cls.slow.chmod(0o755)
        # A video whose sound makes ffmpeg print a decoding error every few frames.
        clean = cls.tmp / "forty-seconds.mp4"
        _ffmpeg("-f", "lavfi", "-i", "testsrc=size=32x32:rate=2", "-f", "lavfi", "-i",
                "sine=frequency=300:sample_rate=16000", "-t", "40", "-c:v", "mpeg4",
                "-c:a", "aac", "-ac", "1", "-movflags", "+faststart", str(clean))  # fmt: skip
        data = bytearray(clean.read_bytes())
        for at in range(data.find(b"mdat") + 100, len(data), 50):
            data[at] ^= 0xFF
        cls.noisy = cls.tmp / "noisy.mp4"
        cls.noisy.write_bytes(bytes(data))

    def assertTimesOut(self, call: object, *, within: float) -> DecodeTimeoutError:
        started = time.perf_counter()
        with self.assertRaises(DecodeTimeoutError) as caught:
            call()  # type: ignore[operator]
        self.assertLess(time.perf_counter() - started, within)
        self.assertTrue(str(caught.exception).endswith("."))
        return caught.exception

    def _stuck_after(self, probes: int) -> mock._patch[mock.MagicMock]:
        """The real ffmpeg for the first ``probes`` runs, then one that never answers."""
        return mock.patch("ml.ffmpeg.executable", side_effect=[FFMPEG] * probes + [str(self.slow)])

    def test_it_kills_a_stuck_ffmpeg_decoding_sound(self) -> None:
        with self._stuck_after(1):  # the probe answers, the decoder hangs
            self.assertTimesOut(lambda: load_audio(self.m4a, timeout=1.0), within=5)
        self.assertEqual(len(self.ffmpeg_runs), 2)
        self.assertNothingLeft()

    def test_it_kills_a_stuck_ffmpeg_probing(self) -> None:
        with self._stuck_after(0):
            self.assertTimesOut(lambda: load_audio(self.m4a, timeout=1.0), within=5)
        self.assertEqual(len(self.ffmpeg_runs), 1)
        self.assertNothingLeft()

    def test_it_kills_a_stuck_ffmpeg_decoding_a_video(self) -> None:
        with self._stuck_after(1):
            self.assertTimesOut(lambda: load_audio(self.mp4, timeout=1.5), within=6)
        self.assertNothingLeft()
        dst = self.tmp / "out.wav"
        with self._stuck_after(1):
            self.assertTimesOut(lambda: extract_audio_track(self.mp4, dst, timeout=1.0), within=6)
        self.assertFalse(dst.exists())
        self.assertEqual([p.name for p in self.tmp.glob(".out.wav.*")], [])
        self.assertEqual(len(self.ffmpeg_runs), 4)
        self.assertNothingLeft()

    def test_it_decodes_a_video_full_of_decoding_errors_without_stalling(self) -> None:
        # ffmpeg prints an error every few frames; a reader that left that pipe unread
        # (moviepy did) would wait on a full pipe for ever. Only the sound is read here.
        started = time.perf_counter()
        try:
            outcome: object = load_audio(self.noisy, max_duration=600, timeout=30)
        except MLError as err:
            outcome = err
        self.assertLess(time.perf_counter() - started, 15)
        self.assertNotIsInstance(outcome, DecodeTimeoutError)
        if not isinstance(outcome, MLError):  # damaged AAC frames decode as noise or gaps
            self.assertGreater(outcome.duration, 10)  # type: ignore[attr-defined]
        self.assertNothingLeft()

    def test_it_kills_only_the_processes_of_the_thread_that_ran_out_of_time(self) -> None:
        # Web workers decode in threads side by side: one upload's timeout must not kill
        # the ffmpeg of another.
        outcomes: list[object] = []
        stuck = threading.current_thread()

        def executable() -> str:
            return str(self.slow) if threading.current_thread() is stuck else FFMPEG

        def decode_good_videos() -> None:
            ends = time.monotonic() + 3.0
            while time.monotonic() < ends:
                try:
                    outcomes.append(load_audio(self.mp4, max_duration=10, timeout=30).duration)
                except MLError as err:
                    outcomes.append(err)

        neighbour = threading.Thread(target=decode_good_videos)
        with mock.patch("ml.ffmpeg.executable", side_effect=executable):
            neighbour.start()
            try:
                self.assertTimesOut(
                    lambda: load_audio(self.mp4, max_duration=600, timeout=1.0), within=8
                )
            finally:
                neighbour.join()
        self.assertGreater(len(outcomes), 1)
        for outcome in outcomes:
            self.assertIsInstance(outcome, float)
        self.assertNothingLeft()

    def test_it_stops_decoding_with_libsndfile_when_time_is_up(self) -> None:
        path = self.tmp / "three-seconds.wav"
        sf.write(path, _tone(3, 44100), 44100)
        err = self.assertTimesOut(lambda: load_audio(path, timeout=0.0), within=FAST)
        self.assertIn("Decoding took longer than", str(err))

    def test_it_stops_probing_when_time_is_up(self) -> None:
        self.assertTimesOut(lambda: load_audio(self.m4a, timeout=1e-6), within=FAST)
        self.assertNothingLeft(ran_ffmpeg=False)

    def test_it_decodes_the_same_files_in_time(self) -> None:
        for path in (self.m4a, self.mp4):
            with self.subTest(path.name):
                decoded = load_audio(path, max_duration=10, timeout=30)
                self.assertAlmostEqual(decoded.duration, 2.0, delta=0.1)
                self.assertTrue(math.isfinite(decoded.info.duration))
                self.assertNothingLeft()


if __name__ == "__main__":
    unittest.main()
