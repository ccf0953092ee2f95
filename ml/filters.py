"""Mel and chroma filter banks in plain numpy.

The features and the encoder need a few fixed matrices that map a power spectrum onto
mel bands or pitch classes. librosa builds them too, but importing ``librosa.filters``
loads numba and llvmlite (about 50 MB in every serving process) for two matrices that
are computed once. These give the same matrices (``ml/tests/test_filters.py`` compares
them with librosa's to 1e-6), from the published definitions:

- mel: triangles between neighbouring points equally spaced on Slaney's mel scale
  (linear below 1 kHz, logarithmic above), each scaled to unit area ("slaney" norm);
- chroma: Ellis's chromagram weights, a Gaussian bump around each pitch class in
  log-frequency, columns scaled to unit length, then weighted by a broad Gaussian over
  octaves centred on octave 5, rows starting at C;
- the Hann window and the orthonormal DCT-II basis, which would otherwise bring
  ``scipy.signal`` (0.8 s of import, against 0.2 s for ``scipy.fft``, whose FFTs the
  features keep: 7 times faster than numpy's) into every serving process.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

# Slaney's mel scale: 3 mels per 200 Hz up to 1 kHz, then 27 mels per factor 6.4.
_LINEAR_HZ_PER_MEL = 200.0 / 3
_BREAK_HZ = 1000.0
_BREAK_MEL = _BREAK_HZ / _LINEAR_HZ_PER_MEL
_LOG_STEP = np.log(6.4) / 27.0


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """Slaney mel of frequencies in Hz."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / _LINEAR_HZ_PER_MEL
    above = _BREAK_MEL + np.log(np.maximum(hz, _BREAK_HZ) / _BREAK_HZ) / _LOG_STEP
    return np.where(hz >= _BREAK_HZ, above, linear)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    """Frequencies in Hz of Slaney mels (the inverse of :func:`hz_to_mel`)."""
    mel = np.asarray(mel, dtype=np.float64)
    linear = mel * _LINEAR_HZ_PER_MEL
    above = _BREAK_HZ * np.exp(_LOG_STEP * (np.maximum(mel, _BREAK_MEL) - _BREAK_MEL))
    return np.where(mel >= _BREAK_MEL, above, linear)


@lru_cache(maxsize=8)
def mel(sr: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None):
    """Mel filter bank [shape=(n_mels, n_fft // 2 + 1)] float32, for power spectra at ``sr``."""
    fmax = sr / 2 if fmax is None else fmax
    bins = np.linspace(0.0, sr / 2, n_fft // 2 + 1)
    points = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    lower, centre, upper = points[:-2, None], points[1:-1, None], points[2:, None]
    rising = (bins[None, :] - lower) / (centre - lower)
    falling = (upper - bins[None, :]) / (upper - centre)
    triangles = np.maximum(0.0, np.minimum(rising, falling))
    triangles *= 2.0 / (upper - lower)  # unit area
    out = triangles.astype(np.float32)
    out.flags.writeable = False  # shared by every caller through the cache
    return out


@lru_cache(maxsize=8)
def chroma(sr: int, n_fft: int, n_chroma: int = 12, centre_octave: float = 5.0, octave_width=2.0):
    """Chroma filter bank [shape=(n_chroma, n_fft // 2 + 1)] float32; row 0 is C."""
    # Position of every FFT bin in pitch-class steps above 27.5 Hz (A0), n_chroma steps
    # per octave; DC, which has no pitch, is placed 1.5 octaves below the first bin.
    freqs = np.arange(1, n_fft) * (sr / n_fft)
    position = n_chroma * np.log2(freqs / (440.0 / 16))
    position = np.concatenate(([position[0] - 1.5 * n_chroma], position))
    width = np.concatenate((np.maximum(np.diff(position), 1.0), [1.0]))
    # Distance of each bin from each pitch class, wrapped into [-n_chroma/2, n_chroma/2).
    half = round(n_chroma / 2)
    distance = position[None, :] - np.arange(n_chroma, dtype=np.float64)[:, None]
    distance = np.remainder(distance + half + 10 * n_chroma, n_chroma) - half
    weights = np.exp(-0.5 * (2 * distance / width[None, :]) ** 2)
    weights /= np.linalg.norm(weights, axis=0, keepdims=True)
    octave = position / n_chroma
    weights *= np.exp(-0.5 * ((octave - centre_octave) / octave_width) ** 2)[None, :]
    weights = np.roll(weights, -3 * (n_chroma // 12), axis=0)  # A-based rows -> C first
    out = np.ascontiguousarray(weights[:, : n_fft // 2 + 1]).astype(np.float32)
    out.flags.writeable = False
    return out


@lru_cache(maxsize=16)
def hann(n: int, *, periodic: bool = True) -> np.ndarray:
    """The Hann window of ``n`` samples, float64: periodic (for spectra framed by an FFT
    of that length) or symmetric (zero at both ends)."""
    span = n if periodic else n - 1
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / max(span, 1))
    window.setflags(write=False)
    return window


@lru_cache(maxsize=8)
def dct_basis(n: int, k: int | None = None) -> np.ndarray:
    """The orthonormal DCT-II as a matrix [shape=(k, n)] (``x @ basis.T`` transforms the
    last axis and keeps the first ``k`` coefficients): the cepstra of a log spectrum."""
    k = n if k is None else k
    basis = np.cos(np.pi * np.arange(k)[:, None] * (2 * np.arange(n) + 1) / (2 * n))
    basis *= np.sqrt(2.0 / n)
    basis[0] /= np.sqrt(2.0)
    basis.setflags(write=False)
    return basis
