"""The one ffmpeg runner: output read with a cap, a deadline that kills the process group.

Stand-ins for ffmpeg are small shell scripts (the runner's arguments are ignored by them).
"""

from __future__ import annotations

import shutil
import tempfile
import time
import unittest
from pathlib import Path
from unittest import mock

from ml import ffmpeg
from ml.errors import AudioDecodeError, DecoderUnavailableError, DecodeTimeoutError
from ml.ffmpeg import Deadline
from ml.tests.ffmpeg_processes import left_behind, watching_ffmpeg


class RunnerTests(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="test_ffmpeg_"))
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.started = self.enterContext(watching_ffmpeg())

    def _script(self, body: str) -> str:
        path = self.tmp / "fake-ffmpeg"
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)
        self.enterContext(mock.patch("ml.ffmpeg.executable", return_value=str(path)))
        return str(path)

    def test_it_returns_what_ffmpeg_writes_and_its_status(self) -> None:
        done = ffmpeg.run(["-version"], deadline=Deadline(30), read="stdout")
        self.assertEqual(done.returncode, 0)
        self.assertFalse(done.capped)
        self.assertTrue(done.output.startswith(b"ffmpeg version"), done.output[:40])

    def test_it_reads_the_stream_asked_for_and_drops_the_other(self) -> None:
        self._script('echo "on stdout"; echo "on stderr" >&2; exit 3')
        done = ffmpeg.run([], deadline=Deadline(30), read="stderr")
        self.assertEqual((done.returncode, bytes(done.output)), (3, b"on stderr\n"))
        self.assertEqual(bytes(ffmpeg.run([], deadline=Deadline(30)).output), b"")

    def test_it_passes_the_memory_limit_and_the_arguments(self) -> None:
        self._script('echo "$@"')
        done = ffmpeg.run(["-i", "file:x"], deadline=Deadline(30), read="stdout")
        self.assertEqual(
            done.output.decode().split(),
            ["-nostdin", "-hide_banner", "-max_alloc", ffmpeg.MAX_ALLOC, "-i", "file:x"],
        )

    def test_it_stops_ffmpeg_at_the_cap(self) -> None:
        self._script("exec cat /dev/zero")
        done = ffmpeg.run([], deadline=Deadline(30), read="stdout", cap=100_000)
        self.assertTrue(done.capped)
        self.assertEqual(len(done.output), 100_000)
        self.assertEqual(left_behind(self.started), [])

    def test_it_kills_the_whole_process_group_when_time_is_up(self) -> None:
        # A child of ffmpeg's that would outlive it if only ffmpeg were killed.
        self._script("sleep 60 &\nexec sleep 60")
        started = time.perf_counter()
        with self.assertRaises(DecodeTimeoutError) as caught:
            ffmpeg.run([], deadline=Deadline(0.5), read="stdout")
        self.assertLess(time.perf_counter() - started, 5)
        self.assertEqual(str(caught.exception), "Decoding took longer than 0.5 s and was stopped.")
        self.assertEqual(len(self.started), 1)
        self.assertEqual(left_behind(self.started), [])

    def test_it_starts_nothing_once_the_deadline_has_passed(self) -> None:
        with self.assertRaises(DecodeTimeoutError):
            ffmpeg.run(["-version"], deadline=Deadline(0))
        self.assertEqual(self.started, [])

    def test_it_says_so_when_ffmpeg_cannot_start(self) -> None:
        with (
            mock.patch("ml.ffmpeg.executable", return_value=str(self.tmp / "missing")),
            self.assertRaises(DecoderUnavailableError) as caught,
        ):
            ffmpeg.run(["-version"], deadline=Deadline(30))
        self.assertIsInstance(caught.exception, AudioDecodeError)  # services' input errors
        self.assertTrue(str(caught.exception).endswith("."))

    def test_it_kills_ffmpeg_when_the_caller_is_interrupted(self) -> None:
        self._script("exec sleep 60")
        with (
            mock.patch("ml.ffmpeg._read_into_bytearray", side_effect=KeyboardInterrupt),
            self.assertRaises(KeyboardInterrupt),
        ):
            ffmpeg.run([], deadline=Deadline(30), read="stdout")
        self.assertEqual(len(self.started), 1)
        self.assertEqual(left_behind(self.started), [])
        self.assertEqual(ffmpeg.running(), [])


class DeadlineTests(unittest.TestCase):
    def test_it_counts_down_and_raises_once_past(self) -> None:
        deadline = Deadline(0.2)
        self.assertLessEqual(deadline.remaining(), 0.2)
        deadline.check()
        time.sleep(0.25)
        self.assertEqual(deadline.remaining(), 0.0)
        with self.assertRaises(DecodeTimeoutError):
            deadline.check()

    def test_it_never_passes_without_a_timeout(self) -> None:
        self.assertEqual(Deadline(None).remaining(), float("inf"))
        Deadline(None).check()

    def test_it_names_the_file_as_a_local_file_only(self) -> None:
        self.assertEqual(ffmpeg.local_file("/data/concat:a|b"), "file:/data/concat:a|b")
        self.assertEqual(ffmpeg.local_file(Path("-i")), "file:-i")


if __name__ == "__main__":
    unittest.main()
