"""scripts/weigh_members.py on saved held-out logits of two members, one right everywhere."""

from __future__ import annotations

import contextlib
import io
import tempfile
import unittest
from pathlib import Path

import numpy as np

from ml.tests.test_ensemble import CORPORA, _held_out
from scripts.weigh_members import main


class WeighMembersTests(unittest.TestCase):
    def setUp(self) -> None:
        held = _held_out({c: (True, c == "a") for c in CORPORA})
        self.dir = tempfile.TemporaryDirectory()
        self.path = Path(self.dir.name) / "loco.npz"
        np.savez(
            self.path,
            members=held.members,
            labels=held.labels,
            corpora=held.corpora,
            names=np.array(["enc-1337", "func-1338"]),
            blocks=np.array([2, 0]),
        )

    def tearDown(self) -> None:
        self.dir.cleanup()

    def _run(self, *argv: str) -> str:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            main([str(self.path), *argv])
        return out.getvalue()

    def test_it_weighs_the_member_that_is_right_on_new_corpora(self) -> None:
        out = self._run()
        # Any weighting that leans on member 0 is right everywhere; ties go to the flattest.
        self.assertRegex(out, r"weights 0: enc-1337 \(block 2\) 0\.[6-9], 1: func-1338 0\.[1-4]")
        self.assertIn("mean UA 1.000", out)
        self.assertIn("1: func-1338 alone", out)

    def test_it_scores_only_the_members_chosen(self) -> None:
        out = self._run("--members", "1")
        self.assertIn("weights 1: func-1338 1.0", out)
        self.assertNotIn("enc-1337", out)
        self.assertRegex(out, r"mean UA 0\.[0-4]")  # wrong on three corpora of four

    def test_it_refuses_a_member_the_file_does_not_have(self) -> None:
        with self.assertRaises(SystemExit):
            self._run("--members", "2")
