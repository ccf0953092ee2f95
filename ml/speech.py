"""Is there speech, and where: Silero VAD v6 run with onnxruntime.

The model is ``silero_vad/data/silero_vad.onnx`` from the PyPI package ``silero-vad``
6.2.3 (MIT licence), installed without its dependencies: only the ONNX file is used, never
the package's Python code (which imports PyTorch). The file is checked against
:data:`MODEL_SHA256` when it is first loaded; nothing is downloaded.

The model reads 32 ms chunks (512 samples at 16 kHz) together with the last 64 samples
before each chunk, and carries a recurrent state from one chunk to the next; it gives the
probability that the chunk holds speech. On top of those probabilities:

* :func:`speech_regions` finds the stretches of speech of a long recording (Silero's own
  post-processing: a threshold with hysteresis, minimum speech and pause lengths, padding);
* :func:`has_speech` answers the question asked before the emotion model: is anybody
  speaking at all? Silence, noise, a tone, a hum or music are answered with no. Silero
  misses a few strongly acted takes and hears a little speech in some music, so when it
  is unsure a pitch check decides: music and tones hold notes, speech glides.
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ml.audio import SAMPLE_RATE
from ml.errors import ModelLoadError

if TYPE_CHECKING:
    import onnxruntime as ort

PACKAGE = "silero-vad==6.2.3"
MODEL_FILE = "data/silero_vad.onnx"  # inside the installed package silero_vad
MODEL_SHA256 = "1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3"

FRAME = 512  # samples: one model chunk, 32 ms at 16 kHz
_CONTEXT = 64  # samples before each chunk that the model reads with it

THRESHOLD = 0.5  # a frame this likely to be speech starts (or continues) speech
NEG_THRESHOLD = THRESHOLD - 0.15  # ... and speech ends only below this (hysteresis)
MIN_SPEECH = 0.25  # seconds; shorter blips are not speech (Silero's default)
MIN_SILENCE = 0.1  # seconds of pause that end speech when counting it (Silero's default)
PAD = 0.1  # seconds added on each side of a region: onsets and tails are quiet
MIN_REGION = 0.5  # seconds; shorter bursts (clicks, breaths) are not speech regions
MAX_GAP = 0.4  # seconds; pauses shorter than this do not split a region
CLEAR_SPEECH = 1.0  # seconds of speech that answer "someone speaks" on their own
FAINT_SPEECH = 0.08  # mean probability of the best 8 frames below which nobody speaks
HELD_NOTES = 0.7  # share of voiced frames in held notes from which a sound is music
_BEST_FRAMES = 8  # 0.26 s: about one short word

# Long signals run as parallel streams of 60 s, one batch row each, so that one model call
# does 60 chunks instead of one. Each stream first reads the 20 s before it (its state is
# carried that long); signals up to 60 s are one stream, exactly Silero's own loop.
_STREAM = 1875  # frames: 60 s
_WARMUP = 625  # frames: 20 s

_lock = threading.Lock()
_session: ort.InferenceSession | None = None


def model_path() -> Path:
    """Where the installed package keeps the ONNX model (the package is not imported)."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            f"The speech detector needs the package {PACKAGE} (make venv installs it)."
        )
    return Path(next(iter(spec.submodule_search_locations))) / MODEL_FILE


def load_session(path: str | Path | None = None) -> ort.InferenceSession:
    """An onnxruntime session for the Silero model at ``path`` (default: :func:`model_path`).

    Raises ``ModelLoadError`` when the file is missing, is not the file of :data:`PACKAGE`
    (SHA-256), or does not take the inputs this module gives it.
    """
    import onnxruntime as ort

    path = Path(path) if path else model_path()
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ModelLoadError(f"{path} could not be read; reinstall {PACKAGE}.") from err
    digest = hashlib.sha256(data).hexdigest()
    if digest != MODEL_SHA256:
        raise ModelLoadError(
            f"{path} has SHA-256 {digest}, not the {MODEL_SHA256} of {PACKAGE}; "
            "the speech detector's model was changed or damaged."
        )
    options = ort.SessionOptions()
    # One thread: the machine's cores go to the emotion model and to other requests.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only
    session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    shapes = {i.name: i.shape for i in session.get_inputs()}
    if set(shapes) != {"input", "state", "sr"} or shapes["state"][::2] != [2, 128]:
        raise ModelLoadError(f"{path}: unexpected model inputs {shapes}.")
    return session


