"""Features: shapes follow FeatureConfig, values are finite, gain is normalised away."""

from __future__ import annotations

import dataclasses
import json
import unittest

import numpy as np

from ml.audio import load_audio
from ml.features import (
    VOICED_R,
    FeatureConfig,
    FeatureSet,
    extract_features,
    formants,
    pitch_from_spectra,
    pitch_track,
    short_spectra,
    stats_dim,
    voice_descriptors,
)
from ml.labels import Emotion
from ml.tests.helpers import (
    TempDirMixin,
    silence,
    speech,
    tone,
    white_noise,
    write_speech,
)

HOP = FeatureConfig().hop_length


def _loud_take() -> np.ndarray:
    """A take recorded near full scale, so that 0.1x stays well above the -100 dB floor."""
    return speech(Emotion.ANGRY, actor=2, intensity=2, statement=2)


class ShapeTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.signal = speech()

    def test_it_gives_one_logmel_frame_per_hop_without_trimming(self) -> None:
        for n_mels, hop in ((64, 160), (40, 160), (64, 320)):
            with self.subTest(n_mels=n_mels, hop=hop):
                config = FeatureConfig(n_mels=n_mels, hop_length=hop, trim_db=0)
                feats = extract_features(self.signal, config)
                self.assertEqual(feats.shape, (len(self.signal) // hop + 1, n_mels))
                self.assertEqual(feats.dtype, np.float32)

    def test_it_trims_silent_ends_from_logmel_frames(self) -> None:
        untrimmed = extract_features(self.signal, FeatureConfig(trim_db=0))
        trimmed = extract_features(self.signal, FeatureConfig())
        # RAVDESS takes start and end with about a second of room tone.
        self.assertLess(len(trimmed), len(untrimmed) - 50)
        self.assertGreater(len(trimmed), 100)  # the sentence itself is kept
        padded = np.concatenate([silence(1.0), self.signal, silence(1.0)])
        self.assertEqual(extract_features(padded, FeatureConfig()).shape, trimmed.shape)

    def test_it_gives_stats_of_stats_dim(self) -> None:
        configs = [
            FeatureConfig(feature_set=FeatureSet.STATS),
            FeatureConfig(feature_set=FeatureSet.STATS, n_mfcc=20, n_mels=40),
            FeatureConfig(feature_set=FeatureSet.STATS, norm="bin", fmax=8000.0),
        ]
        for config in configs:
            with self.subTest(n_mfcc=config.n_mfcc, n_mels=config.n_mels):
                feats = extract_features(self.signal, config)
                self.assertEqual(feats.shape, (stats_dim(config),))
                self.assertEqual(feats.dtype, np.float32)
        self.assertEqual(stats_dim(configs[0]), 2 * (3 * 30 + 12 + 64 + 6 + 1 + 1))

    def test_it_is_finite_for_any_input(self) -> None:
        square = np.sign(tone(1.0, 200.0)).astype(np.float32)  # clipped at full scale
        inputs = {
            "speech": self.signal,
            "digital silence": silence(1.0),
            "white noise": white_noise(1.0, seed=5),
            "0.1 s tone": tone(0.1),
            "100 zeros": np.zeros(100, np.float32),
            "full-scale square": square,
        }
        for feature_set in FeatureSet:
            for name, signal in inputs.items():
                with self.subTest(feature_set=feature_set.value, input=name):
                    feats = extract_features(signal, FeatureConfig(feature_set=feature_set))
                    self.assertGreater(feats.size, 0)
                    self.assertTrue(np.all(np.isfinite(feats)))

    def test_it_is_deterministic(self) -> None:
        for feature_set in FeatureSet:
            config = FeatureConfig(feature_set=feature_set)
            first = extract_features(self.signal, config)
            np.testing.assert_array_equal(first, extract_features(self.signal.copy(), config))


class NormalisationTests(unittest.TestCase):
    def test_it_removes_gain_with_global_norm(self) -> None:
        signal = _loud_take()
        # Spectral contrast divides by valleys plus an absolute epsilon: a little looser.
        for feature_set, atol in (
            (FeatureSet.LOGMEL, 0.01),
            (FeatureSet.STATS, 0.05),
            (FeatureSet.FUNCTIONALS, 0.05),
        ):
            with self.subTest(feature_set=feature_set.value):
                config = FeatureConfig(feature_set=feature_set, norm="global")
                np.testing.assert_allclose(
                    extract_features(0.1 * signal, config),
                    extract_features(signal, config),
                    atol=atol,
                )

    def test_it_keeps_the_level_without_norm(self) -> None:
        # The control for the test above: the features do see a 20 dB gain change.
        signal = _loud_take()
        config = FeatureConfig(norm="none")
        shift = extract_features(signal, config) - extract_features(0.1 * signal, config)
        self.assertAlmostEqual(float(np.median(shift)), 20.0, delta=0.01)

    def test_it_removes_each_bands_mean_with_bin_norm(self) -> None:
        feats = extract_features(speech(), FeatureConfig(norm="bin"))
        np.testing.assert_allclose(feats.mean(axis=0), 0.0, atol=1e-3)
        global_ = extract_features(speech(), FeatureConfig(norm="global"))
        self.assertAlmostEqual(float(global_.mean()), 0.0, delta=1e-3)
        self.assertGreater(float(np.abs(global_.mean(axis=0)).max()), 1.0)

    def test_it_removes_gain_from_quiet_recordings(self) -> None:
        # A take at about -43 dBFS has pauses whose high bands sit near -85 dB: with an
        # absolute floor they would not move with the gain. The floor is relative.
        signal = speech(Emotion.SAD, actor=7, repetition=2)
        config = FeatureConfig(norm="global")
        np.testing.assert_allclose(
            extract_features(0.1 * signal, config), extract_features(signal, config), atol=0.01
        )


def _voice(f0: float, seconds: float = 1.0, sr: int = 16000) -> np.ndarray:
    """A buzz with ten harmonics falling 6 dB per octave, like a sustained vowel."""
    t = np.arange(int(seconds * sr)) / sr
    wave = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 11))
    return (0.2 * wave).astype(np.float32)


