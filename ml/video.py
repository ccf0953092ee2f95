"""Probe media files through ffmpeg, and pull the sound track out of a video.

The web service's decoder (:mod:`ml.audio`, for MP4/MOV/M4A and Matroska/WebM) and
``scripts/extract_audio.py`` (for the RAVDESS audio-visual recordings) both come here, so
a video is turned into audio the same way for training and for prediction: by the ffmpeg
binary that ``imageio-ffmpeg`` ships, run through :func:`ml.ffmpeg.run` within a
deadline. Whatever ffmpeg makes of a bad file becomes an
:class:`~ml.errors.AudioDecodeError` (or one of its subclasses) whose message is fit
for a user.
"""

from __future__ import annotations

import math
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

from ml import ffmpeg
from ml.errors import AudioDecodeError, NoAudioTrackError
from ml.ffmpeg import Deadline

__all__ = ["VideoInfo", "extract_audio_track", "video_info"]

DEFAULT_PROBE_TIMEOUT = 30.0
"""Seconds a probe may take before :class:`~ml.errors.DecodeTimeoutError` is raised."""
DEFAULT_EXTRACT_TIMEOUT = 600.0
"""Seconds an extraction (probe included) may take; its ffmpeg process is then killed."""

_UNREADABLE = "Could not read this video file: it is damaged or not in a supported format."
_NO_SOUND = "This video has no sound track."
# ffmpeg's report on a file is a few kilobytes; a damaged file decoded to measure its
# length adds a line per error. Past this the file is refused rather than held in memory.
_REPORT_CAP = 8 << 20

# Channel layouts as ffmpeg names them; "5.1(side)" and the like are reduced to "5.1".
_NAMED_LAYOUTS = {
    "mono": 1,
    "stereo": 2,
    "downmix": 2,
    "binaural": 2,
    "quad": 4,
    "hexagonal": 6,
    "octagonal": 8,
    "hexadecagonal": 16,
}
_AUDIO_STREAM = re.compile(r"Stream #(\d+):(\d+)\S*: Audio: (.*)")


@dataclass(frozen=True, slots=True)
class VideoInfo:
    """What a media file's headers say about it.

    duration : float
        Length of the container in seconds.
    has_video, has_audio : bool
        Whether the file holds a picture stream / a sound stream.
    audio_sample_rate : int or None
        Sample rate in Hz of the default sound stream as stored (e.g. 44100, 48000);
        ``None`` without sound or when ffmpeg does not report it.
    audio_channels : int or None
        Channel count of the default sound stream as stored (1 mono, 2 stereo, ...).
    """

    duration: float
    has_video: bool
    has_audio: bool
    audio_sample_rate: int | None
    audio_channels: int | None


def video_info(
    src: str | Path,
    *,
    timeout: float | Deadline | None = DEFAULT_PROBE_TIMEOUT,
    max_duration: float | None = None,
) -> VideoInfo:
    """Probe the headers of the media file ``src`` without decoding it.

    Uses ffmpeg's ``-i`` report as parsed by moviepy (the parser behind
    ``moviepy.video.io.ffmpeg_reader.ffmpeg_parse_infos``); the same report also gives
    the channel count, which moviepy does not expose. Only files whose headers carry no
    duration (live-streamed webm, as browsers' MediaRecorder writes) are decoded once to
    measure it: with ``max_duration`` (seconds) that decoding stops a second past it, and
    a file running longer gets ``duration = math.inf``. ``timeout`` is in seconds, or the
    :class:`~ml.ffmpeg.Deadline` of a larger job that this probe is part of.

    Raises
    ------
    FileNotFoundError
        ``src`` is not an existing file.
    DecodeTimeoutError
        ffmpeg took longer than ``timeout`` seconds.
    AudioDecodeError
        ffmpeg cannot read the file (corrupt, truncated, not a media file).
    """
    return _probe(Path(src), deadline=_deadline(timeout), max_duration=max_duration)


def extract_audio_track(
    src: str | Path,
    dst: str | Path,
    *,
    sample_rate: int = 16000,
    mono: bool = True,
    timeout: float | None = DEFAULT_EXTRACT_TIMEOUT,
) -> None:
    """Write the sound track of the video ``src`` to ``dst`` as a 16-bit PCM WAV.

    The output is ``sample_rate`` Hz (resampled by ffmpeg), one channel when ``mono``
    (ffmpeg mixes the channels down) and two channels otherwise. It is written to a
    temporary file next to ``dst`` and moved into place only when complete, so a failure
    never leaves a partial ``dst`` behind and an existing ``dst`` is replaced atomically.
    Files holding only sound (m4a, an mp4 without pictures) work too.

    ``timeout`` (seconds, ``None`` for none) bounds the whole extraction, probe included:
    when it runs out, ffmpeg is killed and :class:`~ml.errors.DecodeTimeoutError` is
    raised. The length of the result is that of the sound track: check the declared
    duration first (:func:`video_info`) when the input is not trusted.

    Raises
    ------
    FileNotFoundError
        ``src`` is not an existing file, or the folder of ``dst`` does not exist.
    NoAudioTrackError
        The video has no sound track.
    DecodeTimeoutError
        Probing or extracting took longer than ``timeout``.
    AudioDecodeError
        ffmpeg cannot read the file (corrupt, truncated, not a video).
    """
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    src, dst = Path(src), Path(dst)
    deadline = Deadline(timeout)
    info = _probe(src, deadline=deadline)
    if not info.has_audio:
        raise NoAudioTrackError(_NO_SOUND)
    if not dst.parent.is_dir():
        raise FileNotFoundError(f"No such folder: '{dst.parent}'")
    tmp = dst.with_name(f".{dst.name}.{uuid.uuid4().hex}.part")
    try:
        done = ffmpeg.run(
            ["-v", "error", "-i", ffmpeg.local_file(src), "-map", "0:a:0", "-vn", "-sn", "-dn",
             "-ac", "1" if mono else "2", "-ar", str(sample_rate), "-c:a", "pcm_s16le",
             "-f", "wav", ffmpeg.local_file(tmp)],
            deadline=deadline,
        )  # fmt: skip
        if done.returncode != 0 or not _holds_samples(tmp):
            raise AudioDecodeError(_UNREADABLE)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)


