"""``python -m ml predict|timeline --decode-timeout S``: a flag, not an environment variable."""

from __future__ import annotations

import contextlib
import io
import unittest
from unittest import mock

from ml import audio, cli


class DecodeTimeoutFlagTests(unittest.TestCase):
    def setUp(self) -> None:
        self.addCleanup(audio.configure, decode_timeout=audio.decode_timeout())

    def test_it_sets_the_decoders_time_limit_before_the_command_runs(self) -> None:
        def limit_seen(args: object) -> float:
            return audio.decode_timeout()

        for command in ("predict", "timeline"):
            with (
                self.subTest(command),
                mock.patch(f"ml.cli.cmd_{command}", side_effect=limit_seen),
            ):
                self.assertEqual(cli.main([command, "--decode-timeout", "7.5", "x.wav"]), 7.5)
                self.assertEqual(cli.main([command, "x.wav"]), 120.0)

    def test_it_refuses_a_limit_that_is_not_a_positive_number(self) -> None:
        for bad in ("0", "-3", "nan", "inf", "soon"):
            with (
                self.subTest(bad),
                contextlib.redirect_stderr(io.StringIO()) as err,
                self.assertRaises(SystemExit),
            ):
                cli.main(["predict", "--decode-timeout", bad, "x.wav"])
            self.assertIn("not a positive number of seconds", err.getvalue())


if __name__ == "__main__":
    unittest.main()