class PitchTests(unittest.TestCase):
    config = FeatureConfig(feature_set=FeatureSet.FUNCTIONALS)

    def test_it_finds_the_fundamental_of_low_and_high_voices(self) -> None:
        for f0 in (85.0, 120.0, 220.0, 380.0):
            with self.subTest(f0=f0):
                track, strength = pitch_track(_voice(f0), self.config)
                inner = slice(5, -5)  # the edges hold half a frame of padding
                self.assertAlmostEqual(float(np.median(track[inner])), f0, delta=0.02 * f0)
                self.assertGreater(float(np.median(strength[inner])), 0.9)

    def test_it_calls_noise_unvoiced(self) -> None:
        _, strength = pitch_track(white_noise(1.0, seed=3), self.config)
        self.assertLess(float(np.mean(strength > 0.45)), 0.05)

    def test_it_gives_one_value_per_frame(self) -> None:
        signal = speech()
        track, strength = pitch_track(signal, self.config)
        frames = len(signal) // self.config.hop_length + 1
        self.assertEqual(track.shape, (frames,))
        self.assertEqual(strength.shape, (frames,))

    def test_it_tells_a_rising_voice_from_a_falling_one(self) -> None:
        sr = 16000
        rising = np.sin(2 * np.pi * np.cumsum(np.linspace(120, 240, sr)) / sr).astype(np.float32)
        track, strength = pitch_track(0.3 * rising, self.config)
        voiced = track[strength > 0.45]
        self.assertGreater(len(voiced), 50)
        self.assertLess(float(np.median(voiced[:20])), 150)
        self.assertGreater(float(np.median(voiced[-20:])), 210)


