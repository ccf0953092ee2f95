"""Decoding: any supported input to mono float32 at 16 kHz.

Layer 1 of ``load_audio -> extract_features -> predict_signal -> predict_file``.

The format is sniffed from the first bytes of the file, never trusted from its name.
``soundfile`` (libsndfile) reads WAV, FLAC, Ogg and MP3; MP4/MOV/M4A and Matroska/WebM,
sound or video, are probed by :mod:`ml.video` and decoded by the ffmpeg binary that
``imageio-ffmpeg`` ships, both through :func:`ml.ffmpeg.run`. librosa's deprecated
audioread fallback is never used.

Decoding stops after ``timeout`` seconds: given by the caller, or else the process-wide
default (:data:`DEFAULT_DECODE_TIMEOUT`, which the web service sets from its settings with
:func:`configure`).
"""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf
import soxr

from ml import ffmpeg
from ml.errors import (
    AudioDecodeError,
    AudioTooLongError,
    AudioTooShortError,
    NoAudioTrackError,
    NoSpeechError,
    UnsupportedFormatError,
)
from ml.ffmpeg import Deadline, format_seconds
from ml.formats import EXTENSIONS as SUPPORTED_EXTENSIONS
from ml.formats import AudioFormat, stored_format
from ml.video import DEFAULT_PROBE_TIMEOUT, video_info

SAMPLE_RATE = 16000
MIN_DURATION = 0.5  # seconds; less than this holds too little speech to judge
DEFAULT_DECODE_TIMEOUT = 120.0  # seconds of wall-clock time, unless configure() says otherwise
_BLOCK = 1 << 14  # frames read at a time, so memory stays bounded by the output size
_BLOCK_BYTES = 1 << 22  # ... fewer when the channels would make a block larger than this
_MAX_CHANNELS = 64  # no recording of speech has more: a broken or hostile header
_MIN_SAMPLE_RATE, _MAX_SAMPLE_RATE = 1000, 1_000_000
# WAV data sizes from here up are placeholders that streaming writers leave (0x7ffff000
# from sox, 0x7ffffff8 from arecord, 0xffffffff from ffmpeg), not a length.
_WAV_STREAMING_SIZE = 0x7FFF0000
_UNKNOWN_FRAMES = 1 << 62
_MAX_SAMPLE = 64.0  # 36 dB over full scale: no float recording goes that far

_decode_timeout = DEFAULT_DECODE_TIMEOUT


def configure(*, decode_timeout: float) -> None:
    """Set the time limit (seconds) of :func:`load_audio` calls that give none.

    The web service calls this once at start-up with ``settings.SPEECHEMOTION_DECODE_TIMEOUT``;
    the CLI with its ``--decode-timeout``. The ml package reads no environment variable.
    """
    global _decode_timeout
    if not (math.isfinite(decode_timeout) and decode_timeout > 0):
        raise ValueError(f"decode_timeout must be a positive number of seconds: {decode_timeout}")
    _decode_timeout = float(decode_timeout)


def decode_timeout() -> float:
    """The time limit (seconds) of :func:`load_audio` calls that give none."""
    return _decode_timeout


@dataclass(frozen=True)
class AudioInfo:
    """What the container says, before any decoding.

    duration : seconds; sample_rate, channels : of the original stream.
    """

    format: AudioFormat
    duration: float
    sample_rate: int
    channels: int
    has_video: bool = False

    @property
    def content_type(self) -> str:
        """What a stored copy of this file is served as (see ``ml.formats``)."""
        return stored_format(self.format, has_video=self.has_video).content_type


@dataclass(frozen=True)
class DecodedAudio:
    """signal : np.ndarray [shape=(n,)] mono float32 at sr=16000; info : the original's.

    ``complete`` is False when only the first seconds were decoded (``head``).
    """

    signal: np.ndarray
    info: AudioInfo
    complete: bool = True

    @property
    def duration(self) -> float:
        return len(self.signal) / SAMPLE_RATE


