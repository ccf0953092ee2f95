"""The contract of ``python -m ml predict --jsonl FILE [FILE ...]`` that other tools rely on.

One JSON object per input file, in input order, and nothing else on standard output; a
bad file gets an ``error`` object and the others go on; the exit status is 1 when any file
failed. Every run loads TensorFlow in a fresh interpreter, so each class runs the command
once in ``setUpClass`` and its tests check that one run from several sides.
"""

from __future__ import annotations

import json
import shutil
import unittest
from pathlib import Path

from ml.labels import EMOTION_NAMES, Emotion
from ml.recognizer import default_model_path
from ml.tests.helpers import (
    TempDirMixin,
    ravdess_path,
    run_ml,
    white_noise,
    write_audio,
    write_speech,
)

RESULT_KEYS = {"file", "emotion", "confidence", "probabilities", "clear", "verdict"}


class _Run(TempDirMixin):
    """``cls.files``: the arguments; ``cls.result``, ``cls.rows``: what the command printed."""

    files: list[str]

    @classmethod
    def run_predict(cls, *args: str | Path) -> None:
        cls.result = run_ml("predict", "--jsonl", *args)
        cls.lines = cls.result.stdout.splitlines()
        cls.rows = [json.loads(line) for line in cls.lines if line.strip()]

    def test_it_prints_only_json_lines(self) -> None:
        for line in self.lines:
            with self.subTest(line=line[:80]):
                self.assertIsInstance(json.loads(line), dict)

    def test_it_prints_one_object_per_file_in_input_order(self) -> None:
        self.assertEqual([row["file"] for row in self.rows], self.files)
        self.assertEqual(len(self.lines), len(self.files))

    def assertResult(self, row: dict) -> None:
        self.assertEqual(set(row), RESULT_KEYS)
        probs = row["probabilities"]
        self.assertEqual(list(probs), list(EMOTION_NAMES))
        self.assertAlmostEqual(sum(probs.values()), 1.0, delta=1e-4)
        self.assertTrue(all(0.0 <= p <= 1.0 for p in probs.values()))
        self.assertEqual(row["emotion"], max(probs, key=probs.get))
        self.assertEqual(row["confidence"], max(probs.values()))
        # "clear" says whether the top emotion may be named; "verdict" is what to show.
        self.assertIsInstance(row["clear"], bool)
        if row["clear"]:
            self.assertEqual(row["verdict"], row["emotion"].capitalize())
        else:
            self.assertRegex(row["verdict"], rf"^(No clear emotion|Mixed: {row['emotion']}, \w+)$")


class MixedBatchTests(_Run, unittest.TestCase):
    """Good and bad files with the bundled model."""

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        text = cls.tmp / "notes.wav"
        text.write_text("not audio at all\n" * 20)
        noise = write_audio(cls.tmp / "noise.wav", white_noise(2.0, seed=31))
        cls.good = {
            "flac": str(ravdess_path(Emotion.ANGRY, actor=2, intensity=2, statement=2)),
            "wav": str(write_speech(cls.tmp / "happy 44k.wav", sample_rate=44100, channels=2)),
            "ogg": str(write_speech(cls.tmp / "sad.ogg", emotion=Emotion.SAD, actor=7)),
        }
        cls.bad = {
            "text": str(text),
            "missing": str(cls.tmp / "missing.wav"),
            "noise": str(noise),
        }
        g, b = cls.good, cls.bad
        cls.files = [g["flac"], b["text"], g["wav"], b["missing"], b["noise"], g["ogg"]]
        cls.run_predict(*cls.files)

    def test_it_exits_with_status_1_when_a_file_failed(self) -> None:
        self.assertEqual(self.result.returncode, 1, self.result.stderr)

    def test_it_classifies_the_good_files(self) -> None:
        by_file = {row["file"]: row for row in self.rows}
        for name, path in self.good.items():
            with self.subTest(file=name):
                self.assertResult(by_file[path])

    def test_it_reports_each_bad_file_and_goes_on(self) -> None:
        by_file = {row["file"]: row for row in self.rows}
        expected = {
            "text": "not a supported audio or video format",
            "missing": "could not be read",
            "noise": "No speech detected",
        }
        for name, fragment in expected.items():
            with self.subTest(file=name):
                row = by_file[self.bad[name]]
                self.assertEqual(set(row), {"file", "error"})
                self.assertIn(fragment, row["error"])


class OtherModelTests(_Run, unittest.TestCase):
    """``--model`` with a copy of the bundled model whose temperature flattens everything,
    and whose clarity rule calls any lead clear."""

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        model = cls.tmp / "flat-model"
        shutil.copytree(default_model_path(), model)
        meta = json.loads((model / "meta.json").read_text())
        meta["temperature"] = 1e4  # nearly uniform, yet the order survives rounding
        meta["clarity"] = {"min_confidence": 0.0, "min_margin": 0.0}
        (model / "meta.json").write_text(json.dumps(meta))
        cls.files = [
            str(ravdess_path(Emotion.ANGRY, actor=2, intensity=2, statement=2)),
            str(ravdess_path(Emotion.FEARFUL, actor=19, intensity=2)),
        ]
        cls.run_predict("--model", model, *cls.files)

    def test_it_exits_with_status_0_when_every_file_succeeded(self) -> None:
        self.assertEqual(self.result.returncode, 0, self.result.stderr)

    def test_it_uses_the_model_it_is_given(self) -> None:
        # The bundled model is never this unsure; the copy's temperature makes it uniform.
        for row in self.rows:
            self.assertResult(row)
            for p in row["probabilities"].values():
                self.assertAlmostEqual(p, 1 / len(EMOTION_NAMES), delta=1e-3)

    def test_it_judges_clarity_by_the_rule_in_the_models_meta_json(self) -> None:
        # The default rule would find no clear emotion in a flat prediction; this one does.
        for row in self.rows:
            self.assertEqual((row["clear"], row["verdict"]), (True, row["emotion"].capitalize()))


class BadModelTests(TempDirMixin, unittest.TestCase):
    """A bad ``--model`` stops the command before any file (and before TensorFlow)."""

    def test_it_fails_with_a_message_on_stderr(self) -> None:
        model = self.tmp / "no-such-model"
        result = run_ml("predict", "--jsonl", "--model", model, ravdess_path())
        self.assertNotEqual(result.returncode, 0)
        self.assertEqual(result.stdout, "")
        self.assertIn(f"No model directory at {model}", result.stderr)
