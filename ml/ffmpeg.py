"""Run the ffmpeg binary that ``imageio-ffmpeg`` ships, within a wall-clock deadline.

Every ffmpeg process of the ml package starts here (:func:`run`), for probing
(:mod:`ml.video`) and for decoding (:mod:`ml.audio`). Each one starts in a process group
of its own; when its time is up the whole group is killed and
:class:`~ml.errors.DecodeTimeoutError` is raised. At most one of its output streams is
read (the other goes nowhere, so ffmpeg never stalls on a full pipe), into one growing
buffer with a cap, so memory stays bounded whatever a file makes ffmpeg print.
"""

from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from ml.errors import DecoderUnavailableError, DecodeTimeoutError

MAX_ALLOC = str(256 << 20)
"""Bytes ffmpeg may allocate at once (``-max_alloc``): a header announcing a gigantic
table makes ffmpeg fail at once instead of taking gigabytes."""

_DESCRIPTOR = re.compile(r"file:/proc/self/fd/(\d+)")
_FIRST_READ = 1 << 16  # bytes of output read before the buffer grows (a report is smaller)

_lock = threading.Lock()
_running: dict[int, subprocess.Popen[bytes]] = {}


def format_seconds(seconds: float) -> str:
    """``12.5 s`` below a minute, ``3 min 05 s`` from there."""
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s"


class Deadline:
    """The wall-clock budget of one job (a decoding: its probe, its ffmpeg runs, its reads).

    ``timeout`` is in seconds; ``None`` is no limit.
    """

    def __init__(self, timeout: float | None) -> None:
        self.timeout = timeout
        self._end = math.inf if timeout is None else time.monotonic() + timeout

    def remaining(self) -> float:
        """Seconds left (``math.inf`` without a limit, 0 once it has passed)."""
        return max(self._end - time.monotonic(), 0.0)

    def check(self) -> None:
        """Raise :class:`DecodeTimeoutError` once the deadline has passed."""
        if time.monotonic() >= self._end:
            raise self.error()

    def error(self) -> DecodeTimeoutError:
        return DecodeTimeoutError(
            f"Decoding took longer than {format_seconds(self.timeout or 0.0)} and was stopped."
        )


@dataclass(frozen=True)
class Completed:
    """An ffmpeg run that ended before its deadline.

    returncode : ffmpeg's exit status (negative: killed by that signal, as on a cap).
    output : what the stream that was read gave, at most ``cap`` bytes.
    capped : the cap was reached and ffmpeg was stopped there.
    """

    returncode: int
    output: bytearray
    capped: bool


def executable() -> str:
    """The ffmpeg binary: ``IMAGEIO_FFMPEG_EXE`` if set, else the one imageio-ffmpeg ships."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def local_file(path: str | os.PathLike[str]) -> str:
    """``path`` as an ffmpeg input or output that can only mean a local file.

    Without the ``file:`` protocol a name such as ``-x``, ``concat:a|b`` or
    ``http://...`` would be read as an option or another protocol.
    """
    return f"file:{Path(path)}"


def run(
    args: Sequence[str],
    *,
    deadline: Deadline,
    read: Literal["stdout", "stderr"] | None = None,
    cap: int | None = None,
) -> Completed:
    """Run ``ffmpeg -nostdin -hide_banner -max_alloc ... <args>`` until it ends.

    ``read`` names the stream whose bytes are returned (up to ``cap`` bytes; ffmpeg is
    stopped there); the other streams go to ``/dev/null``. When ``deadline`` passes, ffmpeg
    and anything in its process group are killed and reaped, then
    :class:`~ml.errors.DecodeTimeoutError` is raised. No process outlives this call,
    whatever it raises.

    Raises
    ------
    DecodeTimeoutError
        The deadline passed before ffmpeg ended (or before it started).
    DecoderUnavailableError
        ffmpeg could not be started (missing, not executable, no process to be had).
    """
    deadline.check()
    command = [executable(), "-nostdin", "-hide_banner", "-max_alloc", MAX_ALLOC, *args]
    try:
        proc = _popen(
            command,
            stdout=subprocess.PIPE if read == "stdout" else subprocess.DEVNULL,
            stderr=subprocess.PIPE if read == "stderr" else subprocess.DEVNULL,
            pass_fds=_descriptors(args),
        )
    except OSError as err:
        raise DecoderUnavailableError(
            "The file could not be decoded on this server (the decoder did not start)."
        ) from err
    with _lock:
        _running[proc.pid] = proc
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        _kill_group(proc)

    timer = None
    if math.isfinite(deadline.remaining()):
        timer = threading.Timer(deadline.remaining(), expire)
        timer.daemon = True
        timer.start()
    stream = proc.stdout if read == "stdout" else proc.stderr
    try:
        output = bytearray() if stream is None else _read_into_bytearray(stream, cap)
        capped = cap is not None and len(output) >= cap
        if capped:
            _kill_group(proc)
        proc.wait()
    finally:
        if timer is not None:
            timer.cancel()
        if proc.returncode is None:  # an exception while reading (KeyboardInterrupt...)
            _kill_group(proc)
            proc.wait()
        if stream is not None:
            stream.close()
        with _lock:
            _running.pop(proc.pid, None)
    if expired.is_set():
        raise deadline.error()
    return Completed(proc.returncode, output, capped)


def running() -> list[int]:
    """Process ids of the ffmpeg processes :func:`run` started that have not been reaped.

    Empty whenever no :func:`run` is under way, in any thread.
    """
    with _lock:
        return sorted(_running)


def _descriptors(args: Sequence[str]) -> tuple[int, ...]:
    """The open descriptors that ``args`` name as files (``file:/proc/self/fd/N``, see
    ``ml.audio.descriptor_path``): ffmpeg gets them under the same numbers."""
    return tuple(sorted({int(m[1]) for arg in args if (m := _DESCRIPTOR.fullmatch(arg))}))


def _popen(
    command: list[str], *, stdout: int, stderr: int, pass_fds: tuple[int, ...] = ()
) -> subprocess.Popen[bytes]:
    # A process group of its own: a timeout kills ffmpeg and anything it started, and
    # nothing of another job's.
    return subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        process_group=0,
        pass_fds=pass_fds,
    )


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    # poll() first: once reaped, the id may belong to another process (as Popen.kill does).
    if proc.poll() is None:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


def _read_into_bytearray(stream: BinaryIO, cap: int | None) -> bytearray:
    """Everything ``stream`` gives, up to ``cap`` bytes, in one growing buffer.

    Unlike ``communicate()``, which joins a list of chunks, this never holds the output
    twice: the buffer doubles as needed (the zeros it grows by are half its size at most).
    """
    data = bytearray(min(cap or _FIRST_READ, _FIRST_READ))
    size = 0
    while cap is None or size < cap:
        if size == len(data):
            data.extend(bytes(min(len(data), (cap or 2 * size) - size)))
        with memoryview(data) as whole, whole[size:] as free:
            got = stream.readinto(free)  # type: ignore[attr-defined]
        if not got:
            break
        size += got
    del data[size:]
    return data
