"""Decoding: any supported input to mono float32 at 16 kHz.

Layer 1 of ``load_audio -> extract_features -> predict_signal -> predict_file``.

The format is sniffed from the first bytes of the file, never trusted from its name.
``soundfile`` (libsndfile) reads WAV, FLAC, Ogg and MP3; MP4/MOV/M4A and Matroska/WebM go
through the ffmpeg binary that ``imageio-ffmpeg`` ships (videos through moviepy, see
:mod:`ml.video`). librosa's deprecated audioread fallback is never used.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from ml.errors import (
    AudioDecodeError,
    AudioTooLongError,
    AudioTooShortError,
    DecodeTimeoutError,
    NoAudioTrackError,
    NoSpeechError,
    UnsupportedFormatError,
)

SAMPLE_RATE = 16000
MIN_DURATION = 0.5  # seconds; less than this holds too little speech to judge
DECODE_TIMEOUT = float(os.environ.get("SPEECHEMOTION_DECODE_TIMEOUT", "120"))
_BLOCK = 1 << 16  # frames read at a time, so memory stays bounded by the output size


class AudioFormat(StrEnum):
    WAV = "wav"
    FLAC = "flac"
    OGG = "ogg"
    MP3 = "mp3"
    MP4 = "mp4"  # also MOV and M4A (ISO base media)
    MATROSKA = "matroska"  # also WebM

    @property
    def via_ffmpeg(self) -> bool:
        return self in (AudioFormat.MP4, AudioFormat.MATROSKA)

    @property
    def content_type(self) -> str:
        return _CONTENT_TYPES[self]


_CONTENT_TYPES = {
    AudioFormat.WAV: "audio/wav",
    AudioFormat.FLAC: "audio/flac",
    AudioFormat.OGG: "audio/ogg",
    AudioFormat.MP3: "audio/mpeg",
    AudioFormat.MP4: "video/mp4",
    AudioFormat.MATROSKA: "video/webm",
}

SUPPORTED_EXTENSIONS = ("wav", "flac", "ogg", "mp3", "m4a", "webm", "mp4", "mov", "mkv")


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
        if self.format is AudioFormat.MP4 and not self.has_video:
            return "audio/mp4"
        if self.format is AudioFormat.MATROSKA and not self.has_video:
            return "audio/webm"
        return self.format.content_type


@dataclass(frozen=True)
class DecodedAudio:
    """signal : np.ndarray [shape=(n,)] mono float32 at sr=16000; info : the original's."""

    signal: np.ndarray
    info: AudioInfo

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
    if not head:
        raise AudioDecodeError("The file is empty.")
    return head


def probe_audio(path: str | os.PathLike[str]) -> AudioInfo:
    """Read the container's header only: format, duration, sample rate, channels."""
    path = Path(path)
    fmt = sniff_format(_read_head(path))
    if fmt.via_ffmpeg:
        from ml.video import video_info

        vi = video_info(path)
        if not vi.has_audio:
            raise NoAudioTrackError("This file has no sound track.")
        return AudioInfo(
            format=fmt,
            duration=float(vi.duration or 0.0),
            sample_rate=int(vi.audio_sample_rate or 0),
            channels=int(vi.audio_channels or 0),
            has_video=bool(vi.has_video),
        )
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError) as err:
        raise AudioDecodeError(
            f"The file looks like {fmt.value.upper()} but could not be decoded; "
            "it may be corrupt or truncated."
        ) from err
    if info.samplerate <= 0 or info.channels <= 0:
        raise AudioDecodeError("The file declares no audio samples.")
    return AudioInfo(
        format=fmt,
        duration=float(info.frames) / info.samplerate,
        sample_rate=int(info.samplerate),
        channels=int(info.channels),
    )


def _check_duration(duration: float, max_duration: float | None) -> None:
    if max_duration is not None and duration > max_duration:
        raise AudioTooLongError(
            f"The recording is {_fmt_seconds(duration)} long; the limit is "
            f"{_fmt_seconds(max_duration)}."
        )


def _fmt_seconds(seconds: float) -> str:
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s"


def _read_soundfile(path: Path, info: AudioInfo, max_duration: float | None) -> np.ndarray:
    """Block-wise read and downmix, so a stereo 48 kHz file never sits in memory twice."""
    limit = None if max_duration is None else int((max_duration + 1) * info.sample_rate)
    parts: list[np.ndarray] = []
    total = 0
    try:
        with sf.SoundFile(str(path)) as fh:
            for block in fh.blocks(blocksize=_BLOCK, dtype="float32", always_2d=True):
                parts.append(block.mean(axis=1, dtype=np.float32))
                total += len(block)
                if limit is not None and total > limit:
                    break
    except (sf.LibsndfileError, RuntimeError) as err:
        if not parts:
            raise AudioDecodeError(
                f"The {info.format.value.upper()} data could not be decoded; "
                "the file may be corrupt or truncated."
            ) from err
        # A truncated tail: keep what decoded cleanly.
    signal = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    _check_duration(len(signal) / info.sample_rate, max_duration)
    return signal


