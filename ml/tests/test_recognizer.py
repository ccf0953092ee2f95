"""The bundled model: valid probabilities, repeatable answers, and clear load errors.

The model may be replaced by a better one, so nothing here depends on which emotion a
particular file gets; only on properties every usable model has.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import unittest
from pathlib import Path
from typing import Any

import numpy as np

from ml.audio import load_audio
from ml.errors import AudioTooShortError, ModelLoadError, NoSpeechError
from ml.labels import EMOTION_NAMES, EMOTIONS, Emotion
from ml.recognizer import (
    EmotionRecognizer,
    Prediction,
    default_model_path,
    file_sha256,
    get_recognizer,
    read_meta,
)
from ml.tests.helpers import (
    REPO,
    SPEECH_TAKES,
    TempDirMixin,
    ravdess_path,
    speech,
    tone,
    white_noise,
    write_speech,
)


class PredictionAssertions(unittest.TestCase):
    def assertValidPrediction(self, prediction: Prediction) -> None:
        probs = prediction.probabilities
        self.assertEqual(tuple(probs), EMOTION_NAMES)
        values = np.array(list(probs.values()))
        self.assertTrue(np.all((values >= 0) & (values <= 1)), probs)
        self.assertAlmostEqual(float(values.sum()), 1.0, delta=1e-6)
        self.assertIsInstance(prediction.emotion, Emotion)
        self.assertEqual(prediction.emotion.value, max(probs, key=probs.get))
        self.assertEqual(prediction.confidence, max(probs.values()))


class PredictionTests(TempDirMixin, PredictionAssertions):
    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.rec = get_recognizer()

    def test_it_gives_a_probability_for_every_emotion(self) -> None:
        for take in SPEECH_TAKES:
            with self.subTest(**{k: str(v) for k, v in take.items()}):
                self.assertValidPrediction(self.rec.predict_file(ravdess_path(**take)))

    def test_it_answers_the_same_twice(self) -> None:
        path = ravdess_path(Emotion.SAD, actor=7, repetition=2)
        first = self.rec.predict_file(path)
        self.assertEqual(self.rec.predict_file(path), first)
        self.assertEqual(self.rec.predict_signal(load_audio(path).signal), first)

    def test_it_answers_alike_for_the_same_speech_in_another_format(self) -> None:
        flac = ravdess_path(Emotion.FEARFUL, actor=19, intensity=2)
        wav = write_speech(
            self.tmp / "fearful.wav", emotion=Emotion.FEARFUL, actor=19, intensity=2,
            sample_rate=44100, channels=2,
        )  # fmt: skip
        a, b = self.rec.predict_file(flac), self.rec.predict_file(wav)
        for name in EMOTION_NAMES:
            self.assertAlmostEqual(a.probabilities[name], b.probabilities[name], delta=0.03)

    def test_it_tells_emotions_apart(self) -> None:
        # One take of each emotion by one actor: a collapsed model answers one label for all.
        answers = {self.rec.predict_file(ravdess_path(e, actor=3)).emotion for e in EMOTIONS}
        self.assertGreaterEqual(len(answers), 3, answers)

    def test_it_refuses_audio_under_half_a_second(self) -> None:
        with self.assertRaises(AudioTooShortError):
            self.rec.predict_signal(speech()[:4000])

    def test_it_refuses_sounds_that_are_not_speech(self) -> None:
        for signal in (white_noise(2.0, seed=11), tone(2.0)):
            with self.assertRaises(NoSpeechError):
                self.rec.predict_signal(signal)

    def test_it_classifies_anything_when_the_speech_check_is_off(self) -> None:
        prediction = self.rec.predict_signal(white_noise(2.0, seed=12), check_speech=False)
        self.assertValidPrediction(prediction)

    def test_it_refuses_a_signal_that_is_not_mono(self) -> None:
        stereo = np.stack([speech(), speech()], axis=1)
        with self.assertRaises(ValueError):
            self.rec.predict_signal(stereo)

    def test_it_describes_the_model_it_loaded(self) -> None:
        meta = read_meta(self.rec.path)
        self.assertEqual(self.rec.name, meta["name"])
        self.assertRegex(self.rec.sha256, r"^[0-9a-f]{64}$")
        if len(meta["members"]) == 1:
            weights = self.rec.path / meta["members"][0]["weights"]
            self.assertEqual(self.rec.sha256, file_sha256(weights))

    def test_it_loads_the_model_once_per_process(self) -> None:
        self.assertIs(get_recognizer(), self.rec)
        self.assertIs(get_recognizer(default_model_path()), self.rec)
        self.assertIs(get_recognizer(str(default_model_path())), self.rec)


class PredictionObjectTests(PredictionAssertions):
    def test_it_normalises_scores_into_probabilities(self) -> None:
        prediction = Prediction.from_probs(np.array([1, 1, 6, 0, 0, 0, 0, 2], dtype=float))
        self.assertValidPrediction(prediction)
        self.assertIs(prediction.emotion, Emotion.HAPPY)
        self.assertAlmostEqual(prediction.confidence, 0.6)

    def test_it_serialises_to_plain_json(self) -> None:
        prediction = Prediction.from_probs(np.arange(1, 9, dtype=float))
        data = json.loads(json.dumps(prediction.to_dict()))
        self.assertEqual(set(data), {"emotion", "confidence", "probabilities", "clear", "verdict"})
        self.assertEqual(data["emotion"], "surprised")
        self.assertIs(data["clear"], prediction.verdict.clear)
        self.assertEqual(data["verdict"], prediction.verdict.text)
        self.assertEqual(list(data["probabilities"]), list(EMOTION_NAMES))
        self.assertAlmostEqual(sum(data["probabilities"].values()), 1.0, delta=1e-5)


class LoadErrorTests(TempDirMixin, unittest.TestCase):
    """Each test damages its own copy of the bundled model in one way."""

    def _copy(self, name: str) -> Path:
        target = self.tmp / name
        shutil.copytree(default_model_path(), target)
        return target

    def _edit_meta(self, name: str, change: Any) -> Path:
        path = self._copy(name)
        meta = json.loads((path / "meta.json").read_text())
        change(meta)
        (path / "meta.json").write_text(json.dumps(meta))
        return path

    def _weights(self, path: Path) -> Path:
        return path / json.loads((path / "meta.json").read_text())["members"][0]["weights"]

    def assertLoadError(self, path: Path, *fragments: str) -> None:
        with self.assertRaises(ModelLoadError) as caught:
            EmotionRecognizer.from_path(path)
        for fragment in fragments:
            self.assertIn(fragment, str(caught.exception))

    def test_it_names_a_missing_directory(self) -> None:
        missing = self.tmp / "no-such-model"
        self.assertLoadError(missing, "No model directory", str(missing))

    def test_it_names_a_missing_meta_json(self) -> None:
        path = self._copy("no-meta")
        (path / "meta.json").unlink()
        self.assertLoadError(path, "has no meta.json", str(path))

    def test_it_rejects_a_meta_json_that_is_not_json(self) -> None:
        path = self._copy("bad-json")
        (path / "meta.json").write_text('{"format": "speechemotion-model",')
        self.assertLoadError(path, "is not valid JSON")

    def test_it_rejects_other_labels(self) -> None:
        cases = {
            "reordered": lambda m: m.update(labels=sorted(EMOTION_NAMES)),
            "seven": lambda m: m.update(labels=list(EMOTION_NAMES[:7])),
            "missing": lambda m: m.pop("labels"),
        }
        for name, change in cases.items():
            with self.subTest(labels=name):
                self.assertLoadError(self._edit_meta(f"labels-{name}", change), "labels")

    def test_it_rejects_another_format_version(self) -> None:
        path = self._edit_meta("v99", lambda m: m.update(version=99))
        self.assertLoadError(path, "version 99")

    def test_it_rejects_a_missing_weights_file(self) -> None:
        path = self._copy("no-weights")
        weights = self._weights(path)
        weights.unlink()
        self.assertLoadError(path, "lacks the weights file", weights.name)

    def test_it_rejects_tampered_weights(self) -> None:
        path = self._copy("tampered")
        weights = self._weights(path)
        data = bytearray(weights.read_bytes())
        data[len(data) // 2] ^= 0xFF
        weights.write_bytes(bytes(data))
        self.assertLoadError(path, "does not match the SHA-256", weights.name)

    def test_it_rejects_weights_that_are_not_a_model(self) -> None:
        # The loader runs the ONNX export of each member (see test_export.py).
        def forget_digest(meta: dict) -> None:
            meta["members"][0]["onnx_sha256"] = ""

        path = self._edit_meta("not-a-model", forget_digest)
        weights = path / json.loads((path / "meta.json").read_text())["members"][0]["onnx"]
        weights.write_bytes(b"definitely not an onnx graph")
        self.assertLoadError(path, "could not be loaded", weights.name)

    def test_it_rejects_a_bad_feature_configuration(self) -> None:
        def typo(meta: dict) -> None:
            meta["members"][0]["features"]["n_melz"] = 64

        self.assertLoadError(self._edit_meta("typo", typo), "bad feature configuration", "n_melz")

    def test_it_rejects_a_bad_logit_bias(self) -> None:
        cases = {
            "unknown-emotion": {"bored": 1.0},
            "not-a-number": {"neutral": "high"},
            "not-a-mapping": [1.0],
        }
        for name, bias in cases.items():
            with self.subTest(bias=name):
                path = self._edit_meta(f"bias-{name}", lambda m, b=bias: m.update(logit_bias=b))
                self.assertLoadError(path, "logit_bias")

    def test_it_adds_the_logit_bias_to_its_answer(self) -> None:
        path = self._edit_meta("biased", lambda m: m.update(logit_bias={"neutral": 50.0}))
        take = ravdess_path(Emotion.ANGRY, actor=12)
        self.assertEqual(
            EmotionRecognizer.from_path(path).predict_file(take).emotion, Emotion.NEUTRAL
        )

    def test_it_loads_an_untouched_copy_the_same(self) -> None:
        copy = EmotionRecognizer.from_path(self._copy("intact"))
        bundled = get_recognizer()
        self.assertEqual(copy.sha256, bundled.sha256)
        path = ravdess_path(Emotion.NEUTRAL, actor=12)
        self.assertEqual(copy.predict_file(path), bundled.predict_file(path))


class ImportTests(unittest.TestCase):
    def test_it_does_not_import_tensorflow_until_a_model_is_loaded(self) -> None:
        code = (
            "import sys\n"
            "import ml.audio, ml.cli, ml.data, ml.features, ml.recognizer, ml.speech, ml.timeline\n"
            "ml.recognizer.read_meta(ml.recognizer.default_model_path())\n"
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.strip(), "[]")


if __name__ == "__main__":
    unittest.main()
