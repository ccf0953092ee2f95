"""The overview the page draws its waveform and spectrogram from: small, bounded, faithful."""

from __future__ import annotations

import base64
import json
import math
import threading
import unittest

import numpy as np

from ml import filters
from ml.audio import load_audio
from ml.labels import Emotion
from ml.overview import (
    PEAK_COLUMNS,
    PEAK_LEVELS,
    SPEC_BANDS,
    SPEC_FRAMES,
    SPEC_FRAMES_PER_COLUMN,
    SPEC_MAX_HZ,
    SPEC_RANGE_DB,
    SPEC_WINDOW_S,
    overview,
)
from ml.tests.helpers import ravdess_path, savee_path

SR = 16_000


def _tone(hz: float, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def _levels(data: dict) -> np.ndarray:
    spec = data["spectrogram"]
    raw = np.frombuffer(base64.b64decode(spec["data"]), dtype=np.uint8)
    return raw.reshape(spec["bands"], spec["frames"])


def _reference_levels(x: np.ndarray, sample_rate: int = SR) -> np.ndarray:
    """The spectrogram's levels as ``ml.overview`` made them before its FFTs were batched
    (commit 920a43d): every frame at once, in float32."""
    fmax = float(min(SPEC_MAX_HZ, sample_rate / 2))
    n_fft = 1 << math.ceil(math.log2(SPEC_WINDOW_S * sample_rate))
    hop = max(1, sample_rate // 100)
    columns = max(1, min(SPEC_FRAMES, math.ceil(len(x) / hop)))
    span = len(x) / columns
    per_column = max(1, min(SPEC_FRAMES_PER_COLUMN, round(span / hop)))
    centres = (np.arange(columns)[:, None] + (np.arange(per_column) + 0.5) / per_column) * span
    if len(x) < n_fft:
        x = np.pad(x, (0, n_fft - len(x)))
    starts = np.clip(centres.reshape(-1).astype(np.int64) - n_fft // 2, 0, len(x) - n_fft)
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[starts]
    spectrum = np.fft.rfft(frames * np.hanning(n_fft).astype(np.float32), axis=1)
    power = (spectrum.real**2 + spectrum.imag**2).reshape(columns, per_column, -1).mean(axis=1)
    mel = filters.mel(sample_rate, n_fft, SPEC_BANDS, 0.0, fmax) @ power.T
    db = 10.0 * np.log10(np.maximum(mel, 1e-12))
    level = np.clip((db - db.max()) / SPEC_RANGE_DB + 1.0, 0.0, 1.0)
    return np.round(level * 255).astype(np.uint8)


class OverviewTests(unittest.TestCase):
    def test_it_gives_the_levels_of_the_unbatched_float32_computation(self) -> None:
        """Real speech, short (one frame per column) and long (four per column, with a
        partial last batch): the same levels as before within float rounding, i.e. a
        level may differ by one step where it fell on a rounding boundary (6 cells in
        659,456 over 37 recordings of the four corpora when this was measured)."""
        takes = [
            load_audio(ravdess_path(Emotion.ANGRY, actor=3)).signal,
            load_audio(savee_path("JK", "sa", 2)).signal,
        ]
        takes.append(np.concatenate([takes[0], takes[1]] * 8))  # 60 s or so
        for signal in takes:
            with self.subTest(seconds=round(len(signal) / SR, 1)):
                data = overview(signal, SR).to_dict()
                levels = _levels(data).astype(int)
                reference = _reference_levels(signal).astype(int)
                self.assertEqual(levels.shape, reference.shape)
                self.assertLessEqual(int(np.abs(levels - reference).max()), 1)
                self.assertLessEqual(np.count_nonzero(levels != reference), levels.size // 1000)

    def test_it_gives_the_same_result_from_several_threads(self) -> None:
        # Each thread keeps its own FFT buffers.
        rng = np.random.default_rng(1)
        signals = [(0.1 * rng.standard_normal(SR * n)).astype(np.float32) for n in (1, 4, 9)]
        expected = [overview(s, SR).to_dict() for s in signals]
        results: list[list[dict]] = [[] for _ in range(4)]

        def run(i: int) -> None:
            for _ in range(5):
                results[i].extend(overview(s, SR).to_dict() for s in signals)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for got in results:
            self.assertEqual(got, expected * 5)

    def test_it_keeps_the_size_bounded_whatever_the_length(self) -> None:
        rng = np.random.default_rng(0)
        for seconds in (0.5, 4.0, 120.0):
            with self.subTest(seconds=seconds):
                signal = (0.1 * rng.standard_normal(int(seconds * SR))).astype(np.float32)
                data = overview(signal, SR).to_dict()
                self.assertAlmostEqual(data["duration"], seconds, places=3)
                self.assertLessEqual(len(data["waveform"]["peaks"]), PEAK_COLUMNS)
                levels = _levels(data)
                self.assertEqual(levels.shape[0], SPEC_BANDS)
                self.assertGreater(levels.shape[1], 0)
                self.assertLessEqual(levels.shape[1], SPEC_FRAMES)
                # JSON all the way: what the worker stores and the page reads.
                self.assertLess(len(json.dumps(data)), 50_000)

    def test_it_gives_min_and_max_pairs_scaled_to_the_loudest_sample(self) -> None:
        signal = np.concatenate([_tone(200, 1.0, 0.8), np.zeros(SR, np.float32)])
        data = overview(signal, SR).to_dict()
        wave = data["waveform"]
        self.assertAlmostEqual(wave["scale"], 0.8, places=3)
        self.assertEqual(wave["levels"], PEAK_LEVELS)
        peaks = np.array(wave["peaks"])
        self.assertEqual(peaks.shape, (PEAK_COLUMNS, 2))
        self.assertTrue(np.all(peaks[:, 0] <= peaks[:, 1]))
        self.assertTrue(np.all(np.abs(peaks) <= PEAK_LEVELS))
        # The tone fills the first half to full scale; the second half is silent.
        self.assertEqual(peaks[: PEAK_COLUMNS // 2, 1].max(), PEAK_LEVELS)
        self.assertEqual(peaks[: PEAK_COLUMNS // 2, 0].min(), -PEAK_LEVELS)
        np.testing.assert_array_equal(peaks[PEAK_COLUMNS // 2 + 1 :], 0)

    def test_it_puts_a_tone_in_the_band_of_its_pitch(self) -> None:
        low = _levels(overview(_tone(300, 2.0), SR).to_dict())
        high = _levels(overview(_tone(3000, 2.0), SR).to_dict())
        # Lowest band first: a higher tone is brightest in a higher band.
        low_band = int(np.argmax(low.mean(axis=1)))
        high_band = int(np.argmax(high.mean(axis=1)))
        self.assertLess(low_band, high_band)
        self.assertEqual(low.max(), 255)
        # Far from the tone, 80 dB down or more: black.
        self.assertEqual(int(np.median(low[-5:])), 0)

    def test_it_shows_silence_and_empty_signals_as_nothing(self) -> None:
        for signal in (np.zeros(SR, np.float32), np.zeros(0, np.float32)):
            with self.subTest(samples=len(signal)):
                data = overview(signal, SR).to_dict()
                self.assertEqual(data["waveform"]["scale"], 0.0)
                self.assertFalse(np.any(np.array(data["waveform"]["peaks"])))
                levels = _levels(data)
                self.assertEqual(levels.shape[0], SPEC_BANDS)
                self.assertFalse(np.any(levels))

    def test_it_takes_a_quiet_recording_at_full_resolution(self) -> None:
        peaks = np.array(overview(_tone(200, 1.0, 0.01), SR).to_dict()["waveform"]["peaks"])
        self.assertEqual(peaks.max(), PEAK_LEVELS)


if __name__ == "__main__":
    unittest.main()
