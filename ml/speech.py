"""Is there speech in this signal at all?

A light, explainable detector, run before the emotion model so that silence, steady
noise, a tone or a hum is answered with "no speech detected" instead of an emotion.
Speech is recognised by three properties that those sounds lack together:

* loudness that rises and falls with syllables (a 3-8 Hz envelope modulation),
* voiced frames (periodic, pitch 70-450 Hz) making up a fair part of the sound,
* a pitch that moves (intonation), unlike a tone or a hum,
* and that glides rather than holding notes, unlike most music.
"""

from __future__ import annotations

import numpy as np

SR = 16000
_FRAME = 640  # 40 ms: two periods of a 50 Hz voice
_HOP = 160  # 10 ms
_MIN_LAG = SR // 450
_MAX_LAG = SR // 70
_STEADY_RUN = 10  # frames (100 ms)


def _frames(signal: np.ndarray) -> np.ndarray:
    return np.lib.stride_tricks.sliding_window_view(signal, _FRAME)[::_HOP]


def _periodicity(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normalised autocorrelation peak and its lag, per frame (via FFT)."""
    x = frames - frames.mean(axis=1, keepdims=True)
    n = 1 << (2 * _FRAME - 1).bit_length()
    spec = np.fft.rfft(x, n=n, axis=1)
    ac = np.fft.irfft(np.abs(spec) ** 2, n=n, axis=1)[:, : _MAX_LAG + 1]
    energy = ac[:, :1] + 1e-12
    # Unbiased: divide by the overlap length so long lags are not penalised.
    overlap = (_FRAME - np.arange(_MAX_LAG + 1)) / _FRAME
    acn = ac / energy / overlap
    window = acn[:, _MIN_LAG:]
    best = window.max(axis=1)
    # The shortest lag nearly as good as the best: avoids octave jumps on steady tones.
    idx = (window >= 0.9 * best[:, None]).argmax(axis=1)
    # Parabolic interpolation around the peak: pitch finer than one sample of lag.
    rows = np.arange(len(window))
    left = window[rows, np.maximum(idx - 1, 0)]
    mid = window[rows, idx]
    right = window[rows, np.minimum(idx + 1, window.shape[1] - 1)]
    denom = left - 2 * mid + right
    shift = np.where(np.abs(denom) > 1e-9, 0.5 * (left - right) / np.where(denom == 0, 1, denom), 0)
    return best, idx + _MIN_LAG + np.clip(shift, -0.5, 0.5)


def _steady_share(f0: np.ndarray, voiced_idx: np.ndarray) -> float:
    """Share of voiced frames inside runs of 100 ms or more whose pitch stays within 1 %.

    Sung or played notes hold their pitch; speech glides all the time.
    """
    if len(f0) < _STEADY_RUN:
        return 0.0
    logf = np.log2(f0)
    steady = np.zeros(len(f0), dtype=bool)
    for i in range(len(f0) - _STEADY_RUN + 1):
        if voiced_idx[i + _STEADY_RUN - 1] - voiced_idx[i] != _STEADY_RUN - 1:
            continue  # not consecutive frames
        seg = logf[i : i + _STEADY_RUN]
        if seg.max() - seg.min() < 0.015:
            steady[i : i + _STEADY_RUN] = True
    return float(steady.mean())


def speech_features(signal: np.ndarray) -> dict[str, float]:
    """Summary figures behind :func:`speech_score` (for tests and tuning).

    signal : np.ndarray [shape=(n,)] mono float32 at sr=16000.
    """
    signal = np.asarray(signal, dtype=np.float32)
    if len(signal) < _FRAME * 4:
        return {
            "peak_db": -120.0,
            "active": 0.0,
            "voiced": 0.0,
            "pitch_var": 0.0,
            "mod": 0.0,
            "steady": 0.0,
        }
    # At most 60 s evenly spread is plenty to decide, and keeps long files cheap.
    frames = _frames(signal)
    if len(frames) > 6000:
        frames = frames[np.linspace(0, len(frames) - 1, 6000).astype(int)]
    rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)
    db = 20 * np.log10(rms + 1e-10)
    peak_db = float(np.percentile(db, 99))
    active = (db > peak_db - 30) & (db > -85)
    if active.sum() < 10:
        return {
            "peak_db": peak_db,
            "active": 0.0,
            "voiced": 0.0,
            "pitch_var": 0.0,
            "mod": 0.0,
            "steady": 0.0,
        }
    strength, lag = _periodicity(frames[active].astype(np.float64))
    voiced = strength > 0.6
    f0 = SR / lag[voiced]
    pitch_var = float(np.std(np.log2(f0))) if voiced.sum() > 5 else 0.0
    steady = _steady_share(f0, np.flatnonzero(voiced))
    # Envelope modulation at syllable rate: spread of loudness over active time.
    mod = float(np.std(db[active]))
    return {
        "peak_db": peak_db,
        "active": float(active.mean()),
        "voiced": float(voiced.mean()),
        "pitch_var": pitch_var,
        "mod": mod,
        "steady": steady,
    }


def speech_score(signal: np.ndarray) -> float:
    """A score in [0, 1]; >= 0.5 means speech is present.

    signal : np.ndarray [shape=(n,)] mono float32 at sr=16000.
    """
    f = speech_features(signal)
    if f["peak_db"] < -80 or f["active"] == 0.0:
        return 0.0  # silence, or too quiet to hear anything
    checks = (
        f["voiced"] >= 0.15,  # noise is not periodic
        f["pitch_var"] >= 0.04,  # a tone or hum keeps one pitch
        f["mod"] >= 1.5,  # steady sounds do not rise and fall with syllables
    )
    if f["steady"] >= 0.6:
        return 0.0  # held notes: music (speech reached at most 0.5 over RAVDESS and SAVEE)
    return sum(checks) / len(checks) if checks[1] and checks[2] else 0.0
