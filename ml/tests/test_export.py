"""ONNX export: the service runs the same model as Keras, without TensorFlow.

``python -m ml export`` writes an ONNX file per member of a saved model (and
``save_model`` does so after training); the loader runs those files with ONNX Runtime,
checks their SHA-256 and never imports TensorFlow. These tests compare the two runtimes
on real speech, so they import Keras themselves; the loader's side runs in a fresh
interpreter where that matters.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import unittest
from pathlib import Path

import numpy as np

from ml.audio import load_audio
from ml.errors import ModelLoadError
from ml.export import ExportError, export_model, keras_to_onnx
from ml.features import FeatureConfig, FeatureSet, extract_features
from ml.labels import EMOTION_NAMES, Emotion
from ml.metrics import softmax
from ml.recognizer import BUNDLED_MODEL, EmotionRecognizer, file_sha256, get_recognizer
from ml.tests.helpers import (
    REPO,
    SPEECH_TAKES,
    TempDirMixin,
    ravdess_path,
    read_signal,
    run_ml,
    speech,
    write_espeak,
)

TOLERANCE = 1e-4  # the bound on probabilities


def _keras_members(path: Path) -> list[tuple[dict, object]]:
    import keras

    meta = json.loads((path / "meta.json").read_text())
    return [
        (spec, keras.saving.load_model(path / spec["weights"], compile=False))
        for spec in meta["members"]
    ]


class SameProbabilitiesTests(TempDirMixin, unittest.TestCase):
    """The bundled model loaded for serving (ONNX Runtime) against its Keras members."""

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.rec = get_recognizer(BUNDLED_MODEL)
        cls.keras = _keras_members(BUNDLED_MODEL)
        cls.signals = {
            f"ravdess {take['emotion'].value}": read_signal(ravdess_path(**take))
            for take in SPEECH_TAKES[:3]
        }
        espeak = write_espeak(cls.tmp / "espeak.wav", "I told you to leave the door open.")
        cls.signals["espeak"] = load_audio(espeak).signal

    def _keras_probabilities(self, signal: np.ndarray) -> np.ndarray:
        """What the Keras members say, combined as meta.json says (weights, prior,
        temperature)."""
        meta = self.rec.meta
        total, weight = np.zeros(len(EMOTION_NAMES)), 0.0
        for spec, model in self.keras:
            x = extract_features(signal, FeatureConfig.from_dict(spec["features"]))
            logits = np.asarray(model(x[None].astype(np.float32), training=False))[0]
            total += spec.get("weight", 1.0) * logits
            weight += spec.get("weight", 1.0)
        bias = meta.get("logit_bias") or {}
        total = total / weight + np.array([bias.get(n, 0.0) for n in EMOTION_NAMES])
        return softmax(total, meta["temperature"])

    def test_it_runs_the_members_from_their_onnx_files(self) -> None:
        meta = json.loads((BUNDLED_MODEL / "meta.json").read_text())
        for spec in meta["members"]:
            with self.subTest(member=spec["weights"]):
                self.assertEqual(spec["onnx"], Path(spec["weights"]).with_suffix(".onnx").name)
                self.assertEqual(spec["onnx_sha256"], file_sha256(BUNDLED_MODEL / spec["onnx"]))

    def test_it_gives_the_probabilities_of_the_keras_model(self) -> None:
        for name, signal in self.signals.items():
            with self.subTest(clip=name):
                served = self.rec.predict_signal(signal)
                got = np.array([served.probabilities[n] for n in EMOTION_NAMES])
                expected = self._keras_probabilities(signal)
                self.assertLessEqual(float(np.abs(got - expected).max()), TOLERANCE)
                self.assertEqual(served.emotion.value, EMOTION_NAMES[int(expected.argmax())])


class CnnExportTests(unittest.TestCase):
    """The convolutional architecture (not in the bundled model), with random weights and
    batch-normalisation statistics, on the log-mel frames of real speech."""

    def test_it_exports_the_cnn_with_the_same_logits(self) -> None:
        import keras
        import onnxruntime as ort

        from ml.architectures import build_cnn

        config = FeatureConfig(feature_set=FeatureSet.LOGMEL, pitch_channels=True)
        keras.utils.set_random_seed(3)
        model = build_cnn(config.frame_dim)
        rng = np.random.default_rng(3)
        for layer in model.layers:
            if type(layer).__name__ == "BatchNormalization":
                n = layer.moving_mean.shape[0]
                layer.moving_mean.assign(rng.normal(0, 1, n))
                layer.moving_variance.assign(rng.uniform(0.5, 2.0, n))
                layer.gamma.assign(rng.normal(1, 0.3, n))
                layer.beta.assign(rng.normal(0, 0.3, n))
        session = ort.InferenceSession(keras_to_onnx(model).SerializeToString())
        for take in SPEECH_TAKES[:2]:
            x = extract_features(speech(**take), config)[None].astype(np.float32)
            with self.subTest(frames=x.shape[1]):
                expected = np.asarray(model(x, training=False))
                got = session.run(None, {session.get_inputs()[0].name: x})[0]
                np.testing.assert_allclose(got, expected, atol=TOLERANCE, rtol=TOLERANCE)


class SaveModelTests(TempDirMixin, unittest.TestCase):
    """``save_model``, as training calls it, writes the ONNX files the loader runs."""

    def test_it_saves_onnx_files_that_answer_like_the_keras_members(self) -> None:
        from ml.architectures import build_cnn, build_mlp
        from ml.model_io import save_model
        from ml.training import Recipe

        signal = speech(Emotion.HAPPY, actor=1)
        logmel = FeatureConfig(feature_set=FeatureSet.LOGMEL)
        stats = FeatureConfig(feature_set=FeatureSet.STATS)
        x_stats = extract_features(signal, stats)
        rng = np.random.default_rng(5)
        norm = (x_stats + rng.normal(0, 1, x_stats.shape), rng.uniform(0.5, 2, x_stats.shape))
        cnn, mlp = build_cnn(logmel.frame_dim), build_mlp(len(x_stats))
        out = save_model(
            self.tmp / "model",
            name="tiny",
            members=[
                (cnn, None, Recipe(architecture="cnn", seed=1, features=logmel)),
                (mlp, norm, Recipe(architecture="mlp", seed=2, features=stats)),
            ],
            metrics=None,
            training={"corpora": []},
        )
        meta = json.loads((out / "meta.json").read_text())
        self.assertEqual([m["onnx"] for m in meta["members"]], ["cnn-1.onnx", "mlp-2.onnx"])
        for spec in meta["members"]:
            self.assertEqual(spec["onnx_sha256"], file_sha256(out / spec["onnx"]))
        rec = EmotionRecognizer.from_path(out)
        x_logmel = extract_features(signal, logmel)[None].astype(np.float32)
        standardised = ((x_stats - norm[0]) / norm[1])[None].astype(np.float32)
        for member, x, expected in (
            (rec.members[0], x_logmel, cnn(x_logmel, training=False)),
            (rec.members[1], x_stats[None].astype(np.float32), mlp(standardised, training=False)),
        ):
            with self.subTest(features=member.features.feature_set.value):
                np.testing.assert_allclose(
                    member.call(x), np.asarray(expected), atol=TOLERANCE, rtol=TOLERANCE
                )


class ServingImportTests(unittest.TestCase):
    def test_it_predicts_without_importing_tensorflow(self) -> None:
        # As the CLI and the worker do it: load the default model, classify a file and a
        # long signal window by window.
        code = (
            "import json, sys\n"
            "import ml.cli\n"
            "from ml.recognizer import get_recognizer\n"
            "from ml.timeline import timeline\n"
            "from ml.audio import load_audio\n"
            f"path = {str(ravdess_path(Emotion.ANGRY, actor=2))!r}\n"
            "ml.cli.main(['predict', '--jsonl', path])\n"
            "segments = timeline(get_recognizer(), load_audio(path).signal)\n"
            "heavy = ('tensorflow', 'keras', 'onnx', 'tf_keras', 'jax', 'torch')\n"
            "loaded = sorted({m.split('.')[0] for m in sys.modules} & set(heavy))\n"
            "print(json.dumps({'segments': len(segments), 'loaded': loaded}))\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        self.assertEqual(result.returncode, 0, result.stderr[-2000:])
        prediction, summary = map(json.loads, result.stdout.strip().splitlines()[-2:])
        self.assertIn(prediction["emotion"], EMOTION_NAMES)
        self.assertGreaterEqual(summary["segments"], 1)
        self.assertEqual(summary["loaded"], [])


class LoadOnnxErrorTests(TempDirMixin, unittest.TestCase):
    """Each test damages its own copy of the bundled model's ONNX side."""

    def _copy(self, name: str) -> Path:
        target = self.tmp / name
        shutil.copytree(BUNDLED_MODEL, target)
        return target

    def _members(self, path: Path) -> list[dict]:
        return json.loads((path / "meta.json").read_text())["members"]

    def _rewrite_members(self, path: Path, change) -> None:
        meta = json.loads((path / "meta.json").read_text())
        for spec in meta["members"]:
            change(spec)
        (path / "meta.json").write_text(json.dumps(meta))

    def assertLoadError(self, path: Path, *fragments: str) -> None:
        with self.assertRaises(ModelLoadError) as caught:
            EmotionRecognizer.from_path(path)
        for fragment in fragments:
            self.assertIn(fragment, str(caught.exception))

    def test_it_refuses_a_tampered_onnx_file(self) -> None:
        path = self._copy("tampered")
        onnx_file = path / self._members(path)[-1]["onnx"]
        data = bytearray(onnx_file.read_bytes())
        data[len(data) // 2] ^= 0x01
        onnx_file.write_bytes(bytes(data))
        self.assertLoadError(path, "does not match the SHA-256", onnx_file.name)

    def test_it_names_a_missing_onnx_file(self) -> None:
        path = self._copy("no-onnx-file")
        onnx_file = path / self._members(path)[0]["onnx"]
        onnx_file.unlink()
        self.assertLoadError(path, "lacks the ONNX file", onnx_file.name)

    def test_it_says_how_to_export_a_model_without_onnx_files(self) -> None:
        path = self._copy("keras-only")
        self._rewrite_members(path, lambda spec: [spec.pop(k) for k in ("onnx", "onnx_sha256")])
        self.assertLoadError(path, "has no ONNX file", f"python -m ml export {path}")


class ExportCommandTests(TempDirMixin, unittest.TestCase):
    """``python -m ml export`` on a copy of the bundled model without its ONNX files."""

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.model = cls.tmp / "model"
        shutil.copytree(BUNDLED_MODEL, cls.model)
        meta = json.loads((cls.model / "meta.json").read_text())
        for spec in meta["members"]:
            (cls.model / spec.pop("onnx")).unlink()
            spec.pop("onnx_sha256")
        (cls.model / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
        cls.result = run_ml("export", cls.model)

    def test_it_writes_the_files_the_bundled_model_has(self) -> None:
        self.assertEqual(self.result.returncode, 0, self.result.stderr[-2000:])
        self.assertEqual(self.result.stdout, "")
        exported = json.loads((self.model / "meta.json").read_text())
        bundled = json.loads((BUNDLED_MODEL / "meta.json").read_text())
        self.assertEqual(exported, bundled)  # the same names and digests, nothing else changed
        for spec in exported["members"]:
            with self.subTest(member=spec["onnx"]):
                self.assertIn(f"wrote {self.model / spec['onnx']}", self.result.stderr)
                self.assertEqual(file_sha256(self.model / spec["onnx"]), spec["onnx_sha256"])

    def test_it_exports_a_model_that_answers_like_the_bundled_one(self) -> None:
        take = ravdess_path(Emotion.SAD, actor=7, repetition=2)
        self.assertEqual(
            EmotionRecognizer.from_path(self.model).predict_file(take),
            get_recognizer(BUNDLED_MODEL).predict_file(take),
        )

    def test_it_refuses_to_export_changed_weights(self) -> None:
        path = self.tmp / "changed"
        shutil.copytree(BUNDLED_MODEL, path)
        weights = path / json.loads((path / "meta.json").read_text())["members"][0]["weights"]
        data = bytearray(weights.read_bytes())
        data[len(data) // 2] ^= 0x01
        weights.write_bytes(bytes(data))
        before = (path / "meta.json").read_bytes()
        with self.assertRaises(ExportError) as caught:
            export_model(path)
        self.assertIn("does not match the SHA-256", str(caught.exception))
        self.assertEqual((path / "meta.json").read_bytes(), before)


if __name__ == "__main__":
    unittest.main()