def _ffmpeg_decode(path: Path, max_duration: float | None, timeout: float) -> np.ndarray:
    import imageio_ffmpeg

    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-hide_banner", "-v", "error"]
    cmd += ["-i", str(path), "-map", "0:a:0", "-vn", "-ac", "1", "-ar", str(SAMPLE_RATE)]
    if max_duration is not None:
        cmd += ["-t", f"{max_duration + 1:.3f}"]
    cmd += ["-f", "f32le", "pipe:1"]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as err:
        raise DecodeTimeoutError(
            f"Decoding took longer than {timeout:.0f} s and was stopped."
        ) from err
    if proc.returncode != 0 and not proc.stdout:
        raise AudioDecodeError("The sound track could not be decoded; the file may be corrupt.")
    data = proc.stdout[: len(proc.stdout) // 4 * 4]
    return np.frombuffer(data, dtype="<f4").astype(np.float32)


def _video_decode(path: Path, timeout: float) -> np.ndarray:
    from ml.video import extract_audio_track

    fd, tmp = tempfile.mkstemp(suffix=".wav")
    os.close(fd)
    try:
        extract_audio_track(path, tmp, sample_rate=SAMPLE_RATE, mono=True)
        signal, _ = sf.read(tmp, dtype="float32", always_2d=True)
        return signal.mean(axis=1, dtype=np.float32)
    finally:
        Path(tmp).unlink(missing_ok=True)


def to_mono_16k(signal: np.ndarray, sample_rate: int) -> np.ndarray:
    """signal : [shape=(n,) or (n, channels)] at ``sample_rate`` -> (m,) float32 at 16 kHz."""
    signal = np.asarray(signal, dtype=np.float32)
    if signal.ndim == 2:
        signal = signal.mean(axis=1, dtype=np.float32)
    if sample_rate != SAMPLE_RATE and len(signal):
        signal = soxr.resample(signal, sample_rate, SAMPLE_RATE, quality="HQ").astype(np.float32)
    return np.ascontiguousarray(signal)


def load_audio(
    path: str | os.PathLike[str],
    *,
    max_duration: float | None = None,
    timeout: float = DECODE_TIMEOUT,
) -> DecodedAudio:
    """Decode ``path`` to mono float32 at 16 kHz.

    The container's declared duration is checked against ``max_duration`` (seconds)
    before anything is decoded, so a small file that claims hours is refused at once.
    Raises ``AudioDecodeError`` (and subclasses), ``AudioTooLongError``,
    ``AudioTooShortError``.
    """
    path = Path(path)
    info = probe_audio(path)
    _check_duration(info.duration, max_duration)
    if info.format.via_ffmpeg:
        if info.has_video:
            raw = _video_decode(path, timeout)
        else:
            raw = _ffmpeg_decode(path, max_duration, timeout)
        _check_duration(len(raw) / SAMPLE_RATE, max_duration)
        signal = raw
    else:
        signal = to_mono_16k(_read_soundfile(path, info, max_duration), info.sample_rate)
    if not np.all(np.isfinite(signal)):
        signal = np.nan_to_num(signal, nan=0.0, posinf=0.0, neginf=0.0)
    duration = len(signal) / SAMPLE_RATE
    if duration < MIN_DURATION:
        raise AudioTooShortError(
            f"The recording is too short ({duration:.2f} s); at least {MIN_DURATION} s of "
            "audio is needed."
        )
    if info.duration <= 0:
        info = AudioInfo(info.format, duration, info.sample_rate, info.channels, info.has_video)
    return DecodedAudio(signal=signal, info=info)


# --- speech presence -----------------------------------------------------------------

_FRAME = 400  # 25 ms at 16 kHz
_HOP = 160  # 10 ms


def speech_activity(signal: np.ndarray) -> np.ndarray:
    """Boolean voice activity per 10 ms frame, from frame energy relative to the loudest.

    signal : np.ndarray [shape=(n,)] mono float32 at sr=16000 -> [shape=(frames,)] bool.
    """
    signal = np.asarray(signal, dtype=np.float32)
    if len(signal) < _FRAME:
        return np.zeros(0, dtype=bool)
    frames = np.lib.stride_tricks.sliding_window_view(signal, _FRAME)[::_HOP]
    energy = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)
    db = 20 * np.log10(energy + 1e-10)
    peak = np.percentile(db, 99)
    return (db > peak - 35) & (db > -55)


def ensure_speech(signal: np.ndarray) -> None:
    """Raise ``NoSpeechError`` when the signal holds no speech.

    signal : np.ndarray [shape=(n,)] mono float32 at sr=16000.
    """
    from ml.speech import speech_score

    if speech_score(signal) < 0.5:
        raise NoSpeechError(
            "No speech detected: the recording seems to hold silence, noise, music or a "
            "tone. Please upload a recording of someone speaking."
        )
