"""The decoder's fuzz corpus: seeded hostile inputs, and what ``load_audio`` makes of them.

Real little files of every supported container, mangled (bytes flipped, cut, spliced onto
random bytes, fields set to extremes), random bytes behind real signatures, empty files,
all under random names. ``ml/tests/test_fuzz_decoder.py`` runs a few hundred of them and
``bench/fuzz_decoder.py`` thousands; both read the outcomes made here. Every input must
end as decoded audio or as an :class:`~ml.errors.MLError` whose message a person can
read: never another exception, never a temporary file or an ffmpeg process left behind.

A tool for checking the decoder, not part of it: nothing in the service imports this.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from ml import ffmpeg
from ml.audio import SAMPLE_RATE, DecodedAudio, load_audio, probe_audio
from ml.errors import MLError

FUZZ_SEED = 20_240_605
FUZZ_COUNT = 300
MAX_DURATION = 3.0  # seconds; between the lengths of the seeds (1 s and 4 s)
TIMEOUT = 10.0
PROBE_EVERY = 3  # cases also given to probe_audio alone (ffmpeg runs cost time)
DECODED = "decoded"
UNEXPECTED = "UNEXPECTED"

# Names the uploads may carry, whatever the content is.
EXTENSIONS = ("wav", "flac", "ogg", "mp3", "m4a", "mp4", "mov", "webm", "mkv", "txt", "")
# Signatures that make the sniffer hand random bytes to a decoder.
MAGICS = (
    b"RIFF\xff\xff\xff\xffWAVEfmt ",
    b"RF64\xff\xff\xff\xffWAVEds64",
    b"fLaC\x00\x00\x00\x22",
    b"OggS\x00\x02",
    b"ID3\x04\x00\x00",
    b"\xff\xfb\x90\x64",
    b"\x00\x00\x00\x20ftypisom",
    b"\x00\x00\x00\x08moov",
    b"\x1a\x45\xdf\xa3",
)
_EXTREMES = (b"\x00\x00\x00\x00", b"\xff\xff\xff\xff", b"\x7f\xff\xff\xff", b"\x80\x00\x00\x00",
             b"\xff\xff", b"\x00\x00", b"\x01\x00\x00\x00")  # fmt: skip


@dataclass(frozen=True)
class FuzzCase:
    """One input: ``label`` says how it was made (seed and mutation), for the reports."""

    index: int
    label: str
    mutation: str
    data: bytes
    extension: str


@dataclass(frozen=True)
class Outcome:
    """What ``load_audio`` made of a case: ``kind`` is DECODED, an MLError class name or
    UNEXPECTED; ``problems`` lists the broken promises (bad audio, files left over...)."""

    case: FuzzCase
    kind: str
    seconds: float
    message: str
    problems: tuple[str, ...] = ()


def _ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg.executable(), "-y", "-loglevel", "error", *args], check=True, timeout=60)


def _encoders() -> set[str]:
    listing = subprocess.run(
        [ffmpeg.executable(), "-hide_banner", "-encoders"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return {line.split()[1] for line in listing.splitlines() if len(line.split()) > 1}


def make_seeds(folder: Path) -> dict[str, bytes]:
    """Small valid files of every supported container, by name.

    The sound is a gliding tone under noise (so codecs have something to code), 1 s
    long, or 4 s for the names ending in "-4s", which are over ``MAX_DURATION``. Files
    are written with soundfile and with the ffmpeg that imageio-ffmpeg ships.
    """
    rng = np.random.default_rng(0)

    def tone(seconds: float, rate: int = SAMPLE_RATE) -> np.ndarray:
        t = np.arange(int(seconds * rate)) / rate
        glide = 0.4 * np.sin(2 * np.pi * (200 + 100 * (t % 1)) * t)
        return (glide + 0.05 * rng.standard_normal(t.size)).astype(np.float32)

    stereo_44k = np.stack([tone(1, 44100), tone(1, 44100)], axis=1)
    written = {
        "wav": (tone(1), SAMPLE_RATE, "WAV", "PCM_16"),
        "wav-float-stereo-44k": (stereo_44k, 44100, "WAV", "FLOAT"),
        "flac-4s": (tone(4), SAMPLE_RATE, "FLAC", "PCM_16"),
        "ogg-vorbis": (tone(1), SAMPLE_RATE, "OGG", "VORBIS"),
        "ogg-opus": (tone(1), SAMPLE_RATE, "OGG", "OPUS"),
        "mp3-4s": (tone(4, 22050), 22050, "MP3", "MPEG_LAYER_III"),
    }
    seeds: dict[str, bytes] = {}
    for name, (signal, rate, fmt, subtype) in written.items():
        path = folder / f"seed-{name}"
        sf.write(path, signal, rate, format=fmt, subtype=subtype)
        seeds[name] = path.read_bytes()

    source, source_4s = folder / "source.wav", folder / "source-4s.wav"
    sf.write(source, stereo_44k, 44100, subtype="PCM_16")
    sf.write(source_4s, tone(4, 48000), 48000, subtype="PCM_16")
    encoders = _encoders()
    vcodec = "libx264" if "libx264" in encoders else "mpeg4"
    # The picture is given the sound's length: with -shortest instead, it now and then
    # runs on for 10 s.
    picture = ["-f", "lavfi", "-i", "testsrc=size=32x32:rate=5:duration=1"]
    encoded = {
        "m4a": ["-i", str(source), "-c:a", "aac", "-f", "mp4"],
        "mp4-video": [*picture, "-i", str(source), "-map", "0:v", "-map", "1:a",
                      "-c:v", vcodec, "-c:a", "aac", "-f", "mp4"],
        "mkv-float-4s": ["-i", str(source_4s), "-c:a", "pcm_f32le", "-f", "matroska"],
    }  # fmt: skip
    if "libopus" in encoders:
        encoded["webm-opus"] = ["-i", str(source), "-c:a", "libopus", "-f", "webm"]
        if "libvpx" in encoders:
            # What a browser's MediaRecorder uploads: no duration in the headers.
            encoded["webm-video-live"] = [*picture, "-i", str(source), "-map", "0:v", "-map",
                                          "1:a", "-c:v", "libvpx", "-c:a", "libopus",
                                          "-live", "1", "-f", "webm"]  # fmt: skip
    for name, args in encoded.items():
        path = folder / f"seed-{name}"
        _ffmpeg(*args, str(path))
        seeds[name] = path.read_bytes()
    return seeds


def _flip(rng: np.random.Generator, data: bytes) -> bytes:
    out = bytearray(data)
    head = rng.random() < 0.5  # headers are where a flip changes the most
    for _ in range(int(rng.integers(1, 17))):
        end = min(len(out), 256) if head else len(out)
        out[int(rng.integers(end))] ^= int(rng.integers(1, 256))
    return bytes(out)


def _truncate(rng: np.random.Generator, data: bytes) -> bytes:
    return data[: int(rng.integers(len(data)))]


def _splice(rng: np.random.Generator, data: bytes) -> bytes:
    head = data[: int(rng.integers(4, min(len(data), 2048)))]
    return head + rng.bytes(int(rng.integers(0, 16384)))


def _extreme(rng: np.random.Generator, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(int(rng.integers(1, 4))):
        value = _EXTREMES[int(rng.integers(len(_EXTREMES)))]
        at = int(rng.integers(min(len(out), 128) - len(value)))
        out[at : at + len(value)] = value
    return bytes(out)


def _repeat(rng: np.random.Generator, data: bytes) -> bytes:
    start = int(rng.integers(len(data) // 2))
    piece = data[start : start + int(rng.integers(1, len(data) - start + 1))]
    return data[:start] + piece * int(rng.integers(2, 12)) + data[start + len(piece) :]


def _intact(rng: np.random.Generator, data: bytes) -> bytes:
    return data


_MUTATIONS: dict[str, Callable[[np.random.Generator, bytes], bytes]] = {
    "flip": _flip,
    "truncate": _truncate,
    "splice": _splice,
    "extreme": _extreme,
    "repeat": _repeat,
    "intact": _intact,
}
# Out of 100 cases; the rest is mutations of the seeds, equally.
_RANDOM_SHARE, _MAGIC_SHARE, _EMPTY_SHARE = 6, 8, 2


def fuzz_cases(seeds: dict[str, bytes], count: int, seed: int = FUZZ_SEED) -> Iterator[FuzzCase]:
    """``count`` inputs, the same ones for the same ``seeds`` and ``seed``."""
    rng = np.random.default_rng(seed)
    names = sorted(seeds)
    mutations = sorted(_MUTATIONS)
    for index in range(count):
        extension = EXTENSIONS[int(rng.integers(len(EXTENSIONS)))]
        roll = int(rng.integers(100))
        if roll < _EMPTY_SHARE:
            label, mutation, data = "empty", "empty", b""
        elif roll < _EMPTY_SHARE + _RANDOM_SHARE:
            size = int(rng.integers(1, 20000))
            label, mutation, data = f"random {size} B", "random", rng.bytes(size)
        elif roll < _EMPTY_SHARE + _RANDOM_SHARE + _MAGIC_SHARE:
            magic = MAGICS[int(rng.integers(len(MAGICS)))]
            label, mutation = f"{magic[:8]!r} + random", "magic"
            data = magic + rng.bytes(int(rng.integers(0, 20000)))
        else:
            name = names[int(rng.integers(len(names)))]
            mutation = mutations[int(rng.integers(len(mutations)))]
            data = _MUTATIONS[mutation](rng, seeds[name])
            label = f"{name} {mutation}"
        yield FuzzCase(index, f"#{index} {label} as .{extension}", mutation, data, extension)


def _audio_problems(decoded: object, max_duration: float) -> list[str]:
    if not isinstance(decoded, DecodedAudio):
        return [f"returned {type(decoded).__name__}, not DecodedAudio"]
    signal = decoded.signal
    problems = []
    if signal.dtype != np.float32 or signal.ndim != 1:
        problems.append(f"signal is {signal.dtype} of shape {signal.shape}")
    elif not np.all(np.isfinite(signal)):
        problems.append("signal holds NaN or infinite samples")
    elif len(signal) and float(np.abs(signal).max()) > 64:  # lossy codecs overshoot 1
        problems.append(f"signal peaks at {float(np.abs(signal).max()):g}")
    if not 0.5 <= decoded.duration <= max_duration:
        problems.append(f"decoded {decoded.duration:.2f} s with a limit of {max_duration} s")
    return problems


def _probe_problems(path: Path) -> list[str]:
    try:
        info = probe_audio(path)
    except MLError as err:
        return [] if str(err).strip() else [f"probe_audio: {type(err).__name__} without message"]
    except Exception as err:
        return [f"probe_audio: {type(err).__name__}: {err}\n{traceback.format_exc(limit=-4)}"]
    if not (info.duration >= 0 and info.sample_rate >= 0 and info.channels >= 0):
        return [f"probe_audio: {info}"]
    return []


def run_case(
    case: FuzzCase,
    folder: Path,
    *,
    max_duration: float = MAX_DURATION,
    timeout: float = TIMEOUT,
) -> Outcome:
    """Write ``case`` in ``folder``, decode it (every third one probed first), and say how
    it went.

    ``tempfile.tempdir`` must point at an empty folder of its own: whatever is found in
    it afterwards was left behind by the decoder (and is removed).
    """
    path = folder / (f"case-{case.index}.{case.extension}" if case.extension else "case")
    path.write_bytes(case.data)
    problems: list[str] = []
    message = ""
    started = time.perf_counter()
    if case.index % PROBE_EVERY == 0:
        problems += _probe_problems(path)
    try:
        decoded = load_audio(path, max_duration=max_duration, timeout=timeout)
    except MLError as err:
        kind, message = type(err).__name__, str(err)
        if not message.strip() or not message[0].isupper():
            problems.append(f"{kind} with the message {message!r}")
        if str(folder) in message or "Traceback" in message:
            problems.append(f"{kind} message shows internals: {message!r}")
    except Exception as err:  # the very thing this hunts for
        kind = UNEXPECTED
        message = "".join(traceback.format_exception_only(err)).strip()
        problems.append(f"{type(err).__name__}: {err}\n{traceback.format_exc(limit=-4)}")
    else:
        kind = DECODED
        problems += _audio_problems(decoded, max_duration)
    seconds = time.perf_counter() - started
    path.unlink()
    scratch = Path(tempfile.gettempdir())
    left = sorted(p.name for p in scratch.iterdir())
    if left:
        problems.append(f"left temporary files behind: {left}")
        for name in left:
            (scratch / name).unlink(missing_ok=True)
    if ffmpeg.running():
        problems.append(f"left processes behind: {ffmpeg.running()}")
    return Outcome(case, kind, seconds, message, tuple(problems))


@contextmanager
def quiet_stderr() -> Iterator[None]:
    """Silence what C libraries print on bad input (mpg123's resync notes, ...)."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


@contextmanager
def scratch_tempdir(folder: Path) -> Iterator[Path]:
    """Point ``tempfile`` at ``folder`` (emptied) while the cases run."""
    folder.mkdir(parents=True, exist_ok=True)
    saved = tempfile.tempdir
    tempfile.tempdir = str(folder)
    try:
        yield folder
    finally:
        tempfile.tempdir = saved
