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
import scipy.fft  # 7 times faster than numpy.fft here; scipy.signal is not imported

from ml import filters
from ml.audio import SAMPLE_RATE

# Bump when the feature code changes what it computes, so that cached features are redone.
FEATURE_CODE_VERSION = 6


class FeatureSet(StrEnum):
    STATS = "stats"
    LOGMEL = "logmel"
    FUNCTIONALS = "functionals"
    # Whisper tiny.en's encoder, mean and s.d. over time (ml/encoder.py): 768 values.
    ENCODER = "encoder"


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
    # LOGMEL only: three more channels per frame from the pitch track (absolute and
    # utterance-relative pitch of voiced frames, voicing strength), on the dB scale.
    pitch_channels: bool = False
    # FUNCTIONALS only: also voice quality (harmonic amplitudes, spectral balance) and
    # formants, see voice_functionals.
    voice_quality: bool = False
    # ENCODER only: how many of the encoder's blocks run (ml.encoder.ALL_LAYERS = 4 is the
    # whole encoder, which models saved before this option was added used).
    encoder_layers: int = 4

    @property
    def frame_dim(self) -> int:
        """Values per frame of a LOGMEL feature matrix."""
        return self.n_mels + (len(PITCH_CHANNELS) if self.pitch_channels else 0)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["feature_set"] = self.feature_set.value
        if self.encoder_layers == 4:  # as written before the option existed: same cache keys
            del d["encoder_layers"]
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
        if data.get("encoder_layers", 4) not in (1, 2, 3, 4):
            raise ValueError(f"the encoder has 4 blocks, not {data['encoder_layers']!r}")
        return cls(**data)


@lru_cache(maxsize=8)
def _window(n_fft: int, win_length: int) -> np.ndarray:
    win = filters.hann(win_length).astype(np.float32)
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


def trim_silence(power: np.ndarray, trim_db: float) -> slice:
    """The frames left when leading and trailing frames more than ``trim_db`` below the
    loudest frame are dropped."""
    energy = power.sum(axis=1)
    db = 10 * np.log10(energy + 1e-10)
    keep = np.flatnonzero(db > db.max() - trim_db)
    if len(keep) == 0:
        return slice(None)
    return slice(int(keep[0]), int(keep[-1]) + 1)


