"""The numpy filter banks match librosa's, so features are unchanged without numba."""

from __future__ import annotations

import subprocess
import sys
import unittest

import numpy as np

from ml import filters


class FilterBankTests(unittest.TestCase):
    def test_it_builds_the_same_mel_banks_as_librosa(self):
        import librosa

        for sr, n_fft, n_mels, fmin, fmax in [
            (16000, 400, 80, 0.0, 8000.0),  # the encoder's
            (16000, 512, 64, 0.0, 4000.0),
            (16000, 1024, 128, 20.0, 7600.0),
            (22050, 2048, 40, 50.0, 11025.0),
        ]:
            with self.subTest(sr=sr, n_fft=n_fft, n_mels=n_mels):
                ours = filters.mel(sr, n_fft, n_mels, fmin, fmax)
                theirs = librosa.filters.mel(
                    sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=False
                )
                self.assertEqual(ours.shape, (n_mels, n_fft // 2 + 1))
                np.testing.assert_allclose(ours, theirs, atol=1e-6, rtol=1e-5)

    def test_it_builds_the_same_chroma_banks_as_librosa(self):
        import librosa

        for sr, n_fft in [(16000, 512), (16000, 1024), (22050, 2048)]:
            with self.subTest(sr=sr, n_fft=n_fft):
                ours = filters.chroma(sr, n_fft)
                theirs = librosa.filters.chroma(sr=sr, n_fft=n_fft)
                self.assertEqual(ours.shape, (12, n_fft // 2 + 1))
                np.testing.assert_allclose(ours, theirs, atol=1e-6)

    def test_it_converts_between_hz_and_mel_both_ways(self):
        hz = np.array([0.0, 100.0, 999.0, 1000.0, 4000.0, 8000.0])
        np.testing.assert_allclose(filters.mel_to_hz(filters.hz_to_mel(hz)), hz, atol=1e-6)
        self.assertAlmostEqual(float(filters.hz_to_mel(1000.0)), 15.0)

    def test_it_builds_the_same_windows_and_cepstra_as_scipy(self):
        import scipy.fft
        import scipy.signal

        for n in (400, 640, 641):
            for periodic in (True, False):
                np.testing.assert_allclose(
                    filters.hann(n, periodic=periodic),
                    scipy.signal.get_window("hann", n, fftbins=periodic),
                    atol=1e-12,
                )
        x = np.random.default_rng(1).standard_normal((7, 64))
        np.testing.assert_allclose(
            x @ filters.dct_basis(64, 13).T,
            scipy.fft.dct(x, type=2, norm="ortho", axis=1)[:, :13],
            atol=1e-10,
        )

    def test_it_keeps_the_banks_read_only(self):
        bank = filters.mel(16000, 512, 64)
        with self.assertRaises(ValueError):
            bank[0, 0] = 1.0

    def test_it_computes_features_without_librosa_numba_or_scipy_signal(self):
        code = (
            "import sys, numpy as np\n"
            "from ml.features import FeatureConfig, FeatureSet, extract_features\n"
            "from ml.encoder import log_mel\n"
            "x = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1\n"
            "for fs in (FeatureSet.FUNCTIONALS, FeatureSet.LOGMEL):\n"
            "    extract_features(x, FeatureConfig(feature_set=fs, voice_quality=True))\n"
            "log_mel(x)\n"
            "heavy = ('librosa', 'numba', 'scipy.signal')\n"
            "print(sorted(m for m in sys.modules if m.startswith(heavy)))\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
        )
        self.assertEqual(out.stdout.strip(), "[]")
