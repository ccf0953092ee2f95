"""``python -m ml train``: cross-validate by speaker, train, save a model the loader accepts.

A small real corpus (four RAVDESS actors, one sentence each, every emotion) and two
epochs keep the run short; what is checked is the whole path from recordings on disk to
a model directory that predicts, for an ensemble of every architecture.
"""

from __future__ import annotations

import io
import json
import shutil
import unittest
import zipfile

import h5py
import pytest

from ml import encoder
from ml.labels import EMOTION_NAMES, EMOTIONS
from ml.recognizer import EmotionRecognizer
from ml.tests.helpers import TempDirMixin, data_dir, ravdess_path, run_ml

ACTORS = (1, 2, 3, 4)


class TrainCommandTests(TempDirMixin, unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.data = cls.tmp / "ravdess"
        for actor in ACTORS:
            folder = cls.data / f"Actor_{actor:02d}"
            folder.mkdir(parents=True)
            for emotion in EMOTIONS:
                source = ravdess_path(emotion, actor=actor)
                (folder / source.name).symlink_to(source)
        cls.model = cls.tmp / "model"
        cls.result = run_ml(
            "train",
            "--data", cls.data,
            "--arch", "cnn+mlp+func",
            "--epochs", "2",
            "--folds", "2",
            "--pitch-channels",
            "--out", cls.model,
            "--cache", cls.tmp / "cache",
            timeout=600,
        )  # fmt: skip

    def test_it_succeeds(self) -> None:
        self.assertEqual(self.result.returncode, 0, self.result.stderr[-2000:])

    def test_it_prints_speaker_disjoint_figures(self) -> None:
        out = self.result.stdout
        self.assertIn("2-fold speaker-disjoint cross-validation", out)
        self.assertIn("UA ", out)
        self.assertIn("per-class recall: neutral", out)
        self.assertIn("members (UA):", out)

    def test_it_saves_every_member_with_its_features(self) -> None:
        meta = json.loads((self.model / "meta.json").read_text())
        self.assertEqual(meta["name"], "speechemotion-cnn+mlp+func")
        self.assertEqual(
            [(m["architecture"], m["features"]["feature_set"]) for m in meta["members"]],
            [("cnn", "logmel"), ("mlp", "stats"), ("func", "functionals")],
        )
        self.assertEqual(
            [m["features"]["pitch_channels"] for m in meta["members"]], [True, False, False]
        )
        self.assertEqual(len(meta["metrics"]["fold_ua"]), 2)
        self.assertEqual(list(meta["metrics"]["members"]), ["cnn-1337", "mlp-1338", "func-1339"])
        self.assertEqual(meta["training"]["speakers"], [f"ravdess:{a:02d}" for a in ACTORS])
        self.assertEqual(meta["training"]["utterances"], len(ACTORS) * len(EMOTIONS))

    def test_it_saves_a_model_that_loads_and_predicts(self) -> None:
        rec = EmotionRecognizer.from_path(self.model)
        prediction = rec.predict_file(ravdess_path(actor=5))  # a voice it has not heard
        self.assertEqual(list(prediction.probabilities), list(EMOTION_NAMES))
        self.assertAlmostEqual(sum(prediction.probabilities.values()), 1.0, places=5)

    def test_it_keeps_no_optimizer_state_in_the_weights(self) -> None:
        # Adam's two moments would triple the files; serving never trains.
        for weights in sorted(self.model.glob("*.keras")):
            with zipfile.ZipFile(weights) as archive:
                data = io.BytesIO(archive.read("model.weights.h5"))
            with h5py.File(data, "r") as h5:
                names: list[str] = []
                h5.visit(names.append)
            self.assertTrue(any("dense" in n or "conv" in n for n in names), weights.name)
            self.assertFalse([n for n in names if "optimizer" in n], weights.name)


if __name__ == "__main__":
    unittest.main()


class LeaveOneCorpusOutTests(TempDirMixin, unittest.TestCase):
    """Two small corpora (two RAVDESS actors, two EMOVO speakers): each is scored by a model
    that never heard it, and the saved model carries the rule and the card fitted on that."""

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.ravdess = cls.tmp / "ravdess"
        for actor in (1, 2):
            folder = cls.ravdess / f"Actor_{actor:02d}"
            folder.mkdir(parents=True)
            for emotion in EMOTIONS:
                source = ravdess_path(emotion, actor=actor)
                (folder / source.name).symlink_to(source)
        cls.emovo = cls.tmp / "emovo"
        for speaker in ("f1", "m1"):
            (cls.emovo / speaker).mkdir(parents=True)
            for source in sorted((data_dir() / "emovo" / speaker).glob("*-b1.flac")):
                (cls.emovo / speaker / source.name).symlink_to(source)
        cls.model = cls.tmp / "model"
        cls.result = run_ml(
            "train",
            "--data", cls.ravdess, cls.emovo,
            "--arch", "enc+enc+func",
            "--encoder-layers", "2,4",
            "--fit-weights",
            "--held-out-out", cls.tmp / "held-out.npz",
            "--epochs", "2",
            "--folds", "2",
            "--score-on", "",
            "--out", cls.model,
            "--cache", cls.tmp / "cache",
            timeout=600,
        )  # fmt: skip

    def test_it_scores_each_corpus_with_a_model_that_never_heard_it(self) -> None:
        self.assertEqual(self.result.returncode, 0, self.result.stderr[-2000:])
        out = self.result.stdout
        self.assertIn("leave one corpus out", out)
        self.assertRegex(
            out, r"emovo +UA \d\.\d{3}  neutral recall \d\.\d\d  \(7 emotions, 14 takes\)"
        )
        self.assertRegex(
            out, r"ravdess +UA \d\.\d{3}  neutral recall \d\.\d\d  \(8 emotions, 16 takes\)"
        )
        self.assertIn("calibration across corpora", out)
        self.assertIn("members weighed equally, without a neutral prior", out)
        self.assertIn("and the neutral prior", out)
        self.assertIn("held-out emovo speakers: UA", out)

    def test_it_saves_the_rule_the_card_and_the_encoder_it_needs(self) -> None:
        meta = json.loads((self.model / "meta.json").read_text())
        loco = meta["metrics"]["loco"]
        self.assertEqual(sorted(loco["corpora"]), ["emovo", "ravdess"])
        self.assertEqual(meta["temperature"], loco["temperature"])
        self.assertEqual(meta["logit_bias"], {"neutral": loco["neutral_bias"]})
        self.assertIn("without_neutral_bias", loco)
        self.assertEqual(meta["clarity"]["fitted_on"], 30)
        self.assertEqual(meta["encoder"]["sha256"], encoder.WEIGHTS_SHA256)
        self.assertIn("30 takes by 4 speakers in English and Italian", meta["card"]["trained_on"])
        self.assertEqual(
            [u["set"].split(",")[0] for u in meta["card"]["unseen"]],
            ["Italian actors (EMOVO)", "North American English actors (RAVDESS)"],
        )
        self.assertEqual(meta["training"]["corpora"], ["emovo", "ravdess"])

    def test_it_keeps_each_members_held_out_logits_for_later_weighing(self) -> None:
        import numpy as np

        held = np.load(self.tmp / "held-out.npz")
        self.assertEqual(held["members"].shape, (3, 30, len(EMOTIONS)))
        self.assertEqual(list(held["names"]), ["enc-1337", "enc-1338", "func-1339"])
        self.assertEqual(list(held["blocks"]), [2, 4, 0])
        self.assertEqual(sorted(set(held["corpora"])), ["emovo", "ravdess"])
        self.assertEqual(len(held["labels"]), len(held["files"]))

    def test_it_measures_speakers_standardised_over_their_own_takes(self) -> None:
        result = run_ml(
            "train",
            "--data", self.ravdess, self.emovo,
            "--arch", "enc+func",
            "--encoder-layers", "2",
            "--speaker-norm",
            "--epochs", "2",
            "--folds", "0",
            "--cache", self.tmp / "cache",
            timeout=600,
        )  # fmt: skip
        self.assertEqual(result.returncode, 0, result.stderr[-2000:])
        self.assertIn(
            "features standardised over each speaker's own takes (4 speakers)", result.stdout
        )
        self.assertRegex(result.stdout, r"emovo +UA \d\.\d{3}  neutral recall \d\.\d\d")

    def test_it_will_not_save_a_model_that_needs_a_speakers_other_takes(self) -> None:
        result = run_ml(
            "train", "--data", self.ravdess, "--speaker-norm", "--out", self.tmp / "sn",
            timeout=120,
        )  # fmt: skip
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("leave out --out", result.stderr)
        self.assertFalse((self.tmp / "sn").exists())

    def test_it_saves_the_member_weights_fitted_on_unheard_corpora(self) -> None:
        meta = json.loads((self.model / "meta.json").read_text())
        fitted = meta["metrics"]["loco"]["member_weights"]
        self.assertEqual(sorted(fitted), ["enc-1337", "enc-1338", "func-1339"])
        self.assertAlmostEqual(sum(fitted.values()), 1.0, places=6)
        # A member weighted 0 leaves the ensemble; the others keep their weight.
        kept = {k: w for k, w in fitted.items() if w > 0}
        saved = {m["weights"].removesuffix(".keras"): m["weight"] for m in meta["members"]}
        self.assertEqual(saved, pytest.approx(kept))
        layers = {
            m["weights"]: m["features"].get("encoder_layers", 4)
            for m in meta["members"]
            if m["architecture"] == "enc"
        }
        self.assertEqual(
            layers, {f"{k}.keras": n for k, n in (("enc-1337", 2), ("enc-1338", 4)) if k in kept}
        )
        rec = EmotionRecognizer.from_path(self.model)
        self.assertEqual([m.weight for m in rec.members], pytest.approx(list(kept.values())))

    def test_it_records_a_separate_evaluation_in_a_copy_of_the_model(self) -> None:
        copy = self.tmp / "copy"
        shutil.copytree(self.model, copy)
        figures = self.tmp / "figures.json"
        figures.write_text(json.dumps({"speakers": {"ravdess_ua_mean": 0.5}}))
        result = run_ml("add-metrics", copy, figures)
        self.assertEqual(result.returncode, 0, result.stderr)
        meta = json.loads((copy / "meta.json").read_text())
        self.assertEqual(meta["metrics"]["speakers"], {"ravdess_ua_mean": 0.5})
        self.assertIn("loco", meta["metrics"])  # what it had stays
        self.assertEqual(
            EmotionRecognizer.from_path(copy).sha256, EmotionRecognizer.from_path(self.model).sha256
        )

    def test_it_saves_a_model_that_judges_a_new_voice(self) -> None:
        rec = EmotionRecognizer.from_path(self.model)
        prediction = rec.predict_file(ravdess_path(actor=5))
        self.assertAlmostEqual(sum(prediction.probabilities.values()), 1.0, places=5)
        self.assertTrue(
            {m.features.feature_set.value for m in rec.members} <= {"encoder", "functionals"}
        )
