"""Watch the ffmpeg processes that :mod:`ml.ffmpeg` starts, to tell none outlived its call.

The runner starts every ffmpeg in a process group of its own, so a test keeps the
processes it saw start and asks the kernel whether any of their groups still holds a
process (a zombie counts: it was never reaped). No scan of ``/proc``, whose listing
changes under the reader as other threads start and end.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

from ml import ffmpeg


@contextmanager
def watching_ffmpeg() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Yield the list of the ffmpeg processes started meanwhile, in any thread."""
    started: list[subprocess.Popen[bytes]] = []
    start = ffmpeg._popen

    def record(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        proc = start(*args, **kwargs)
        started.append(proc)
        return proc

    with mock.patch.object(ffmpeg, "_popen", side_effect=record):
        yield started


def left_behind(started: list[subprocess.Popen[bytes]], *, grace: float = 5.0) -> list[int]:
    """The process groups among ``started`` that still hold a process, and the ffmpeg
    processes the runner has not reaped yet.

    A child of ffmpeg killed with it is reaped by init, not by us, a moment later: a
    group gets ``grace`` seconds to empty. A process still running then was not killed.
    """
    ends = time.monotonic() + grace
    alive = [proc.pid for proc in started]
    while True:
        alive = [pid for pid in alive if _group_exists(pid)]
        if not alive or time.monotonic() > ends:
            return sorted(set(alive) | set(ffmpeg.running()))
        time.sleep(0.05)


def _group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # the id was reused by another user's process: ours ended
        return False
    return True
