"""The pretrained speech encoder: Whisper's front end, the checked weights, the embedding."""

from __future__ import annotations

import io
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
            encoder._load(encoder.ALL_LAYERS)
        self.assertIn("SHA-256", str(caught.exception))

    def test_it_encodes_exactly_as_the_whole_whisper_model_though_it_loads_no_decoder(
        self,
    ) -> None:
        import ctranslate2

        signal = read_signal(ravdess_path())
        whole = ctranslate2.models.Whisper(
            str(encoder.weights_dir()), device="cpu", compute_type=encoder.COMPUTE_TYPE
        )
        mel = encoder.log_mel(signal, 4000.0)
        mel = mel[:, : mel.shape[1] // 2 * 2]
        features = ctranslate2.StorageView.from_array(np.ascontiguousarray(mel[None]))
        expected = np.asarray(whole.encode(features, to_cpu=True), dtype=np.float32)[0]
        np.testing.assert_array_equal(encoder.encode(signal, 4000.0), expected)
        # What is loaded holds the encoder and a stub of the decoder: a fifth of the file.
        with (encoder.weights_dir() / "model.bin").open("rb") as fh:
            digest, model_bin = encoder.encoder_only(fh, encoder.ALL_LAYERS)
        self.assertEqual(digest, encoder.WEIGHTS_SHA256)
        self.assertLess(len(model_bin), (encoder.weights_dir() / "model.bin").stat().st_size / 3)

    def test_it_runs_only_the_first_blocks_when_asked(self) -> None:
        signal = read_signal(ravdess_path())
        full, two = encoder.encode(signal, 4000.0), encoder.encode(signal, 4000.0, layers=2)
        self.assertEqual(two.shape, full.shape)
        self.assertGreater(float(np.abs(full - two).mean()), 0.1)  # another representation
        np.testing.assert_array_equal(two, encoder.encode(signal, 4000.0, layers=2))
        self.assertEqual(encoder.embedding(signal, 4000.0, layers=2).shape, (768,))

    def test_it_keeps_the_encoder_but_its_later_blocks(self) -> None:
        data = (encoder.weights_dir() / "model.bin").read_bytes()
        names = {n: _variables(encoder.encoder_only(io.BytesIO(data), n)[1]) for n in (1, 2, 4)}
        whole = _variables(data)
        self.assertEqual(
            {v for v in names[4] if v.startswith("encoder/")},
            {v for v in whole if v.startswith("encoder/")},
        )
        self.assertFalse(names[4] - whole)  # the decoder's stub only has what it had
        for n in (1, 2):
            dropped = names[4] - names[n]
            self.assertTrue(dropped)
            self.assertTrue(all(v.split("/")[1] in _later_blocks(n) for v in dropped), dropped)
            self.assertIn("encoder/layer_norm/gamma", names[n])
            self.assertFalse(names[n] - names[4])
        with self.assertRaises(ValueError):
            encoder.encoder_only(io.BytesIO(data), 5)


def _later_blocks(n: int) -> set[str]:
    return {f"layer_{i}" for i in range(n, encoder.ALL_LAYERS)}


def _variables(model_bin: bytes) -> set[str]:
    """Names of the variables in a CTranslate2 model.bin (format version 6)."""
    import struct

    pos = 4
    (length,) = struct.unpack_from("<H", model_bin, pos)
    pos += 2 + length + 4
    (count,) = struct.unpack_from("<I", model_bin, pos)
    pos += 4
    names = set()
    for _ in range(count):
        (length,) = struct.unpack_from("<H", model_bin, pos)
        names.add(model_bin[pos + 2 : pos + 2 + length].rstrip(b"\0").decode())
        pos += 2 + length
        rank = model_bin[pos]
        pos += 1 + 4 * rank + 1
        (size,) = struct.unpack_from("<I", model_bin, pos)
        pos += 4 + size
    return names