def _vowel(f0: float, resonances: tuple[tuple[float, float], ...], sr: int = 16000):
    """A pulse train at ``f0`` through two-pole resonators (frequency, bandwidth in Hz)."""
    import scipy.signal

    x = np.zeros(sr, np.float64)
    x[:: int(round(sr / f0))] = 1.0
    for freq, bw in resonances:
        r = np.exp(-np.pi * bw / sr)
        x = scipy.signal.lfilter([1.0], [1.0, -2 * r * np.cos(2 * np.pi * freq / sr), r * r], x)
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


class VoiceQualityTests(unittest.TestCase):
    config = FeatureConfig(feature_set=FeatureSet.FUNCTIONALS, voice_quality=True)

    def _descriptors(self, signal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = short_spectra(signal, self.config)
        f0, _ = pitch_from_spectra(p, self.config)
        return voice_descriptors(p, f0, self.config)[5:-5], formants(p, self.config)[5:-5]

    def test_it_finds_the_formants_of_a_vowel(self) -> None:
        for f0, vowel in ((110.0, (730, 1090, 2440)), (210.0, (660, 1700, 2600))):
            with self.subTest(f0=f0, vowel=vowel):
                signal = _vowel(f0, tuple((f, 60 + f / 20) for f in vowel))
                _, fm = self._descriptors(signal)
                found = np.nanmedian(fm[:, :3], axis=0)
                np.testing.assert_allclose(found, vowel, rtol=0.08)
                # Bandwidths of the right order (here 90-190 Hz; harmonics blur them).
                bandwidths = np.nanmedian(fm[:, 3:], axis=0)
                self.assertTrue(np.all((bandwidths > 30) & (bandwidths < 600)), bandwidths)

    def test_it_measures_the_first_harmonics_against_each_other(self) -> None:
        # _voice's harmonics fall as 1/k: H1-H2 is 6 dB, H1-H4 12 dB.
        vq, _ = self._descriptors(_voice(150.0))
        h1h2, h1h4 = np.median(vq[:, 0]), np.median(vq[:, 1])
        self.assertAlmostEqual(float(h1h2), 20 * np.log10(2), delta=1.5)
        self.assertAlmostEqual(float(h1h4), 20 * np.log10(4), delta=1.5)
        # A pressed voice (strong second harmonic) turns the sign.
        t = np.arange(16000) / 16000
        pressed = (0.1 * np.sin(2 * np.pi * 150 * t) + 0.3 * np.sin(2 * np.pi * 300 * t)).astype(
            np.float32
        )
        vq, _ = self._descriptors(pressed)
        self.assertLess(float(np.median(vq[:, 0])), -6)

    def test_it_appends_voice_quality_to_the_functionals(self) -> None:
        signal = _loud_take()
        plain = extract_features(signal, FeatureConfig(feature_set=FeatureSet.FUNCTIONALS))
        x = extract_features(signal, self.config)
        self.assertGreater(len(x), len(plain) + 500)
        np.testing.assert_array_equal(x[: len(plain)], plain)
        self.assertTrue(np.all(np.isfinite(x)))
        # Every descriptor is a ratio or a frequency: a quieter copy gives the same values.
        np.testing.assert_allclose(extract_features(0.1 * signal, self.config), x, atol=0.02)
        self.assertEqual(len(extract_features(silence(1.0), self.config)), len(x))


class PitchChannelTests(unittest.TestCase):
    config = FeatureConfig(pitch_channels=True)

    def test_it_appends_pitch_and_voicing_to_each_log_mel_frame(self) -> None:
        signal = np.concatenate([np.zeros(8000, np.float32), _voice(220.0)])
        plain = extract_features(signal, FeatureConfig())
        x = extract_features(signal, self.config)
        self.assertEqual(x.shape, (len(plain), self.config.frame_dim))
        np.testing.assert_array_equal(x[:, : plain.shape[1]], plain)
        absolute, relative, voicing = x[5:-5, -3:].T
        # 220 Hz is 6.6 semitones above 150 Hz, carried at two units a semitone.
        self.assertAlmostEqual(float(np.median(absolute)), 2 * 12 * np.log2(220 / 150), delta=0.5)
        self.assertLess(float(np.abs(np.median(relative))), 0.5)
        self.assertGreater(float(np.median(voicing)), 18)

    def test_it_marks_unvoiced_frames_with_zero_pitch(self) -> None:
        x = extract_features(white_noise(1.0, seed=5), self.config)
        unvoiced = x[:, -1] < 20 * VOICED_R
        self.assertGreater(float(unvoiced.mean()), 0.9)
        self.assertTrue(np.all(x[unvoiced, -3:-1] == 0))


class SampleRateTests(TempDirMixin, unittest.TestCase):
    def test_it_gives_nearly_the_same_features_from_8k_and_48k_audio(self) -> None:
        # fmax=4000 keeps to the telephone band, which an 8 kHz recording still holds.
        original = speech()
        for rate in (8000, 48000):
            decoded = load_audio(write_speech(self.tmp / f"speech-{rate}.wav", sample_rate=rate))
            for feature_set in FeatureSet:
                with self.subTest(sample_rate=rate, feature_set=feature_set.value):
                    config = FeatureConfig(feature_set=feature_set)
                    a = extract_features(original, config)
                    b = extract_features(decoded.signal, config)
                    self.assertEqual(a.shape, b.shape)
                    self.assertGreater(np.corrcoef(a.ravel(), b.ravel())[0, 1], 0.98)


class FeatureConfigTests(unittest.TestCase):
    def test_it_round_trips_through_a_dict_and_json(self) -> None:
        configs = [
            FeatureConfig(),
            FeatureConfig(feature_set=FeatureSet.STATS, n_mels=40, n_mfcc=20, norm="bin"),
            FeatureConfig(fmax=8000.0, trim_db=0.0, norm="none", hop_length=320),
        ]
        for config in configs:
            with self.subTest(config=config):
                data = json.loads(json.dumps(config.to_dict()))
                self.assertEqual(data["feature_set"], config.feature_set.value)
                self.assertEqual(FeatureConfig.from_dict(data), config)
                self.assertIs(FeatureConfig.from_dict(data).feature_set, config.feature_set)

    def test_it_fills_missing_keys_with_defaults(self) -> None:
        self.assertEqual(FeatureConfig.from_dict({}), FeatureConfig())
        self.assertEqual(FeatureConfig.from_dict({"n_mels": 40}), FeatureConfig(n_mels=40))

    def test_it_rejects_unknown_keys(self) -> None:
        data = FeatureConfig().to_dict() | {"n_melz": 40, "pre_emphasis": 0.97}
        with self.assertRaises(ValueError) as caught:
            FeatureConfig.from_dict(data)
        self.assertIn("'n_melz'", str(caught.exception))
        self.assertIn("'pre_emphasis'", str(caught.exception))

    def test_it_rejects_unknown_values(self) -> None:
        for bad in ({"norm": "utterance"}, {"feature_set": "mfcc"}):
            with self.subTest(data=bad), self.assertRaises(ValueError):
                FeatureConfig.from_dict(bad)

    def test_it_is_immutable(self) -> None:
        with self.assertRaises(dataclasses.FrozenInstanceError):
            FeatureConfig().n_mels = 40  # type: ignore[misc]


if __name__ == "__main__":
    unittest.main()


class EncoderLayersOptionTests(unittest.TestCase):
    def test_it_records_the_encoder_blocks_only_when_not_all_four(self) -> None:
        from ml.features import FeatureConfig, FeatureSet

        whole = FeatureConfig(feature_set=FeatureSet.ENCODER)
        self.assertNotIn("encoder_layers", whole.to_dict())  # as older models wrote it
        two = FeatureConfig(feature_set=FeatureSet.ENCODER, encoder_layers=2)
        self.assertEqual(FeatureConfig.from_dict(two.to_dict()), two)
        self.assertEqual(FeatureConfig.from_dict(whole.to_dict()).encoder_layers, 4)
        with self.assertRaises(ValueError):
            FeatureConfig.from_dict({**two.to_dict(), "encoder_layers": 5})
