"""Pull the sound track out of a video file (mp4, mov, mkv, webm, ...).

The web service's decoder (for uploaded videos) and ``scripts/extract_audio.py`` (for the
RAVDESS audio-visual recordings) both go through :func:`extract_audio_track`, so a video
is turned into audio the same way for training and for prediction.

Decoding is done by moviepy, which drives the ffmpeg binary shipped with
``imageio-ffmpeg``. Everything moviepy or ffmpeg may raise on a bad file is turned into an
:class:`~ml.errors.AudioDecodeError` (or one of its subclasses) whose message is fit
for a user.
"""

from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from moviepy import AudioFileClip
from moviepy.audio.io.readers import FFMPEG_AudioReader
from moviepy.config import FFMPEG_BINARY
from moviepy.tools import ffmpeg_escape_filename
from moviepy.video.io.ffmpeg_reader import FFmpegInfosParser

from ml.audio import FFMPEG_MAX_ALLOC
from ml.errors import AudioDecodeError, DecodeTimeoutError, MLError, NoAudioTrackError

__all__ = ["VideoInfo", "extract_audio_track", "video_info"]

DEFAULT_PROBE_TIMEOUT = 30.0
"""Seconds a probe may take before :class:`~ml.errors.DecodeTimeoutError` is raised."""
DEFAULT_EXTRACT_TIMEOUT = 600.0
"""Seconds an extraction (probe included) may take; its ffmpeg processes are then killed."""

_KILL_POLL = 0.05  # seconds between two sweeps for ffmpeg processes once time is up

_UNREADABLE = "Could not read this video file: it is damaged or not in a supported format."
_NO_SOUND = "This video has no sound track."
_TOO_SLOW = "Reading this video file took too long."

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

