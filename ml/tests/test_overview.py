"""The overview the page draws its waveform and spectrogram from: small, bounded, faithful."""

from __future__ import annotations

import base64
import json
import unittest

import numpy as np

from ml.overview import PEAK_COLUMNS, PEAK_LEVELS, SPEC_BANDS, SPEC_FRAMES, overview

SR = 16_000


def _tone(hz: float, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def _levels(data: dict) -> np.ndarray:
    spec = data["spectrogram"]
    raw = np.frombuffer(base64.b64decode(spec["data"]), dtype=np.uint8)
    return raw.reshape(spec["bands"], spec["frames"])


class OverviewTests(unittest.TestCase):
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