def get_session() -> ort.InferenceSession:
    """The Silero session, loaded once per process (thread-safe)."""
    global _session
    if _session is None:
        with _lock:
            if _session is None:
                _session = load_session()
    return _session


def speech_probabilities(signal: np.ndarray) -> np.ndarray:
    """Probability of speech per 32 ms frame.

    signal : np.ndarray [shape=(n,)] mono float32 at sr=16000
    -> np.ndarray [shape=(ceil(n / 512),)] float32 in [0, 1]; frame ``i`` covers samples
    ``512 i`` to ``512 (i + 1)`` (the last one padded with zeros).
    """
    signal = np.ascontiguousarray(signal, dtype=np.float32)
    if signal.ndim != 1:
        raise ValueError(f"expected a mono signal of shape (n,), got {signal.shape}")
    n_frames = -(-len(signal) // FRAME)
    if n_frames == 0:
        return np.zeros(0, dtype=np.float32)
    session = get_session()
    n_streams = -(-n_frames // _STREAM)
    first = np.arange(n_streams) * _STREAM  # each stream's first frame
    warmup = _WARMUP if n_streams > 1 else 0
    offsets = np.arange(-_CONTEXT, FRAME)
    state = np.zeros((2, n_streams, 128), dtype=np.float32)
    sr = np.array(SAMPLE_RATE, dtype=np.int64)
    out = np.zeros((n_streams, _STREAM), dtype=np.float32)
    zero = np.float32(0)
    for step in range(-warmup, min(_STREAM, n_frames)):
        if step == 0:
            state[:, 0] = 0.0  # the first stream has nothing before it to warm up on
        idx = (first + step)[:, None] * FRAME + offsets
        inside = (idx >= 0) & (idx < len(signal))
        chunks = np.where(inside, signal[np.clip(idx, 0, len(signal) - 1)], zero)
        prob, state = session.run(None, {"input": chunks, "state": state, "sr": sr})
        if step >= 0:
            out[:, step] = prob[:, 0]
    return out.reshape(-1)[:n_frames]


def _spans(
    probs: np.ndarray, n_samples: int, *, min_speech: float, min_silence: float
) -> list[tuple[int, int]]:
    """Silero's hysteresis over frame probabilities: (start, end) sample indices of speech.

    Speech starts at a frame >= THRESHOLD and ends at the first of ``min_silence`` seconds
    of frames below NEG_THRESHOLD; stretches of ``min_speech`` seconds or less are dropped.
    """
    min_speech_n = min_speech * SAMPLE_RATE
    min_silence_n = min_silence * SAMPLE_RATE
    spans: list[tuple[int, int]] = []
    start = None
    pause = None  # where the current run of low frames began
    for i, p in enumerate(probs.tolist()):
        t = i * FRAME
        if p >= THRESHOLD:
            pause = None
            if start is None:
                start = t
        elif start is not None and p < NEG_THRESHOLD:
            if pause is None:
                pause = t
            if t - pause >= min_silence_n:
                if pause - start > min_speech_n:
                    spans.append((start, pause))
                start = pause = None
    if start is not None and n_samples - start > min_speech_n:
        spans.append((start, n_samples))
    return spans


def speech_regions(signal: np.ndarray) -> list[tuple[float, float]]:
    """(start, end) seconds of the stretches of speech, in time order.

    signal : np.ndarray [shape=(n,)] mono float32 at sr=16000.
    Pauses under ``MAX_GAP`` s stay inside a region; each region is padded by ``PAD`` s on
    both sides (within the signal); regions under ``MIN_REGION`` s are dropped.
    """
    probs = speech_probabilities(signal)
    spans = _spans(probs, len(signal), min_speech=MIN_SPEECH, min_silence=MAX_GAP)
    duration = len(signal) / SAMPLE_RATE
    out = [
        (max(0.0, a / SAMPLE_RATE - PAD), min(duration, b / SAMPLE_RATE + PAD)) for a, b in spans
    ]
    return [(a, b) for a, b in out if b - a >= MIN_REGION]


def _speech_seconds(probs: np.ndarray, n_samples: int) -> float:
    spans = _spans(probs, n_samples, min_speech=MIN_SPEECH, min_silence=MIN_SILENCE)
    return sum(b - a for a, b in spans) / SAMPLE_RATE


def has_speech(signal: np.ndarray) -> bool:
    """Whether someone speaks in the signal.

    signal : np.ndarray [shape=(n,)] mono float32 at sr=16000.

    Yes when Silero hears at least ``CLEAR_SPEECH`` s of speech, whatever else is heard
    (music behind a voice). Silero is unsure of some strongly acted takes (19 of the 3,468
    of the four corpora have less than 0.25 s over 0.5) and hears a little speech in some
    music, so below that the answer is yes only when the most
    speech-like quarter of a second reaches ``FAINT_SPEECH`` and the sound does not hold
    notes (see :func:`_held_note_share`). Silence, noise, a tone or a hum stay far below.
    """
    signal = np.ascontiguousarray(signal, dtype=np.float32)
    # The first minute decides for nearly every recording, so a long upload is not scanned.
    parts = [signal[: _STREAM * FRAME], signal[_STREAM * FRAME :]]
    probs = []
    heard = 0.0
    for part in parts:
        if len(part) == 0:
            break
        probs.append(speech_probabilities(part))
        heard += _speech_seconds(probs[-1], len(part))
        if heard >= CLEAR_SPEECH:
            return True
    best = np.sort(np.concatenate(probs))[::-1][:_BEST_FRAMES] if probs else np.zeros(0)
    if len(best) == 0 or best.mean() < FAINT_SPEECH:
        return False
    return _held_note_share(signal[: _STREAM * FRAME]) < HELD_NOTES


# --- held notes: music and tones ---------------------------------------------------------

_PITCH_FRAME = 640  # 40 ms: two periods of a 50 Hz voice
_PITCH_HOP = 160  # 10 ms
_MIN_LAG = SAMPLE_RATE // 450
_MAX_LAG = SAMPLE_RATE // 70
_NOTE_RUN = 10  # frames (100 ms)


def _periodicity(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normalised autocorrelation peak and its lag (samples), per frame (via FFT)."""
    x = frames - frames.mean(axis=1, keepdims=True)
    n = 1 << (2 * _PITCH_FRAME - 1).bit_length()
    spec = np.fft.rfft(x, n=n, axis=1)
    ac = np.fft.irfft(np.abs(spec) ** 2, n=n, axis=1)[:, : _MAX_LAG + 1]
    # Unbiased: divide by the overlap length so long lags are not penalised.
    overlap = (_PITCH_FRAME - np.arange(_MAX_LAG + 1)) / _PITCH_FRAME
    window = (ac / (ac[:, :1] + 1e-12) / overlap)[:, _MIN_LAG:]
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


def _held_note_share(signal: np.ndarray) -> float:
    """Share of the voiced frames inside runs of 100 ms or more whose pitch stays within 1 %.

    signal : np.ndarray [shape=(n,)] mono float32 at sr=16000 -> a share in [0, 1].
    Sung or played notes, tones and hums hold their pitch; speech glides all the time
    (at most 0.64 over the 3,468 takes of the four corpora, 0.77 or more for melodies).
    """
    if len(signal) < _PITCH_FRAME:
        return 0.0
    frames = np.lib.stride_tricks.sliding_window_view(signal, _PITCH_FRAME)[::_PITCH_HOP]
    rms = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)
    db = 20 * np.log10(rms + 1e-10)
    active = (db > np.percentile(db, 99) - 30) & (db > -85)
    if active.sum() < _NOTE_RUN:
        return 0.0
    strength, lag = _periodicity(frames[active].astype(np.float64))
    voiced = np.flatnonzero(strength > 0.6)  # indices among the active frames
    if len(voiced) < _NOTE_RUN:
        return 0.0
    logf = np.log2(SAMPLE_RATE / lag[voiced])
    held = np.zeros(len(voiced), dtype=bool)
    for i in range(len(voiced) - _NOTE_RUN + 1):
        if voiced[i + _NOTE_RUN - 1] - voiced[i] != _NOTE_RUN - 1:
            continue  # not consecutive frames
        run = logf[i : i + _NOTE_RUN]
        if run.max() - run.min() < 0.015:
            held[i : i + _NOTE_RUN] = True
    return float(held.mean())