def sniff_format(head: bytes) -> AudioFormat:
    """Tell the container from its first bytes (at least 12)."""
    if len(head) >= 12 and head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return AudioFormat.WAV
    if head[:4] == b"fLaC":
        return AudioFormat.FLAC
    if head[:4] == b"OggS":
        return AudioFormat.OGG
    if head[:3] == b"ID3":
        return AudioFormat.MP3
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0 and (head[1] >> 1) & 3:
        return AudioFormat.MP3  # an MPEG audio frame header (layer bits non-zero, so not AAC)
    if len(head) >= 8 and head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free"):
        return AudioFormat.MP4
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return AudioFormat.MATROSKA
    raise UnsupportedFormatError(
        "This file is not a supported audio or video format "
        f"(supported: {', '.join(SUPPORTED_EXTENSIONS)})."
    )


def _read_head(path: Path) -> bytes:
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
    except OSError as err:
        raise AudioDecodeError(f"The file could not be read: {err.strerror}.") from err
    except ValueError as err:  # a NUL byte in the name
        raise AudioDecodeError("The file could not be read: invalid file name.") from err
    if not head:
        raise AudioDecodeError("The file is empty.")
    return head


def probe_audio(path: str | os.PathLike[str]) -> AudioInfo:
    """Read the container's header only: format, duration, sample rate, channels."""
    return _probe(Path(path))


def _probe(
    path: Path, *, max_duration: float | None = None, deadline: Deadline | None = None
) -> AudioInfo:
    fmt = sniff_format(_read_head(path))
    if fmt.via_ffmpeg:
        try:
            timeout = deadline or DEFAULT_PROBE_TIMEOUT
            vi = video_info(path, timeout=timeout, max_duration=max_duration)
        except FileNotFoundError as err:  # removed since its first bytes were read
            raise AudioDecodeError("The file could not be read.") from err
        if not vi.has_audio:
            raise NoAudioTrackError("This file has no sound track.")
        info = AudioInfo(
            format=fmt,
            duration=float(vi.duration or 0.0),
            sample_rate=int(vi.audio_sample_rate or 0),
            channels=int(vi.audio_channels or 0),
            has_video=bool(vi.has_video),
        )
        _check_stream(info.sample_rate or SAMPLE_RATE, info.channels or 1)
        return info
    try:
        info = sf.info(str(path))
    except (RuntimeError, ValueError, TypeError, OverflowError) as err:
        # libsndfile's refusals (LibsndfileError is a RuntimeError) and soundfile's own.
        raise AudioDecodeError(
            f"The file looks like {fmt.value.upper()} but could not be decoded; "
            "it may be corrupt or truncated."
        ) from err
    if info.samplerate <= 0 or info.channels <= 0 or info.frames < 0:
        raise AudioDecodeError("The file declares no audio samples.")
    _check_stream(info.samplerate, info.channels)
    # A FLAC written to a pipe leaves its length unknown: libsndfile says SF_COUNT_MAX.
    frames = 0 if info.frames >= _UNKNOWN_FRAMES else info.frames
    return AudioInfo(
        format=fmt,
        duration=float(frames) / info.samplerate,
        sample_rate=int(info.samplerate),
        channels=int(info.channels),
    )


def _check_stream(sample_rate: int, channels: int) -> None:
    """Refuse the absurd rates and channel counts a damaged or forged header declares."""
    if not _MIN_SAMPLE_RATE <= sample_rate <= _MAX_SAMPLE_RATE:
        raise AudioDecodeError(
            f"The file declares a sample rate of {sample_rate} Hz, which no recording has; "
            "it may be corrupt."
        )
    if channels > _MAX_CHANNELS:
        raise AudioDecodeError(
            f"The file declares {channels} channels; at most {_MAX_CHANNELS} are supported."
        )


def _wav_claimed_duration(path: Path, info: AudioInfo) -> float:
    """The duration the data chunk of a WAV announces when the file holds less than that.

    libsndfile counts only the samples present, but a cut file that announces hours is
    still an hours-long recording: that is what the duration limit is checked against.
    Placeholder sizes from streaming writers announce nothing.
    """
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(12)
            byte_rate = 0
            for _ in range(64):  # fmt, fact, LIST, bext, JUNK... come before the data
                header = fh.read(8)
                if len(header) < 8:
                    break
                tag, length = header[:4], int.from_bytes(header[4:], "little")
                if tag == b"fmt " and length >= 12:
                    byte_rate = int.from_bytes(fh.read(12)[8:12], "little")
                    fh.seek(length - 12 + (length & 1), os.SEEK_CUR)
                elif tag == b"data":
                    present = size - fh.tell()
                    if length == 0 or length >= _WAV_STREAMING_SIZE or length <= present:
                        break
                    if present > 0 and info.duration > 0:
                        return info.duration * length / present
                    return length / byte_rate if byte_rate else info.duration
                else:
                    fh.seek(length + (length & 1), os.SEEK_CUR)
    except OSError:
        pass
    return info.duration


