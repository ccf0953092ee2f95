"""Features standardised over each voice's own takes (``ml.voices``)."""

from __future__ import annotations

import unittest

import numpy as np

from ml.voices import standardise_by_voice


def _takes(rng, n: int, offset: float, scale: float) -> list[np.ndarray]:
    """n takes of one voice, each as recorded and one louder copy [shape=(2, 3)]."""
    out = []
    for _ in range(n):
        clean = offset + scale * rng.normal(size=3)
        out.append(np.stack([clean, clean + 1.0]))
    return out


class VoiceStandardisationTests(unittest.TestCase):
    def setUp(self) -> None:
        rng = np.random.default_rng(0)
        self.feats = _takes(rng, 40, 10.0, 2.0) + _takes(rng, 30, -5.0, 0.5)
        self.voices = ["a:1"] * 40 + ["b:1"] * 30

    def test_it_centres_each_voice_on_its_own_takes(self) -> None:
        out = standardise_by_voice(self.feats, self.voices)
        for voice, rows in (("a:1", slice(0, 40)), ("b:1", slice(40, 70))):
            clean = np.stack([f[0] for f in out[rows]])
            np.testing.assert_allclose(clean.mean(axis=0), 0.0, atol=1e-5, err_msg=voice)
            np.testing.assert_allclose(clean.std(axis=0), 1.0, atol=1e-4, err_msg=voice)

    def test_it_keeps_a_copys_difference_from_its_take_in_the_voices_units(self) -> None:
        out = standardise_by_voice(self.feats, self.voices)
        a = np.stack([f[0] for f in self.feats[:40]]).std(axis=0)
        np.testing.assert_allclose(out[0][1] - out[0][0], 1.0 / a, rtol=1e-4)

    def test_it_refuses_takes_without_a_voice(self) -> None:
        with self.assertRaises(ValueError):
            standardise_by_voice(self.feats, self.voices[:-1])
