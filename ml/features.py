"""Features: layer 2 of ``load_audio -> extract_features -> predict_signal -> predict_file``.

Two feature sets share one STFT:

* ``FeatureSet.STATS``: utterance statistics (mean and standard deviation of MFCCs and
  their deltas, chroma, log-mel bands, spectral contrast, loudness) for the MLP.
* ``FeatureSet.LOGMEL``: log-mel frames for the CNN.

All parameters live in :class:`FeatureConfig`, which is saved with every model so that
inference computes exactly what training computed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from functools import lru_cache
from typing import Any

import numpy as np
import scipy.fft
import scipy.signal

from ml.audio import SAMPLE_RATE

# Bump when the feature code changes what it computes, so that cached features are redone.
FEATURE_CODE_VERSION = 2


class FeatureSet(StrEnum):
    STATS = "stats"
    LOGMEL = "logmel"


@dataclass(frozen=True)
class FeatureConfig:
    feature_set: FeatureSet = FeatureSet.LOGMEL
    sample_rate: int = SAMPLE_RATE
    n_fft: int = 512
    win_length: int = 400  # 25 ms
    hop_length: int = 160  # 10 ms
    n_mels: int = 64
    fmin: float = 50.0
    fmax: float = 4000.0  # telephone band: the same features from 8 kHz and 48 kHz audio
    n_mfcc: int = 30
    trim_db: float = 40.0  # frames this far below the loudest are trimmed at both ends
    # Per-utterance normalisation of log-mel: "global" subtracts the mean level (removes
    # gain), "bin" subtracts each band's mean (also removes the channel), "none" keeps both.
    norm: str = "global"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["feature_set"] = self.feature_set.value
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown feature options: {sorted(unknown)}")
        data = dict(data)
        data["feature_set"] = FeatureSet(data.get("feature_set", FeatureSet.LOGMEL))
        if data.get("norm", "global") not in ("none", "global", "bin"):
            raise ValueError(f"unknown norm {data['norm']!r}")
        return cls(**data)


@lru_cache(maxsize=8)
def _mel_basis(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    import librosa

    return librosa.filters.mel(
        sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=False
    ).astype(np.float32)


@lru_cache(maxsize=8)
def _chroma_basis(sr: int, n_fft: int) -> np.ndarray:
    import librosa

    return librosa.filters.chroma(sr=sr, n_fft=n_fft).astype(np.float32)


@lru_cache(maxsize=8)
def _window(n_fft: int, win_length: int) -> np.ndarray:
    win = scipy.signal.get_window("hann", win_length, fftbins=True).astype(np.float32)
    pad = (n_fft - win_length) // 2
    return np.pad(win, (pad, n_fft - win_length - pad))


def power_spectrogram(signal: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """signal : [shape=(n,)] float32 at config.sample_rate -> [shape=(frames, n_fft//2+1)]."""
    n_fft, hop = config.n_fft, config.hop_length
    x = np.pad(np.asarray(signal, np.float32), (n_fft // 2, n_fft // 2), mode="reflect")
    if len(x) < n_fft:
        x = np.pad(x, (0, n_fft - len(x)))
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop]
    spec = scipy.fft.rfft(frames * _window(n_fft, config.win_length), axis=1, workers=1)
    return (spec.real**2 + spec.imag**2).astype(np.float32)


def trim_silence(power: np.ndarray, trim_db: float) -> np.ndarray:
    """Drop leading and trailing frames more than ``trim_db`` below the loudest frame."""
    energy = power.sum(axis=1)
    db = 10 * np.log10(energy + 1e-10)
    keep = np.flatnonzero(db > db.max() - trim_db)
    if len(keep) == 0:
        return power
    return power[keep[0] : keep[-1] + 1]


def log_mel(power: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """power : [shape=(frames, bins)] -> log-mel in dB [shape=(frames, n_mels)]."""
    basis = _mel_basis(config.sample_rate, config.n_fft, config.n_mels, config.fmin, config.fmax)
    mel = power @ basis.T
    # Floor relative to the loudest cell (80 dB below it), not at an absolute level, so
    # that a quieter copy of a recording gives the same features after normalisation.
    floor = max(float(mel.max()), 1e-20) * 1e-8
    return (10 * np.log10(np.maximum(mel, floor))).astype(np.float32)


def _stats(x: np.ndarray) -> np.ndarray:
    return np.concatenate([x.mean(axis=0), x.std(axis=0)])


def _deltas(x: np.ndarray) -> np.ndarray:
    if len(x) < 3:
        return np.zeros_like(x)
    return np.gradient(x, axis=0)


def _spectral_contrast(power: np.ndarray, sr: int, n_fft: int) -> np.ndarray:
    """Peak-to-valley ratio (dB) in six octave bands below 4 kHz, per frame."""
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    edges = [125, 250, 500, 1000, 2000, 3000, 4000]
    eps = max(float(power.max()), 1e-20) * 1e-10  # relative, so gain does not matter
    out = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        band = power[:, (freqs >= lo) & (freqs < hi)]
        s = np.sort(band, axis=1)
        k = max(1, band.shape[1] // 5)
        peak = s[:, -k:].mean(axis=1)
        valley = s[:, :k].mean(axis=1)
        out.append(10 * np.log10((peak + eps) / (valley + eps)))
    return np.stack(out, axis=1)


def stats_features(power: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Utterance statistics [shape=(stats_dim(config),)] float32."""
    lm_n = _normalise(log_mel(power, config), config.norm)
    mfcc = scipy.fft.dct(lm_n, type=2, norm="ortho", axis=1)[:, : config.n_mfcc]
    chroma = power @ _chroma_basis(config.sample_rate, config.n_fft).T
    chroma = chroma / (chroma.max(axis=1, keepdims=True) + 1e-10)
    contrast = _spectral_contrast(power, config.sample_rate, config.n_fft)
    energy = power.sum(axis=1, keepdims=True)
    loud = 10 * np.log10(energy + max(float(energy.max()), 1e-20) * 1e-8)
    loud = loud - loud.max()
    parts = [
        _stats(mfcc),
        _stats(_deltas(mfcc)),
        _stats(_deltas(_deltas(mfcc))),
        _stats(chroma),
        _stats(lm_n),
        _stats(contrast),
        _stats(loud),
        _stats(_deltas(loud)),
    ]
    return np.concatenate(parts).astype(np.float32)


def stats_dim(config: FeatureConfig) -> int:
    return 2 * (3 * config.n_mfcc + 12 + config.n_mels + 6 + 1 + 1)


def extract_features(signal: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Features of one utterance.

    signal : np.ndarray [shape=(n,)] mono float32 at sr=config.sample_rate.
    Returns [shape=(stats_dim,)] for STATS, [shape=(frames, n_mels)] for LOGMEL.
    """
    power = power_spectrogram(signal, config)
    if config.trim_db:
        power = trim_silence(power, config.trim_db)
    if config.feature_set is FeatureSet.STATS:
        return stats_features(power, config)
    return _normalise(log_mel(power, config), config.norm)


def _normalise(lm: np.ndarray, norm: str) -> np.ndarray:
    if norm == "global":
        return lm - lm.mean()
    if norm == "bin":
        return lm - lm.mean(axis=0, keepdims=True)
    return lm
