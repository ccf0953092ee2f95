"""A compact picture of a recording for the browser to draw: waveform peaks and a small
mel spectrogram.

The worker stores :meth:`Overview.to_dict` next to the result; the page draws the
waveform, the spectrogram and the timeline from it. Both parts are a fixed size whatever
the length of the recording (under 50 KB of JSON, most of it the spectrogram's
25,600 levels in base64), and cost a few milliseconds: at most
``SPEC_FRAMES * SPEC_FRAMES_PER_COLUMN`` short FFTs and one pass over the samples.

Pure numpy; no Django, no librosa.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ml import filters

__all__ = ["Overview", "overview"]

PEAK_COLUMNS = 1000  # min/max pairs: more than the pixels of a wide screen
PEAK_LEVELS = 127  # peaks are stored as integers in -127..127 of the loudest sample
SPEC_BANDS = 64
SPEC_FRAMES = 400
SPEC_FRAMES_PER_COLUMN = 4  # a long file's column is the mean power of a few frames
SPEC_MAX_HZ = 8000.0  # speech lives below 8 kHz; the model hears 16 kHz audio
SPEC_RANGE_DB = 80.0  # levels below the loudest cell by more than this are black
SPEC_WINDOW_S = 0.032


@dataclass(frozen=True)
class Overview:
    """What the charts of one recording need besides its segments.

    peaks : np.ndarray [shape=(columns, 2), dtype=int8] min and max of ``columns`` equal
        slices of the signal, in units of ``scale / PEAK_LEVELS`` (columns ≤ PEAK_COLUMNS).
    spectrogram : np.ndarray [shape=(SPEC_BANDS, frames), dtype=uint8] mel level, lowest
        band first: 0 is ``SPEC_RANGE_DB`` or more below the loudest cell, 255 the loudest
        (frames ≤ SPEC_FRAMES).
    """

    duration: float
    scale: float
    peaks: np.ndarray
    spectrogram: np.ndarray
    fmax: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the peaks as a list of ``[min, max]`` pairs, the spectrogram as base64
        of its bytes in row order (band by band, lowest band first)."""
        bands, frames = self.spectrogram.shape
        return {
            "duration": round(self.duration, 3),
            "waveform": {
                "scale": round(self.scale, 6),
                "levels": PEAK_LEVELS,
                "peaks": self.peaks.astype(int).tolist(),
            },
            "spectrogram": {
                "bands": bands,
                "frames": frames,
                "fmax": self.fmax,
                "range_db": SPEC_RANGE_DB,
                "data": base64.b64encode(np.ascontiguousarray(self.spectrogram).tobytes()).decode(
                    "ascii"
                ),
            },
        }


def overview(signal: np.ndarray, sample_rate: int = 16000) -> Overview:
    """The peaks and mel spectrogram of ``signal``.

    signal : np.ndarray [shape=(n,)] mono float at ``sample_rate`` (full scale = 1).
    """
    x = np.asarray(signal, dtype=np.float32).reshape(-1)
    duration = len(x) / sample_rate
    scale, peaks = _peaks(x)
    spectrogram, fmax = _spectrogram(x, sample_rate)
    return Overview(duration=duration, scale=scale, peaks=peaks, spectrogram=spectrogram, fmax=fmax)


def _peaks(x: np.ndarray) -> tuple[float, np.ndarray]:
    if not len(x):
        return 0.0, np.zeros((0, 2), dtype=np.int8)
    starts = np.unique(np.linspace(0, len(x), min(PEAK_COLUMNS, len(x)) + 1).astype(np.int64)[:-1])
    # Non-finite samples (never from the decoder) are cleaned up here, in 1000 values
    # rather than in a copy of the signal.
    lo = np.nan_to_num(np.minimum.reduceat(x, starts), nan=0.0, posinf=1.0, neginf=-1.0)
    hi = np.nan_to_num(np.maximum.reduceat(x, starts), nan=0.0, posinf=1.0, neginf=-1.0)
    scale = float(max(np.max(np.abs(lo)), np.max(np.abs(hi))))
    if scale == 0.0:
        return 0.0, np.zeros((len(starts), 2), dtype=np.int8)
    # Rounded outwards, so that a column with any sound never looks silent.
    quantised = np.stack(
        [np.floor(lo / scale * PEAK_LEVELS), np.ceil(hi / scale * PEAK_LEVELS)], axis=1
    )
    return scale, np.clip(quantised, -PEAK_LEVELS, PEAK_LEVELS).astype(np.int8)


def _spectrogram(x: np.ndarray, sample_rate: int) -> tuple[np.ndarray, float]:
    fmax = float(min(SPEC_MAX_HZ, sample_rate / 2))
    n_fft = 1 << math.ceil(math.log2(SPEC_WINDOW_S * sample_rate))  # 512 at 16 kHz
    hop = max(1, sample_rate // 100)
    columns = max(1, min(SPEC_FRAMES, math.ceil(len(x) / hop)))
    if not len(x):
        return np.zeros((SPEC_BANDS, 0), dtype=np.uint8), fmax
    span = len(x) / columns
    per_column = max(1, min(SPEC_FRAMES_PER_COLUMN, round(span / hop)))
    centres = (np.arange(columns)[:, None] + (np.arange(per_column) + 0.5) / per_column) * span
    if len(x) < n_fft:
        x = np.pad(x, (0, n_fft - len(x)))
    # Frames at the very ends are moved inwards rather than padded: no copy of the signal.
    starts = np.clip(centres.reshape(-1).astype(np.int64) - n_fft // 2, 0, len(x) - n_fft)
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[starts]
    spectrum = np.fft.rfft(frames * np.hanning(n_fft).astype(np.float32), axis=1)
    power = (spectrum.real**2 + spectrum.imag**2).reshape(columns, per_column, -1).mean(axis=1)
    mel = filters.mel(sample_rate, n_fft, SPEC_BANDS, 0.0, fmax) @ power.T
    if not float(np.nanmax(mel)) > 1e-12:  # digital silence: all black, not all "loudest"
        return np.zeros(mel.shape, dtype=np.uint8), fmax
    db = 10.0 * np.log10(np.maximum(mel, 1e-12))
    db = np.nan_to_num(db, nan=-np.inf)
    level = np.nan_to_num(np.clip((db - db.max()) / SPEC_RANGE_DB + 1.0, 0.0, 1.0), nan=0.0)
    return np.round(level * 255).astype(np.uint8), fmax