def log_mel(power: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """power : [shape=(frames, bins)] -> log-mel in dB [shape=(frames, n_mels)]."""
    basis = filters.mel(config.sample_rate, config.n_fft, config.n_mels, config.fmin, config.fmax)
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
    mfcc = lm_n @ filters.dct_basis(lm_n.shape[1], config.n_mfcc).T.astype(lm_n.dtype)
    chroma = power @ filters.chroma(config.sample_rate, config.n_fft).T
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
    Returns [shape=(stats_dim,)] for STATS, [shape=(frames, config.frame_dim)] for LOGMEL,
    a vector of functionals for FUNCTIONALS, [shape=(768,)] for ENCODER.
    """
    power = power_spectrogram(signal, config)
    keep = trim_silence(power, config.trim_db) if config.trim_db else slice(None)
    if config.feature_set is FeatureSet.ENCODER:
        from ml.encoder import embedding

        hop = config.hop_length
        start, stop, _ = keep.indices(len(power))
        return embedding(
            signal[start * hop : stop * hop + config.win_length],
            config.fmax,
            config.encoder_layers,
        )
    if config.feature_set is FeatureSet.FUNCTIONALS:
        spectra = short_spectra(signal, config, keep)
        f0, strength = pitch_from_spectra(spectra, config)
        return functionals_features(power[keep], f0, strength, config, spectra)
    power = power[keep]
    if config.feature_set is FeatureSet.STATS:
        return stats_features(power, config)
    lm = _normalise(log_mel(power, config), config.norm)
    if config.pitch_channels:
        f0, strength = pitch_track(signal, config, keep)
        lm = np.concatenate([lm, pitch_frames(f0, strength)], axis=1)
    return lm


PITCH_CHANNELS = ("pitch", "relative pitch", "voicing")


def pitch_frames(f0: np.ndarray, strength: np.ndarray) -> np.ndarray:
    """Per-frame pitch channels for the CNN, scaled like log-mel dB (tens of units).

    Voiced frames carry their pitch in semitones, relative to 150 Hz and to the
    utterance's median; unvoiced frames carry 0 in both.
    """
    voiced = strength > VOICED_R
    semitones = 12 * np.log2(np.maximum(f0, 1.0) / 150.0)
    median = np.median(semitones[voiced]) if voiced.any() else 0.0
    absolute = np.where(voiced, semitones * 2, 0.0)
    relative = np.where(voiced, (semitones - median) * 2, 0.0)
    return np.stack([absolute, relative, strength * 20], axis=1).astype(np.float32)


def _normalise(lm: np.ndarray, norm: str) -> np.ndarray:
    if norm == "global":
        return lm - lm.mean()
    if norm == "bin":
        return lm - lm.mean(axis=0, keepdims=True)
    return lm


# --- functionals: many descriptors per frame, many statistics per descriptor -----------
#
# The idea of the ComParE feature set (Schuller et al., 2016), computed here from the one
# STFT in numpy: openSMILE itself took 60 ms for a 4 s clip, twice the product's budget.

N_BANDS = 26  # auditory bands for the functionals (as ComParE's auditory spectrum)
N_CEPS = 20
F0_MIN, F0_MAX = 70.0, 450.0
VOICED_R = 0.45  # normalised autocorrelation peak above which a frame counts as voiced
_FUNCTIONALS = 22


def _functionals(x: np.ndarray) -> np.ndarray:
    """x : [shape=(frames, d)] -> [shape=(_FUNCTIONALS * d,)] statistics of each column."""
    n, d = x.shape
    if n == 0:
        return np.zeros(_FUNCTIONALS * d, np.float32)
    mean = x.mean(axis=0)
    c = x - mean
    var = (c**2).mean(axis=0)
    std = np.sqrt(var)
    safe = np.where(std > 1e-8, std, 1.0)
    skew = np.where(std > 1e-8, (c**3).mean(axis=0) / safe**3, 0.0)
    kurt = np.where(std > 1e-8, (c**4).mean(axis=0) / safe**4, 0.0)
    p1, p5, p25, p50, p75, p95, p99 = np.percentile(x, [1, 5, 25, 50, 75, 95, 99], axis=0)
    t = np.linspace(-0.5, 0.5, n) if n > 1 else np.zeros(1)
    slope = (t[:, None] * c).sum(axis=0) / max(float((t**2).sum()), 1e-8)
    t2 = t**2 - (t**2).mean()
    curve = (t2[:, None] * c).sum(axis=0) / max(float((t2**2).sum()), 1e-8)
    resid = np.sqrt(np.maximum(var - slope**2 * (t**2).mean() - curve**2 * (t2**2).mean(), 0))
    span = p99 - p1
    up25, up50, up75 = ((x > (p1 + q * span)).mean(axis=0) for q in (0.25, 0.5, 0.75))
    if n > 1:
        diff = np.diff(x, axis=0)
        rising = (diff > 0).mean(axis=0)
        rise = np.where(diff > 0, diff, 0).sum(axis=0) / np.maximum((diff > 0).sum(axis=0), 1)
        fall = np.where(diff < 0, diff, 0).sum(axis=0) / np.maximum((diff < 0).sum(axis=0), 1)
    else:
        rising = rise = fall = np.zeros(d)
    return np.concatenate(
        [
            mean,
            std,
            skew,
            kurt,
            p1,
            p5,
            p25,
            p50,
            p75,
            p95,
            p99,
            p75 - p25,
            span,
            slope,
            curve,
            resid,
            up25,
            up50,
            up75,
            rising,
            rise,
            fall,
        ]
    ).astype(np.float32)


PITCH_WIN = 640  # 40 ms: nearly three periods of the lowest F0
PITCH_FFT = 1024  # zero-padded past PITCH_WIN + the longest period: no wrap-round


@lru_cache(maxsize=1)
def _pitch_window() -> tuple[np.ndarray, np.ndarray]:
    w = filters.hann(PITCH_WIN, periodic=False)
    acf = np.fft.irfft(np.abs(np.fft.rfft(w, PITCH_FFT)) ** 2)
    return w.astype(np.float32), (acf / acf[0]).astype(np.float32)


@lru_cache(maxsize=4)
def _short_freqs(sr: int) -> np.ndarray:
    """Frequencies (Hz) of the bins of :func:`short_spectra`."""
    return np.fft.rfftfreq(PITCH_FFT, 1.0 / sr)


def short_spectra(signal: np.ndarray, config: FeatureConfig, frames: slice = slice(None)):
    """Power spectra of 40 ms frames (hop as :func:`power_spectrogram`), zeroed above
    fmax: [shape=(frames, PITCH_FFT // 2 + 1)]. Only the ``frames`` wanted are computed."""
    hop = config.hop_length
    w, _ = _pitch_window()
    x = np.pad(np.asarray(signal, np.float32), (PITCH_WIN // 2, PITCH_WIN // 2))
    if len(x) < PITCH_WIN:
        x = np.pad(x, (0, PITCH_WIN - len(x)))
    n_frames = 1 + len(signal) // hop
    chunk = np.lib.stride_tricks.sliding_window_view(x, PITCH_WIN)[::hop][:n_frames][frames]
    chunk = chunk - chunk.mean(axis=1, keepdims=True)
    spec = scipy.fft.rfft(chunk * w, n=PITCH_FFT, axis=1, workers=1)
    freqs = _short_freqs(config.sample_rate)
    return (spec.real**2 + spec.imag**2) * (freqs <= config.fmax).astype(np.float32)


def pitch_track(
    signal: np.ndarray, config: FeatureConfig, frames: slice = slice(None)
) -> tuple[np.ndarray, np.ndarray]:
    """F0 (Hz) and voicing strength (0..1) per frame, framed as :func:`power_spectrogram`
    (only the ``frames`` wanted are computed)."""
    return pitch_from_spectra(short_spectra(signal, config, frames), config)


def pitch_from_spectra(p: np.ndarray, config: FeatureConfig) -> tuple[np.ndarray, np.ndarray]:
    """F0 and voicing strength from :func:`short_spectra`.

    The autocorrelation of each 40 ms frame is the inverse FFT of its power spectrum
    (band-limited to fmax, so telephone audio gives the same track); dividing it by the
    window's own autocorrelation and taking the highest peak between F0_MAX and F0_MIN
    is Boersma's (1993) method.
    """
    sr = config.sample_rate
    _, w_acf = _pitch_window()
    acf = scipy.fft.irfft(p, n=PITCH_FFT, axis=1, workers=1)
    lo, hi = int(sr / F0_MAX), int(sr / F0_MIN)
    # Lags lo-1 .. hi+1, so that a peak can be told from a slope at either end.
    r = acf[:, lo - 1 : hi + 2] / np.maximum(acf[:, :1], 1e-20) / w_acf[lo - 1 : hi + 2]
    inner = r[:, 1:-1]
    is_peak = (inner > r[:, :-2]) & (inner >= r[:, 2:])
    peaks = np.where(is_peak, inner, -np.inf)
    # Every multiple of the period peaks too; take the shortest lag nearly as high as the
    # highest, so that the track does not drop an octave.
    near_best = peaks >= 0.9 * peaks.max(axis=1, keepdims=True)
    k = near_best.argmax(axis=1) + 1
    rows = np.arange(len(r))
    a, b, c = r[rows, k - 1], r[rows, k], r[rows, k + 1]
    b = np.where(is_peak.any(axis=1), b, 0.0)  # no peak: unvoiced
    # Parabolic interpolation of the peak for a finer period.
    denom = a - 2 * b + c
    shift = np.where(np.abs(denom) > 1e-12, 0.5 * (a - c) / np.where(denom == 0, 1, denom), 0)
    period = lo - 1 + k + np.clip(shift, -0.5, 0.5)
    return (sr / period).astype(np.float32), np.clip(b, 0.0, 1.0).astype(np.float32)


def _regress(db: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Slope of each row of ``db`` against ``x``."""
    xc = x - x.mean()
    return ((db - db.mean(axis=1, keepdims=True)) * xc).sum(axis=1) / max((xc**2).sum(), 1e-12)


def _spectral_descriptors(power: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Per-frame spectral shape below fmax: [shape=(frames, 13)], all independent of gain."""
    freqs = np.fft.rfftfreq(config.n_fft, 1.0 / config.sample_rate)
    band = (freqs >= config.fmin) & (freqs <= config.fmax)
    f = freqs[band] / 1000.0  # kHz
    p = power[:, band].astype(np.float64)
    eps = max(float(p.max()), 1e-20) * 1e-10
    p = p + eps
    total = p.sum(axis=1, keepdims=True)
    pn = p / total
    centroid = (pn * f).sum(axis=1)
    dev = f[None, :] - centroid[:, None]
    spread = np.sqrt((pn * dev**2).sum(axis=1))
    safe = np.maximum(spread, 1e-6)
    skew = (pn * dev**3).sum(axis=1) / safe**3
    kurt = (pn * dev**4).sum(axis=1) / safe**4
    entropy = -(pn * np.log(pn)).sum(axis=1) / np.log(pn.shape[1])
    db = 10 * np.log10(p)
    flatness = db.mean(axis=1) - 10 * np.log10(p.mean(axis=1))
    slope = _regress(db, f)
    cum = np.cumsum(pn, axis=1)
    rolloff = [f[np.minimum((cum < q).sum(axis=1), len(f) - 1)] for q in (0.25, 0.5, 0.75, 0.9)]
    flux = np.concatenate([[0.0], np.sqrt((np.diff(pn, axis=0) ** 2).sum(axis=1))])
    low = p[:, (freqs[band] >= 250) & (freqs[band] < 650)].sum(axis=1)
    high = p[:, (freqs[band] >= 1000) & (freqs[band] <= 4000)].sum(axis=1)
    ratio = 10 * np.log10(low / high)
    cols = [centroid, spread, skew, kurt, entropy, flatness, slope, *rolloff, flux, ratio]
    return np.stack(cols, axis=1).astype(np.float32)


LPC_ORDER = 10  # at 8 kHz: up to five resonances below 4 kHz
ENVELOPE_BINS = 256


def _levinson(r: np.ndarray, order: int) -> np.ndarray:
    """Prediction polynomials [shape=(frames, order + 1)] from autocorrelations, every
    frame at once (Levinson-Durbin)."""
    n = len(r)
    a = np.zeros((n, order + 1))
    a[:, 0] = 1.0
    err = r[:, 0].copy()
    for i in range(1, order + 1):
        k = -(a[:, :i] * r[:, i:0:-1]).sum(axis=1) / np.maximum(err, 1e-20)
        a[:, 1 : i + 1] = a[:, 1 : i + 1] + k[:, None] * a[:, i - 1 :: -1][:, :i]
        err = err * (1 - k**2)
    return a


def formants(p: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """F1-F3 and their bandwidths (Hz) per frame from :func:`short_spectra`:
    [shape=(frames, 6)], NaN where fewer than three resonances were found.

    The band below fmax is treated as the spectrum of a signal sampled at 2 fmax, so the
    linear prediction spends its poles where the features look; pre-emphasis flattens
    the glottal tilt first.
    """
    freqs = _short_freqs(config.sample_rate)
    band = freqs <= config.fmax
    fs = 2 * config.fmax
    w = np.pi * freqs[band] / config.fmax
    pre = np.abs(1 - 0.97 * np.exp(-1j * w)) ** 2
    r = np.fft.irfft(p[:, band] * pre, axis=1)[:, : LPC_ORDER + 1]
    r[:, 1:] *= np.exp(-0.5 * (2 * np.pi * 60 / fs * np.arange(1, LPC_ORDER + 1)) ** 2)
    a = _levinson(r.astype(np.float64), LPC_ORDER)
    # Peaks of the prediction envelope 1/|A|^2 on a 256-point grid (15.6 Hz at 8 kHz),
    # refined by a parabola through the dB values; a resonance's -3 dB bandwidth follows
    # from the curvature there: B = sqrt(-80 / (ln 10 * d2)), d2 in dB per Hz^2.
    env = -10 * np.log10(np.abs(np.fft.rfft(a, n=2 * ENVELOPE_BINS, axis=1)) ** 2 + 1e-12)
    step = fs / (2 * ENVELOPE_BINS)
    left, mid, right = env[:, :-2], env[:, 1:-1], env[:, 2:]
    peak = (mid > left) & (mid >= right)
    grid = (np.arange(1, env.shape[1] - 1)) * step
    peak &= (grid > 90) & (grid < config.fmax - 90)
    rank = np.cumsum(peak, axis=1)
    out = np.full((len(a), 6), np.nan)
    rows = np.arange(len(a))
    for j in range(3):
        hit = peak & (rank == j + 1)
        found = hit.any(axis=1)
        k = hit.argmax(axis=1)
        y0, y1, y2 = left[rows, k], mid[rows, k], right[rows, k]
        d2 = y0 - 2 * y1 + y2
        shift = np.where(d2 < 0, 0.5 * (y0 - y2) / np.where(d2 < 0, d2, -1.0), 0.0)
        out[found, j] = grid[k[found]] + np.clip(shift[found], -0.5, 0.5) * step
        curv = np.minimum(d2, -1e-6) / step**2
        out[found, 3 + j] = np.sqrt(-80 / (np.log(10) * curv[found]))
    out[np.isnan(out[:, :3]).any(axis=1)] = np.nan
    return out


N_HARMONICS = 8


def voice_descriptors(p: np.ndarray, f0: np.ndarray, config: FeatureConfig) -> np.ndarray:
    """Voice-quality descriptors per frame from :func:`short_spectra` and the pitch
    track: [shape=(frames, 9)], in dB (slopes in dB per octave or per kHz).

    H1-H2 and H1-H4 (breathy voices have a strong first harmonic, pressed ones a weak
    one), the first harmonic and the harmonics against all energy below fmax, the slope
    of the harmonic amplitudes, the alpha ratio (below against above 1 kHz), the
    Hammarberg index (strongest peak below against above 2 kHz) and the spectral slopes
    0-500 Hz and 500-1500 Hz, as eGeMAPS (Eyben et al., 2016) defines them.
    """
    df = config.sample_rate / PITCH_FFT
    freqs = _short_freqs(config.sample_rate)
    eps = max(float(p.max()), 1e-20) * 1e-10
    n_bins = p.shape[1]
    centre = np.rint(f0[:, None] * np.arange(1, N_HARMONICS + 1) / df).astype(int)
    offsets = np.arange(-2, 3)
    idx = np.clip(centre[:, :, None] + offsets, 0, n_bins - 1)
    rows = np.arange(len(p))[:, None, None]
    harm = p[rows, idx].max(axis=2)  # [frames, harmonics]
    below = (centre * df <= config.fmax).astype(np.float64)
    harm_db = 10 * np.log10(harm + eps)
    total = p.sum(axis=1) + eps

    def db(x):
        return 10 * np.log10(x + eps)

    k = np.log2(np.arange(1, N_HARMONICS + 1))
    harm_slope = _regress(np.where(below > 0, harm_db, harm_db[:, :1]), k)
    low = p[:, (freqs >= 50) & (freqs < 1000)].sum(axis=1)
    high = p[:, (freqs >= 1000) & (freqs <= config.fmax)].sum(axis=1)
    hammarberg = db(p[:, freqs < 2000].max(axis=1)) - db(
        p[:, (freqs >= 2000) & (freqs <= config.fmax)].max(axis=1)
    )
    n_low = int(np.searchsorted(freqs, 1500))
    spec_db = db(p[:, :n_low])
    lo_band = freqs[:n_low] < 500
    mid_band = freqs[:n_low] >= 500
    cols = [
        harm_db[:, 0] - harm_db[:, 1],
        harm_db[:, 0] - harm_db[:, 3],
        harm_db[:, 0] - db(total),
        db((harm * below).sum(axis=1)) - db(total),
        harm_slope,
        db(low) - db(high),
        hammarberg,
        _regress(spec_db[:, lo_band], freqs[:n_low][lo_band] / 1000),
        _regress(spec_db[:, mid_band], freqs[:n_low][mid_band] / 1000),
    ]
    return np.stack(cols, axis=1).astype(np.float32)


def voice_functionals(
    p: np.ndarray, f0: np.ndarray, voiced: np.ndarray, config: FeatureConfig
) -> np.ndarray:
    """Functionals of the voice-quality descriptors and formants over voiced frames (and
    their deltas), and of the spectral balance over unvoiced ones."""
    vq = voice_descriptors(p, f0, config)
    lld = np.concatenate([vq[voiced], formants(p[voiced], config)], axis=1)
    lld = lld[np.isfinite(lld).all(axis=1)]
    unvoiced = vq[~voiced][:, 5:]
    return np.concatenate([_functionals(lld), _functionals(_deltas(lld)), _functionals(unvoiced)])


def _runs(mask: np.ndarray) -> np.ndarray:
    """Lengths of the runs of True in a boolean vector."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return edges[1::2] - edges[::2]


def functionals_features(
    power: np.ndarray,
    f0: np.ndarray,
    strength: np.ndarray,
    config: FeatureConfig,
    spectra: np.ndarray | None = None,
) -> np.ndarray:
    """Statistics of spectral, cepstral, loudness and voice descriptors and their deltas.

    ``f0`` and ``strength`` come from :func:`pitch_track`, one value per row of ``power``;
    ``spectra`` (from :func:`short_spectra`) is needed when ``config.voice_quality``.
    """
    basis = filters.mel(config.sample_rate, config.n_fft, N_BANDS, config.fmin, config.fmax)
    mel = power @ basis.T
    floor = max(float(mel.max()), 1e-20) * 1e-8
    bands = 10 * np.log10(np.maximum(mel, floor))
    bands = bands - bands.mean()
    lm_n = _normalise(log_mel(power, config), config.norm)
    ceps = (lm_n @ filters.dct_basis(lm_n.shape[1], N_CEPS + 1).T.astype(lm_n.dtype))[:, 1:]
    energy = power.sum(axis=1)
    loud = 10 * np.log10(energy + max(float(energy.max()), 1e-20) * 1e-8)
    loud = loud - loud.max()
    r = np.clip(strength, 0.01, 0.99)
    hnr = 10 * np.log10(r / (1 - r))
    lld = np.concatenate(
        [
            bands,
            ceps,
            loud[:, None],
            _spectral_descriptors(power, config),
            strength[:, None],
            hnr[:, None],
        ],
        axis=1,
    )
    parts = [_functionals(np.concatenate([lld, _deltas(lld)], axis=1))]
    # The voice: pitch (semitones) over voiced frames only, and how voicing comes and goes.
    voiced = (strength > VOICED_R) & (loud > -30)
    semitones = 12 * np.log2(f0[voiced] / 27.5)[:, None]
    parts += [_functionals(semitones), _functionals(_deltas(semitones))]
    seconds = len(power) * config.hop_length / config.sample_rate
    runs = _runs(voiced)
    period = 1.0 / f0
    both = voiced[1:] & voiced[:-1]
    jitter = np.abs(np.diff(period))[both].mean() / period[voiced].mean() if both.any() else 0.0
    shimmer = np.abs(np.diff(loud))[both].mean() if both.any() else 0.0
    parts.append(
        np.array(
            [
                voiced.mean() if len(voiced) else 0.0,
                len(runs) / max(seconds, 1e-3),
                runs.mean() * config.hop_length / config.sample_rate if len(runs) else 0.0,
                jitter,
                shimmer,
            ],
            np.float32,
        )
    )
    if config.voice_quality:
        parts.append(voice_functionals(spectra, f0, voiced, config))
    return np.nan_to_num(np.concatenate(parts)).astype(np.float32)
