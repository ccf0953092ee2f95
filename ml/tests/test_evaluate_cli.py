"""``python -m ml evaluate`` prints the bundled model's figures as its card states them."""

from __future__ import annotations

import unittest

from ml.recognizer import default_model_path, read_meta
from ml.tests.helpers import run_ml


class EvaluateCommandTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.meta = read_meta(default_model_path())
        cls.result = run_ml("evaluate")

    def test_it_prints_each_unheard_corpus_and_the_mean(self) -> None:
        self.assertEqual(self.result.returncode, 0, self.result.stderr)
        loco = self.meta["metrics"]["loco"]
        for corpus, scores in loco["corpora"].items():
            self.assertRegex(
                self.result.stdout,
                rf"{corpus} +UA {scores['ua']:.3f}  neutral recall {scores['neutral_recall']:.2f}",
            )
        self.assertIn(
            f"mean UA {loco['ua_mean']:.3f}; lowest neutral recall "
            f"{loco['neutral_recall_min']:.2f}",
            self.result.stdout,
        )

    def test_it_says_how_the_members_were_weighed(self) -> None:
        weights = self.meta["metrics"]["loco"].get("member_weights")
        if weights is None:
            self.skipTest("the bundled model was trained with equal weights")
        self.assertIn(f"with member weights {weights}", self.result.stdout)
        self.assertIn("each corpus scored with what the other corpora chose", self.result.stdout)

    def test_it_prints_the_speaker_disjoint_figures(self) -> None:
        rav = self.meta["metrics"]["speakers"]["ravdess_ua_mean"]
        self.assertIn(f"RAVDESS actors: UA {rav:.3f}", self.result.stdout)
