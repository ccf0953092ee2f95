"""The pretrained speech encoder: Whisper's front end, the checked weights, the embedding."""

from __future__ import annotations

import unittest
from unittest import mock

import numpy as np

from ml import encoder
from ml.errors import ModelLoadError
from ml.tests.helpers import ravdess_path, read_signal, white_noise


class EncoderTests(unittest.TestCase):
    def test_it_makes_80_mel_bands_every_10_ms(self) -> None:
        signal = np.concatenate([white_noise(1.0, seed=3), np.zeros(16000, np.float32)])
        mel = encoder.log_mel(signal)
        self.assertEqual(mel.shape, (80, 200))
        # Whisper's scaling: silence sits on a floor 8 decades (2 units) under the loudest.
        self.assertAlmostEqual(float(mel.max() - mel.min()), 2.0, places=5)
        self.assertAlmostEqual(float(mel[:, -50:].max()), float(mel.min()), places=5)

    def test_it_hears_a_telephone_band_copy_like_the_original_when_band_limited(self) -> None:
        import soxr

        signal = read_signal(ravdess_path())
        phone = soxr.resample(soxr.resample(signal, 16000, 8000), 8000, 16000)
        phone = phone.astype(np.float32)

        def gap(fmax: float | None) -> float:
            a, b = encoder.embedding(signal, fmax), encoder.embedding(phone, fmax)
            return float(np.linalg.norm(a - b) / np.linalg.norm(a))

        self.assertLess(gap(4000.0), 0.05)
        self.assertLess(gap(4000.0), gap(None) / 2)
        # Bands above 4 kHz carry nothing: they sit on the floor.
        mel = encoder.log_mel(signal, fmax=4000.0)
        self.assertAlmostEqual(float(mel[-10:].max()), float(mel.min()), places=5)

    def test_it_embeds_a_take_in_768_values_the_same_every_time(self) -> None:
        signal = read_signal(ravdess_path())
        first = encoder.embedding(signal)
        self.assertEqual(first.shape, (768,))
        self.assertTrue(np.isfinite(first).all())
        np.testing.assert_array_equal(first, encoder.embedding(signal))
        # The s.d. half is non-negative; the two halves differ.
        self.assertTrue((first[384:] >= 0).all())

    def test_it_tells_two_voices_apart_more_than_two_takes_of_one(self) -> None:
        a1 = encoder.embedding(read_signal(ravdess_path(actor=1, statement=1)))
        a2 = encoder.embedding(read_signal(ravdess_path(actor=1, statement=2)))
        noise = encoder.embedding(white_noise(3.0, seed=4, amplitude=0.05))
        self.assertLess(np.linalg.norm(a1 - a2), np.linalg.norm(a1 - noise))

    def test_it_encodes_recordings_longer_than_30_s_window_by_window(self) -> None:
        signal = np.tile(read_signal(ravdess_path()), 10)[: 16000 * 35]
        self.assertEqual(encoder.embedding(signal).shape, (768,))
        self.assertEqual(encoder.encode(signal).shape, (1500, 384))  # capped at 30 s

    def test_it_refuses_weights_that_do_not_match_their_checksum(self) -> None:
        with (
            mock.patch.object(encoder, "WEIGHTS_SHA256", "0" * 64),
            self.assertRaises(ModelLoadError) as caught,
        ):
            encoder._load()
        self.assertIn("SHA-256", str(caught.exception))