def _check_duration(duration: float, max_duration: float | None) -> None:
    if max_duration is None or duration <= max_duration:
        return
    if math.isinf(duration):  # decoding was stopped past the limit: no length to tell
        raise AudioTooLongError(
            f"The recording is longer than the limit of {format_seconds(max_duration)}."
        )
    raise AudioTooLongError(
        f"The recording is {format_seconds(duration)} long; the limit is "
        f"{format_seconds(max_duration)}."
    )


def _check_samples(samples: np.ndarray) -> np.ndarray:
    """Refuse NaN, infinities and absurd levels, which float files may hold (any bit
    pattern is a float) and which would poison every feature computed from them."""
    if len(samples) and not float(np.abs(samples).max()) <= _MAX_SAMPLE:  # NaN too
        raise AudioDecodeError(
            "The file holds samples that are not sound (not a number, or far beyond full "
            "scale); it is corrupt."
        )
    return samples


def _read_soundfile(
    path: Path,
    info: AudioInfo,
    max_duration: float | None,
    deadline: Deadline | None = None,
    head: float | None = None,
) -> tuple[np.ndarray, bool]:
    """Decode, downmix and resample block by block -> ([shape=(n,)] float32 at 16 kHz,
    whether the whole file was decoded).

    Only the output grows: at most ``max_duration`` + 1 s of it (then one more block)
    before the decoding stops, whatever the header says about the number of frames; with
    ``head``, the decoding stops once that many seconds are there (the rest is not read).
    """
    limit = None if max_duration is None else int((max_duration + 1) * SAMPLE_RATE)
    head_limit = None if head is None else int(head * SAMPLE_RATE)
    parts: list[np.ndarray] = []
    total = 0
    stopped = False  # at the limit, before the end
    cut = False  # at ``head``, before the end
    failure = None
    try:
        with sf.SoundFile(str(path)) as fh:
            if (fh.samplerate, fh.channels) != (info.sample_rate, info.channels):
                raise AudioDecodeError("The file changed while it was being decoded.")
            blocksize = max(1, min(_BLOCK, _BLOCK_BYTES // (4 * fh.channels)))
            resampler = None
            if fh.samplerate != SAMPLE_RATE:
                resampler = soxr.ResampleStream(
                    fh.samplerate, SAMPLE_RATE, 1, dtype="float32", quality="HQ"
                )
            # Not fh.blocks(): past a short read it yields its whole buffer again, stale
            # or uninitialised, for as many frames as the header announced.
            buffer = np.empty((blocksize, fh.channels), dtype=np.float32)
            while failure is None:
                start = fh.tell()
                try:
                    block = fh.read(blocksize, dtype="float32", always_2d=True, out=buffer)
                except (RuntimeError, ValueError, TypeError, OverflowError) as err:
                    # A damaged tail ("lost sync"): libsndfile has decoded up to where
                    # it now stands, keep that.
                    failure = err
                    block = buffer[: min(max(_tell(fh) - start, 0), blocksize)]
                if len(block):
                    mono = _check_samples(block).mean(axis=1, dtype=np.float32)
                    out = mono if resampler is None else resampler.resample_chunk(mono)
                    parts.append(out)
                    total += len(out)
                if len(block) < blocksize:
                    break
                if limit is not None and total > limit:
                    stopped = True
                    break
                if head_limit is not None and total >= head_limit:
                    cut = True
                    break
                if deadline is not None:
                    deadline.check()
            if resampler is not None and not (stopped or cut):
                parts.append(resampler.resample_chunk(np.zeros(0, np.float32), last=True))
    except (RuntimeError, ValueError, TypeError, OverflowError) as err:
        failure = err
    if failure is not None and total < MIN_DURATION * SAMPLE_RATE:
        # Too little decoded before the damage to call it short: call it damaged.
        raise AudioDecodeError(
            f"The {info.format.value.upper()} data could not be decoded; "
            "the file may be corrupt or truncated."
        ) from failure
    signal = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    if cut:
        signal = signal[:head_limit]
        _check_duration(len(signal) / SAMPLE_RATE, max_duration)  # head may pass the limit
        return signal, False
    _check_duration(math.inf if stopped else len(signal) / SAMPLE_RATE, max_duration)
    return signal, True


def _tell(fh: sf.SoundFile) -> int:
    try:
        return fh.tell()
    except (RuntimeError, ValueError):
        return -1


def _ffmpeg_decode(
    path: Path, max_duration: float | None, deadline: Deadline, head: float | None = None
) -> np.ndarray:
    """The first sound track, downmixed and resampled by ffmpeg -> [shape=(n,)] float32.

    ffmpeg stops a second past ``max_duration`` (``-t``), or at ``head`` seconds when that
    comes first; the output is read with a cap a second beyond that, in case it does not.
    """
    args = ["-v", "error", "-i", ffmpeg.local_file(path)]
    args += ["-map", "0:a:0", "-vn", "-sn", "-dn", "-ac", "1", "-ar", str(SAMPLE_RATE)]
    cap = None
    seconds = None if max_duration is None else max_duration + 1
    if head is not None:
        seconds = head if seconds is None else min(seconds, head)
    if seconds is not None:
        args += ["-t", f"{seconds:.3f}"]  # the output, hence the memory, is capped
        cap = (int(seconds * SAMPLE_RATE) + SAMPLE_RATE) * 4
    done = ffmpeg.run([*args, "-f", "f32le", "pipe:1"], deadline=deadline, read="stdout", cap=cap)
    data = done.output
    if done.returncode != 0 and not done.capped and len(data) < MIN_DURATION * SAMPLE_RATE * 4:
        raise AudioDecodeError("The sound track could not be decoded; the file may be corrupt.")
    del data[len(data) // 4 * 4 :]
    return _check_samples(np.frombuffer(data, dtype="<f4"))


def load_audio(
    path: str | os.PathLike[str],
    *,
    max_duration: float | None = None,
    timeout: float | None = None,
    head: float | None = None,
) -> DecodedAudio:
    """Decode ``path`` to mono float32 at 16 kHz.

    The container's declared duration is checked against ``max_duration`` (seconds)
    before anything is decoded, so a small file that claims hours is refused at once;
    what is decoded stops a second past the limit whatever the header said, so memory
    stays within ``max_duration`` + 1 s of output. Decoding, ffmpeg's processes included,
    is stopped after ``timeout`` seconds of wall-clock time (``None``: the configured
    default, see :func:`configure`). Absurd headers (no sample rate, 65535 channels) and
    samples that are not sound (NaN, infinities) are refused as damaged files.

    With ``head`` (seconds), only the beginning is decoded, at most that much: a bounded
    look at a recording (see :func:`check_audio`); ``complete`` says whether that was all.

    Raises only :class:`~ml.errors.MLError`: ``AudioDecodeError`` (and its subclasses
    ``UnsupportedFormatError``, ``NoAudioTrackError``, ``DecodeTimeoutError``,
    ``DecoderUnavailableError``), ``AudioTooLongError``, ``AudioTooShortError``.
    """
    path = Path(path)
    deadline = Deadline(_decode_timeout if timeout is None else timeout)
    info = _probe(path, max_duration=max_duration, deadline=deadline)
    claimed = info.duration
    if info.format is AudioFormat.WAV and max_duration is not None:
        claimed = max(claimed, _wav_claimed_duration(path, info))
    _check_duration(claimed, max_duration)
    if not info.format.via_ffmpeg and info.duration > 0:
        signal, complete = _read_soundfile(path, info, max_duration, deadline, head)
    else:
        # The sound of MP4 and Matroska, videos included, and the files whose length
        # libsndfile cannot tell (a FLAC written to a pipe, an Ogg missing its last
        # page): ffmpeg reads on to the end, or a second past the limit.
        signal = _ffmpeg_decode(path, max_duration, deadline, head)
        decoded = len(signal) / SAMPLE_RATE
        # Stopped at ``head`` (-t): what follows was not looked at.
        complete = head is None or decoded < head - 0.01
        if not complete and (max_duration is None or head <= max_duration):
            signal = signal[: int(head * SAMPLE_RATE)]
        else:
            complete = True
            if max_duration is not None and decoded >= max_duration + 0.99:
                decoded = math.inf  # ffmpeg was stopped at the limit (-t): longer than that
            _check_duration(decoded, max_duration)
    duration = len(signal) / SAMPLE_RATE
    if duration < MIN_DURATION:
        raise AudioTooShortError(
            f"The recording is too short ({duration:.2f} s); at least {MIN_DURATION} s of "
            "audio is needed."
        )
    if info.duration <= 0 or math.isinf(info.duration):
        # Not declared: what was decoded (only a lower bound when not ``complete``).
        info = AudioInfo(info.format, duration, info.sample_rate, info.channels, info.has_video)
    return DecodedAudio(signal=signal, info=info, complete=complete)


def ensure_speech(signal: np.ndarray) -> None:
    """Raise ``NoSpeechError`` when the signal holds no speech (Silero VAD, see
    :func:`ml.speech.has_speech`).

    signal : np.ndarray [shape=(n,)] mono float32 at sr=16000.
    """
    from ml.speech import has_speech  # ml.speech imports this module

    if not has_speech(signal):
        raise NoSpeechError(
            "No speech detected: the recording seems to hold silence, noise, music or a "
            "tone. Please upload a recording of someone speaking."
        )


SPEECH_CHECK_SECONDS = 60.0
"""How much of a recording :func:`check_audio` decodes: the first minute, which
:func:`ml.speech.has_speech` looks at first and which decides for nearly every recording."""


def check_audio(
    path: str | os.PathLike[str],
    *,
    max_duration: float | None = None,
    timeout: float | None = None,
    head: float = SPEECH_CHECK_SECONDS,
) -> DecodedAudio:
    """The quick checks of a new upload, without decoding all of it.

    The container is sniffed and probed (its declared duration checked against
    ``max_duration`` as :func:`load_audio` does), then only the first ``head`` seconds
    are decoded (a damaged or too short file fails here) and, when that was all of it,
    checked for speech. A longer recording is checked for speech by the full decoding
    (the worker's), as :func:`ml.speech.has_speech` may need more than its beginning.
    Raises what :func:`load_audio` and :func:`ensure_speech` raise. Returns the decoded
    beginning.
    """
    decoded = load_audio(path, max_duration=max_duration, timeout=timeout, head=head)
    if decoded.complete:
        ensure_speech(decoded.signal)
    # else a longer recording: the worker checks all of it for speech as it decodes it.
    return decoded


def descriptor_path(fd: int) -> Path:
    """A path naming the open file descriptor ``fd`` (Linux ``/proc``), for decoders that
    take a path: this process opens it as a file, and so does ffmpeg, which
    :func:`ml.ffmpeg.run` starts with the descriptor."""
    return Path(f"/proc/self/fd/{int(fd)}")


@contextmanager
def readable_path(stream: BinaryIO, *, chunks: Iterable[bytes] | None = None) -> Iterator[Path]:
    """A path to decode ``stream`` from, with nothing written to disk.

    ``stream`` : a binary file object, e.g. Django's ``storage.open(name)``. A regular
    file's own descriptor is used as it is; anything else (a stream from a remote storage,
    an upload held in memory) is read, as ``chunks`` when given, into an anonymous file
    in memory (``memfd``). The path lives as long as the ``with`` block.
    """
    fd = regular_file_descriptor(stream)
    if fd is not None and chunks is None:
        yield descriptor_path(fd)
        return
    memory = os.memfd_create("speechemotion-upload", os.MFD_CLOEXEC)
    try:
        with os.fdopen(memory, "wb", closefd=False) as out:
            for chunk in stream_chunks(stream) if chunks is None else chunks:
                out.write(chunk)
        yield descriptor_path(memory)
    finally:
        os.close(memory)


def stream_chunks(stream: BinaryIO, size: int = 1 << 20) -> Iterator[bytes]:
    """``stream`` from its start, ``size`` bytes at a time."""
    with suppress(AttributeError, OSError, ValueError):
        stream.seek(0)
    while chunk := stream.read(size):
        yield chunk


def regular_file_descriptor(stream: BinaryIO) -> int | None:
    """``stream``'s descriptor when it is a regular file, else None."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both
        return None
    try:
        return fd if stat.S_ISREG(os.fstat(fd).st_mode) else None
    except OSError:
        return None