# moviepy's reader sets ``proc`` only once its probe has succeeded, and its __del__ reads
# it: each reader whose probe failed (a timeout kills that probe) printed an "Exception
# ignored ... AttributeError" traceback when collected. A class default is enough.
FFMPEG_AudioReader.proc = None


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
    timeout: float | None = DEFAULT_PROBE_TIMEOUT,
    max_duration: float | None = None,
) -> VideoInfo:
    """Probe the headers of the media file ``src`` without decoding it.

    Uses ffmpeg's ``-i`` report as parsed by moviepy (the parser behind
    ``moviepy.video.io.ffmpeg_reader.ffmpeg_parse_infos``); the same report also gives
    the channel count, which moviepy does not expose. Only files whose headers carry no
    duration (live-streamed webm, as browsers' MediaRecorder writes) are decoded once to
    measure it: with ``max_duration`` (seconds) that decoding stops a second past it, and
    a file running longer gets ``duration = math.inf``.

    Raises
    ------
    FileNotFoundError
        ``src`` is not an existing file.
    DecodeTimeoutError
        ffmpeg took longer than ``timeout`` seconds.
    AudioDecodeError
        ffmpeg cannot read the file (corrupt, truncated, not a media file).
    """
    info, _ = _probe(Path(src), timeout=timeout, max_duration=max_duration)
    return info


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
    (ffmpeg mixes the channels down) and two channels otherwise (moviepy always reads
    sound as stereo). It is written to a temporary file next to ``dst`` and moved
    into place only when complete, so a failure never leaves a partial ``dst`` behind
    and an existing ``dst`` is replaced atomically. Files holding only sound
    (m4a, an mp4 without pictures) work too.

    ``timeout`` (seconds, ``None`` for none) bounds the whole extraction: when it runs
    out, the ffmpeg processes moviepy started for it are killed (on Linux, where they
    are found in ``/proc``) and :class:`~ml.errors.DecodeTimeoutError` is raised.
    The length of the result is the duration the container declares: check it first
    (:func:`video_info`) when the input is not trusted.

    Raises
    ------
    FileNotFoundError
        ``src`` is not an existing file, or the folder of ``dst`` does not exist.
    NoAudioTrackError
        The video has no sound track.
    DecodeTimeoutError
        Probing or extracting took longer than ``timeout``.
    AudioDecodeError
        moviepy/ffmpeg cannot read the file (corrupt, truncated, not a video).
    """
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    src, dst = Path(src), Path(dst)
    deadline = None if timeout is None else time.monotonic() + timeout
    probe_timeout = DEFAULT_PROBE_TIMEOUT if deadline is None else _remaining(deadline)
    info, needs_decode = _probe(src, timeout=min(probe_timeout, DEFAULT_PROBE_TIMEOUT))
    if not info.has_audio:
        raise NoAudioTrackError(_NO_SOUND)

    # The name must end in .wav: moviepy's writer lets ffmpeg pick the container from it.
    # (mkstemp would make the final file private to its owner: let ffmpeg create it.)
    if not dst.parent.is_dir():
        raise FileNotFoundError(f"No such folder: '{dst.parent}'")
    tmp = dst.with_name(f".{dst.name}.{uuid.uuid4().hex}.part.wav")
    try:
        with _killing_ffmpeg_at(deadline) as expired:
            try:
                _write_wav(src, tmp, sample_rate=sample_rate, mono=mono, decode_file=needs_decode)
            except AudioDecodeError as exc:
                if expired.is_set():
                    raise DecodeTimeoutError(_TOO_SLOW) from exc
                raise
        if expired.is_set():  # moviepy may carry on, padding with silence, once ffmpeg died
            raise DecodeTimeoutError(_TOO_SLOW)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)


def _remaining(deadline: float) -> float:
    return max(deadline - time.monotonic(), 0.0)


@contextmanager
def _killing_ffmpeg_at(deadline: float | None) -> Iterator[threading.Event]:
    """Kill the ffmpeg processes the calling thread starts once ``deadline`` has passed.

    moviepy runs ffmpeg through Popen objects it keeps to itself and waits on them with
    no timeout (its reader even leaves ffmpeg's stderr pipe unread, so a file producing
    many decoding errors stalls it for good). A watchdog thread kills them instead: the
    children the calling thread started since, so other threads' processes are left alone.
    The event yielded is set when time ran out.
    """
    expired = threading.Event()
    if deadline is None:
        yield expired
        return
    done = threading.Event()
    parent = threading.get_native_id()
    spared = set(_children_of(parent))

    def watch() -> None:
        if done.wait(_remaining(deadline)):
            return
        expired.set()
        # Keep sweeping until the work ends: moviepy may start a new reader after a kill.
        while True:
            for pid in set(_children_of(parent)) - spared:
                with suppress(OSError):  # it has just ended
                    os.kill(int(pid), signal.SIGKILL)
            if done.wait(_KILL_POLL):
                return

    watchdog = threading.Thread(target=watch, name="ffmpeg-watchdog", daemon=True)
    watchdog.start()
    try:
        yield expired
    finally:
        done.set()
        watchdog.join()


def _children_of(thread_id: int) -> list[str]:
    """Process ids of the running children the thread ``thread_id`` started (Linux).

    Elsewhere there is no such list: the caller still raises DecodeTimeoutError, but only
    once moviepy returns.
    """
    with suppress(OSError):
        return Path(f"/proc/self/task/{thread_id}/children").read_text().split()
    return []


def _write_wav(src: Path, tmp: Path, *, sample_rate: int, mono: bool, decode_file: bool) -> None:
    clip = None
    try:
        # An AudioFileClip reads the sound of a video without decoding its pictures, and
        # unlike VideoFileClip(audio=True) it passes decode_file on to the sound reader,
        # which headers without a duration (live webm) need. Asking the reader for
        # sample_rate lets ffmpeg resample with a proper filter; writing at another rate
        # than the reader's would pick the nearest samples and alias.
        clip = AudioFileClip(str(src), decode_file=decode_file, fps=sample_rate, nbytes=2)
        clip.write_audiofile(
            str(tmp),
            fps=sample_rate,
            nbytes=2,
            codec="pcm_s16le",
            ffmpeg_params=["-ac", "1"] if mono else None,
            logger=None,
        )
    except MLError:
        raise
    except Exception as exc:
        # moviepy reports bad input as OSError, KeyError, IndexError, ValueError,
        # AttributeError, TypeError... none of which is meaningful to a caller.
        raise AudioDecodeError(_UNREADABLE) from exc
    finally:
        if clip is not None:
            clip.close()
    # moviepy does not check ffmpeg's exit status: a WAV with no samples means it failed.
    if not tmp.is_file() or tmp.stat().st_size <= 44:
        raise AudioDecodeError(_UNREADABLE)


def _probe(
    src: Path,
    *,
    timeout: float | None = DEFAULT_PROBE_TIMEOUT,
    max_duration: float | None = None,
) -> tuple[VideoInfo, bool]:
    """Return the file's :class:`VideoInfo` and whether it had to be decoded for it."""
    if not src.is_file():
        raise FileNotFoundError(f"No such file: '{src}'")
    deadline = None if timeout is None else time.monotonic() + timeout
    report = _ffmpeg_report(src, [], timeout=timeout)
    needs_decode = "Duration: N/A" in report
    measured_up_to = None
    if needs_decode:
        # moviepy's decode_file strategy: decode to nowhere and read the last "time=".
        # Only the sound, when there is one, and no further than a second past the limit.
        output = ["-vn", "-sn", "-dn"] if _AUDIO_STREAM.search(report) else []
        if max_duration is not None:
            measured_up_to = max_duration + 1.0
            output += ["-t", f"{measured_up_to:.3f}"]
        left = None if deadline is None else _remaining(deadline)
        report = _ffmpeg_report(src, [*output, "-f", "null", "-"], timeout=left)
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
    info = VideoInfo(
        duration=duration,
        has_video=has_video,
        has_audio=has_audio,
        audio_sample_rate=sample_rate,
        audio_channels=channels,
    )
    return info, needs_decode


def _ffmpeg_report(src: Path, output_args: list[str], *, timeout: float | None) -> str:
    """Run ``ffmpeg -i src [output_args]`` and return what it prints about the input."""
    cmd = [FFMPEG_BINARY, "-hide_banner", "-nostdin", "-max_alloc", FFMPEG_MAX_ALLOC]
    cmd += ["-i", ffmpeg_escape_filename(str(src)), *output_args]
    try:
        done = subprocess.run(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise DecodeTimeoutError(_TOO_SLOW) from exc
    except OSError as exc:  # ffmpeg missing or not runnable, no process left (EAGAIN)
        raise AudioDecodeError(_UNREADABLE) from exc
    # Without an output file ffmpeg always exits with 1: its report is the result.
    return done.stderr.decode("utf-8", errors="replace")


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