def _deadline(timeout: float | Deadline | None) -> Deadline:
    return timeout if isinstance(timeout, Deadline) else Deadline(timeout)


def _holds_samples(wav: Path) -> bool:
    try:
        return sf.info(str(wav)).frames > 0
    except (RuntimeError, OSError):  # not written, or not a WAV
        return False


def _probe(src: Path, *, deadline: Deadline, max_duration: float | None = None) -> VideoInfo:
    # moviepy takes about a second to import, and only its report parser is used.
    from moviepy.video.io.ffmpeg_reader import FFmpegInfosParser

    if not src.is_file():
        raise FileNotFoundError(f"No such file: '{src}'")
    report = _ffmpeg_report(src, [], deadline=deadline)
    needs_decode = "Duration: N/A" in report
    measured_up_to = None
    if needs_decode:
        # moviepy's decode_file strategy: decode to nowhere and read the last "time=".
        # Only the sound, when there is one, and no further than a second past the limit.
        output = ["-vn", "-sn", "-dn"] if _AUDIO_STREAM.search(report) else []
        if max_duration is not None:
            measured_up_to = max_duration + 1.0
            output += ["-t", f"{measured_up_to:.3f}"]
        report = _ffmpeg_report(src, [*output, "-f", "null", "-"], deadline=deadline)
    try:
        infos = FFmpegInfosParser(report, str(src), decode_file=needs_decode).parse()
        duration = float(infos["duration"])
    except Exception as exc:
        # The parser fails with TypeError/IOError/KeyError on ffmpeg's error output.
        raise AudioDecodeError(_UNREADABLE) from exc
    if not math.isfinite(duration) or duration < 0:
        raise AudioDecodeError(_UNREADABLE)
    if measured_up_to is not None and duration >= measured_up_to - 0.5:
        duration = math.inf  # decoding was stopped: all we know is that it is too long
    has_video = bool(infos.get("video_found"))
    has_audio = bool(infos.get("audio_found"))
    if not (has_video or has_audio):
        raise AudioDecodeError(_UNREADABLE)

    sample_rate = channels = None
    if has_audio:
        fps = infos.get("audio_fps")
        sample_rate = fps if isinstance(fps, int) else None
        channels = _channel_count(
            report,
            infos.get("default_audio_input_number"),
            infos.get("default_audio_stream_number"),
        )
    return VideoInfo(
        duration=duration,
        has_video=has_video,
        has_audio=has_audio,
        audio_sample_rate=sample_rate,
        audio_channels=channels,
    )


def _ffmpeg_report(src: Path, output_args: list[str], *, deadline: Deadline) -> str:
    """Run ``ffmpeg -i src [output_args]`` and return what it prints about the input."""
    done = ffmpeg.run(
        ["-i", ffmpeg.local_file(src), *output_args],
        deadline=deadline,
        read="stderr",
        cap=_REPORT_CAP,
    )
    if done.capped:
        raise AudioDecodeError(_UNREADABLE)
    # Without an output file ffmpeg always exits with 1: its report is the result.
    return done.output.decode("utf-8", errors="replace")


def _channel_count(report: str, input_number: int | None, stream_number: int | None) -> int | None:
    """Channel count of the default audio stream, from its line in ffmpeg's report.

    The line reads like ``Stream #0:1[0x2](und): Audio: aac (LC), 44100 Hz, stereo, ...``.
    """
    layout = None
    for line in report.splitlines():
        match = _AUDIO_STREAM.search(line)
        if match is None:
            continue
        rate_and_layout = re.search(r"\d+ Hz, ([^,]+)", match.group(3))
        if rate_and_layout is None:
            continue
        if layout is None:  # the first audio stream, unless the default one comes later
            layout = rate_and_layout.group(1).strip()
        if (int(match.group(1)), int(match.group(2))) == (input_number, stream_number):
            layout = rate_and_layout.group(1).strip()
            break
    if layout is None:
        return None
    counted = re.match(r"(\d+) channels?", layout)
    if counted:
        return int(counted.group(1))
    base = layout.split("(")[0]
    if base in _NAMED_LAYOUTS:
        return _NAMED_LAYOUTS[base]
    dotted = re.fullmatch(r"(\d+)\.(\d+)", base)  # "5.1" = 5 full-range + 1 LFE
    if dotted:
        return int(dotted.group(1)) + int(dotted.group(2))
    return None
