"""Audio for the ml tests: real RAVDESS speech written in several formats, and non-speech.

Everything here is plain Python (no Django), so the ml tests run under ``pytest`` and
``python manage.py test`` alike. Signals are np.ndarray [shape=(n,)] float32 at 16 kHz
unless said otherwise.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import soundfile as sf
import soxr

from ml.audio import SAMPLE_RATE
from ml.labels import EMOTIONS, Emotion

REPO = Path(__file__).resolve().parents[2]


# --- the corpora on disk ---------------------------------------------------------------


def data_dir() -> Path:
    """``$SPEECHEMOTION_DATA_DIR``, else ``<repo>/../shared/data`` (holds ravdess/, savee/)."""
    return Path(os.environ.get("SPEECHEMOTION_DATA_DIR") or REPO.parent / "shared" / "data")


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise AssertionError(
            f"test recording {path} is missing; set SPEECHEMOTION_DATA_DIR to the folder "
            "that holds ravdess/ and savee/"
        )
    return path


def ravdess_path(
    emotion: Emotion = Emotion.HAPPY,
    *,
    actor: int = 1,
    intensity: int = 1,
    statement: int = 1,
    repetition: int = 1,
) -> Path:
    """A RAVDESS speech take: 16 kHz mono FLAC, about 3.5 s of one sentence."""
    code = EMOTIONS.index(emotion) + 1
    name = f"03-01-{code:02d}-{intensity:02d}-{statement:02d}-{repetition:02d}-{actor:02d}.flac"
    return _existing(data_dir() / "ravdess" / f"Actor_{actor:02d}" / name)


def savee_path(speaker: str = "DC", code: str = "a", number: int = 1) -> Path:
    """A SAVEE take (a male British English speaker), 16 kHz mono FLAC."""
    return _existing(data_dir() / "savee" / speaker / f"{speaker}_{code}{number:02d}.flac")


# A few takes from different actors, both genders, several emotions and both sentences.
SPEECH_TAKES: tuple[dict, ...] = (
    {"emotion": Emotion.HAPPY, "actor": 1},
    {"emotion": Emotion.ANGRY, "actor": 2, "intensity": 2, "statement": 2},
    {"emotion": Emotion.SAD, "actor": 7, "repetition": 2},
    {"emotion": Emotion.NEUTRAL, "actor": 12},
    {"emotion": Emotion.FEARFUL, "actor": 19, "intensity": 2},
)


def read_signal(path: str | os.PathLike[str]) -> np.ndarray:
    """A 16 kHz mono file of the corpora, read as it is (no resampling)."""
    signal, sample_rate = sf.read(str(path), dtype="float32")
    if sample_rate != SAMPLE_RATE or signal.ndim != 1:
        raise AssertionError(f"{path}: expected 16 kHz mono, got {sample_rate} Hz {signal.shape}")
    return signal


def speech(emotion: Emotion = Emotion.HAPPY, **take: int) -> np.ndarray:
    """The samples of :func:`ravdess_path` (same keyword arguments)."""
    return read_signal(ravdess_path(emotion, **take))


def fit_length(signal: np.ndarray, seconds: float) -> np.ndarray:
    """Cut or zero-pad at the end to exactly ``seconds`` at 16 kHz."""
    n = round(seconds * SAMPLE_RATE)
    out = np.zeros(n, dtype=np.float32)
    out[: min(n, len(signal))] = signal[:n]
    return out


ESPEAK = Path("/usr/bin/espeak-ng")


def write_espeak(path: str | os.PathLike[str], text: str, *, voice: str = "en-us") -> Path:
    """``text`` read by espeak-ng in a plain, unemotional synthetic voice (22.05 kHz WAV)."""
    if not ESPEAK.is_file():
        raise AssertionError(f"{ESPEAK} is missing; install espeak-ng to run this test")
    path = Path(path)
    subprocess.run(
        [str(ESPEAK), "-v", voice, "-w", str(path), text],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return path


# --- sounds that are not speech ----------------------------------------------------------


def _time(seconds: float) -> np.ndarray:
    return np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE


def silence(seconds: float = 2.0) -> np.ndarray:
    return np.zeros(round(seconds * SAMPLE_RATE), dtype=np.float32)


def tone(seconds: float = 2.0, frequency: float = 440.0, amplitude: float = 0.3) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * frequency * _time(seconds))).astype(np.float32)


def hum(seconds: float = 2.0, fundamental: float = 50.0) -> np.ndarray:
    """Mains hum: a low fundamental and its first harmonics, steady in pitch and level."""
    t = _time(seconds)
    wave = sum(
        a * np.sin(2 * np.pi * k * fundamental * t) for k, a in ((1, 0.3), (2, 0.1), (3, 0.05))
    )
    return np.asarray(wave, dtype=np.float32)


def white_noise(seconds: float = 2.0, *, seed: int = 0, amplitude: float = 0.1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (amplitude * rng.standard_normal(round(seconds * SAMPLE_RATE))).astype(np.float32)


# --- files ------------------------------------------------------------------------------


def write_audio(
    path: str | os.PathLike[str],
    signal: np.ndarray,
    *,
    sample_rate: int = SAMPLE_RATE,
    format: str | None = None,
    subtype: str | None = None,
) -> Path:
    """Write ``signal`` [shape=(n,) or (n, channels)] at 16 kHz, resampled to ``sample_rate``.

    ``format``/``subtype`` are soundfile's ("WAV"/"PCM_16", "FLAC", "OGG"/"VORBIS",
    "MP3"/"MPEG_LAYER_III"); by default they follow the file's suffix.
    """
    path = Path(path)
    signal = np.asarray(signal, dtype=np.float32)
    if sample_rate != SAMPLE_RATE:
        signal = soxr.resample(signal, SAMPLE_RATE, sample_rate, quality="HQ")
    sf.write(str(path), signal, sample_rate, format=format, subtype=subtype)
    return path


def write_speech(
    path: str | os.PathLike[str],
    *,
    sample_rate: int = SAMPLE_RATE,
    channels: int = 1,
    format: str | None = None,
    subtype: str | None = None,
    **take,
) -> Path:
    """A real RAVDESS take (see :func:`ravdess_path`) written at any rate and channel count."""
    signal = speech(**take)
    if channels > 1:
        signal = np.repeat(signal[:, None], channels, axis=1)
    return write_audio(path, signal, sample_rate=sample_rate, format=format, subtype=subtype)


def ffmpeg_encode(source: Path, target: Path, *codec_args: str) -> Path:
    """Encode ``source`` with the ffmpeg binary of imageio-ffmpeg, e.g. to m4a or webm."""
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-v", "error", "-y"]
    subprocess.run([*command, "-i", str(source), *codec_args, str(target)], check=True, timeout=60)
    return target


def wav_header(*, data_bytes: int, sample_rate: int = SAMPLE_RATE, channels: int = 1) -> bytes:
    """A 44-byte PCM_16 WAV header announcing ``data_bytes`` of samples."""
    block = 2 * channels
    fmt = struct.pack("<IHHIIHH", 16, 1, channels, sample_rate, sample_rate * block, block, 16)
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_bytes)
        + b"WAVE"
        + b"fmt "
        + fmt
        + b"data"
        + struct.pack("<I", data_bytes)
    )


class TempDirMixin:
    """``cls.tmp``: a temporary folder for the class, removed after its last test."""

    tmp: Path

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.tmp = Path(tempfile.mkdtemp(prefix=f"{cls.__name__}-"))
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)


# --- the command line --------------------------------------------------------------------


def run_ml(*args: str | os.PathLike[str], timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m ml ARGS`` in a fresh interpreter, from the repository root."""
    # The repository root is the working directory, so ``-m ml`` finds the package.
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, "-m", "ml", *map(str, args)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
