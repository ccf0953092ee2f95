"""Member weights fitted on corpora the members never heard (``ml.ensemble``)."""

from __future__ import annotations

import unittest

import numpy as np

from ml.ensemble import combine, fit_weights, simplex
from ml.evaluation import HeldOut, neutral_bias
from ml.labels import EMOTIONS

CORPORA = ("a", "b", "c", "d")


def _sure(labels: np.ndarray, rng: np.random.Generator, right: bool) -> np.ndarray:
    """Logits of a member that is sure, and right or wrong on every take."""
    logits = rng.normal(0.0, 0.3, (len(labels), len(EMOTIONS)))
    said = labels if right else (labels + 1 + rng.integers(0, len(EMOTIONS) - 1, len(labels)))
    logits[np.arange(len(labels)), said % len(EMOTIONS)] += 3.0
    return logits


def _held_out(right: dict[str, tuple[bool, bool]], n: int = 160, seed: int = 3) -> HeldOut:
    """Two members; ``right[corpus]`` says which of them is right on that corpus."""
    rng = np.random.default_rng(seed)
    labels = np.tile(np.arange(len(EMOTIONS)), n // len(EMOTIONS) * len(CORPORA))
    corpora = np.repeat(CORPORA, n)
    members = np.zeros((2, len(labels), len(EMOTIONS)))
    for c in CORPORA:
        mine = corpora == c
        for m in (0, 1):
            members[m, mine] = _sure(labels[mine], rng, right[c][m])
    return HeldOut(members.mean(axis=0), labels, corpora, 0.0, members)


def _ua(held: HeldOut, corpus: str) -> float:
    return held.per_corpus()[corpus]["ua"]


class MemberWeightTests(unittest.TestCase):
    def test_it_offers_every_weighting_in_tenths(self) -> None:
        grid = simplex(3)
        self.assertEqual(len(grid), 66)
        for w in grid:
            self.assertAlmostEqual(float(w.sum()), 1.0)
            self.assertTrue(np.allclose(w * 10, np.round(w * 10)))

    def test_it_combines_members_as_the_saved_model_does(self) -> None:
        logits = np.random.default_rng(0).normal(size=(2, 5, len(EMOTIONS)))
        # The loader divides the weighted sum by the sum of the weights.
        expected = (2 * logits[0] + 6 * logits[1]) / 8
        np.testing.assert_allclose(combine(logits, np.array([2, 6])), expected, rtol=1e-5)

    def test_it_leans_on_the_member_that_is_right_on_new_corpora(self) -> None:
        held = _held_out({c: (True, c == "a") for c in CORPORA})
        weights, _, nested = fit_weights(held)
        self.assertGreater(weights[0], weights[1])
        for c in CORPORA:
            self.assertGreater(_ua(nested, c), 0.95)
        self.assertLess(_ua(held, "b"), 0.9)  # what equal weights gave

    def test_it_scores_each_corpus_with_weights_the_others_chose(self) -> None:
        # Only member 1 is right on corpus d; the other three corpora choose member 0, so
        # d is scored with member 0 even though weighing by d's own labels would fix it.
        held = _held_out({c: (c != "d", c == "d") for c in CORPORA})
        _, _, nested = fit_weights(held)
        self.assertLess(_ua(nested, "d"), 0.3)
        for c in "abc":  # each chosen by two corpora that agree and d that does not
            self.assertGreater(_ua(nested, c), 0.85)

    def test_it_needs_each_members_logits(self) -> None:
        held = _held_out({c: (True, True) for c in CORPORA})
        with self.assertRaises(ValueError):
            fit_weights(HeldOut(held.logits, held.labels, held.corpora, 0.0))


def _shy_of_neutral(n: int = 400, seed: int = 5) -> HeldOut:
    """One member that puts neutral second on every take, behind the top by U(0, 3): a
    larger prior calls more neutral takes neutral and more of the others neutral too."""
    rng = np.random.default_rng(seed)
    labels = np.tile(np.arange(len(EMOTIONS)), n // len(EMOTIONS) * len(CORPORA))
    corpora = np.repeat(CORPORA, n)
    logits = np.zeros((len(labels), len(EMOTIONS)))
    top = np.where(labels == 0, 4, labels)  # neutral takes lean to angry
    logits[np.arange(len(labels)), top] = 3.0
    logits[:, 0] = 3.0 - rng.uniform(0.0, 3.0, len(labels))
    return HeldOut(logits, labels, corpora, 0.0, logits[None])


class NeutralTargetTests(unittest.TestCase):
    def test_it_raises_the_prior_for_a_stricter_neutral_target(self) -> None:
        held = _shy_of_neutral()
        _, half, _ = fit_weights(held)
        _, strict, nested = fit_weights(held, 0.8)
        self.assertGreater(strict, half)
        for c in CORPORA:
            self.assertGreater(nested.per_corpus()[c]["neutral_recall"], 0.7)

    def test_it_raises_a_single_models_prior_for_a_stricter_target_too(self) -> None:
        held = _shy_of_neutral()
        half, _ = neutral_bias(held)
        strict, nested = neutral_bias(held, 0.8)
        self.assertGreater(strict, half)
        for c in CORPORA:
            self.assertGreater(nested.per_corpus()[c]["neutral_recall"], 0.7)
