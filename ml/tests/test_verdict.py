"""When the result names one emotion, two mixed, or none (``ml.verdict``)."""

from __future__ import annotations

import json
import unittest

import numpy as np

from ml.errors import ModelLoadError
from ml.labels import EMOTION_NAMES, EMOTIONS, Emotion
from ml.recognizer import Prediction
from ml.verdict import (
    DEFAULT_RULE,
    ClarityRule,
    VerdictKind,
    fit_clarity_rule,
    rule_from_meta,
)

RULE = ClarityRule(min_confidence=0.5, min_margin=0.25, mixed_mass=0.5, mixed_second=0.25)


def _probs(**values: float) -> dict[str, float]:
    """Eight probabilities: the named ones as given, the rest sharing what is left."""
    rest = (1.0 - sum(values.values())) / (len(EMOTION_NAMES) - len(values))
    return {name: values.get(name, rest) for name in EMOTION_NAMES}


def _held_out_predictions(n: int = 3000, *, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """A model's held-out probabilities: sure and right on some takes, lost on others."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(EMOTIONS), n)
    logits = rng.normal(0.0, 1.0, (n, len(EMOTIONS)))
    evidence = rng.uniform(0.0, 4.0, n)  # how much the voice gives away, take by take
    logits[np.arange(n), labels] += evidence
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return probs, labels


def _judged_clear(rule: ClarityRule, probs: np.ndarray) -> np.ndarray:
    return np.array([rule.judge(row).clear for row in probs])


class JudgeTests(unittest.TestCase):
    def test_it_names_a_top_emotion_above_both_thresholds(self) -> None:
        verdict = RULE.judge(_probs(happy=0.75, sad=0.125))
        self.assertEqual(verdict.kind, VerdictKind.CLEAR)
        self.assertEqual(verdict.emotions, (Emotion.HAPPY,))
        self.assertEqual(verdict.text, "Happy")
        self.assertTrue(verdict.clear)

    def test_it_does_not_call_a_top_emotion_at_exactly_min_confidence_clear(self) -> None:
        at = RULE.judge(_probs(happy=0.5, sad=0.125))
        just_above = RULE.judge(_probs(happy=0.5078125, sad=0.125))
        self.assertNotEqual(at.kind, VerdictKind.CLEAR)
        self.assertEqual(just_above.kind, VerdictKind.CLEAR)

    def test_it_does_not_call_a_lead_of_exactly_min_margin_clear(self) -> None:
        at = RULE.judge(_probs(happy=0.625, surprised=0.375))
        just_above = RULE.judge(_probs(happy=0.6328125, surprised=0.375))
        self.assertEqual(at.kind, VerdictKind.MIXED)
        self.assertEqual(at.text, "Mixed: happy, surprised")
        self.assertEqual(just_above.text, "Happy")

    def test_it_calls_a_tie_at_the_top_mixed_in_label_order(self) -> None:
        verdict = RULE.judge(_probs(surprised=0.4375, happy=0.4375))
        self.assertEqual(verdict.kind, VerdictKind.MIXED)
        self.assertEqual(verdict.emotions, (Emotion.HAPPY, Emotion.SURPRISED))
        self.assertFalse(verdict.clear)

    def test_it_needs_a_second_emotion_above_mixed_second_for_mixed(self) -> None:
        at = RULE.judge(_probs(angry=0.375, sad=0.25))
        above = RULE.judge(_probs(angry=0.375, sad=0.2578125))
        self.assertEqual(at.kind, VerdictKind.UNCLEAR)
        self.assertEqual(above.text, "Mixed: angry, sad")

    def test_it_needs_the_top_two_to_hold_more_than_mixed_mass_for_mixed(self) -> None:
        rule = ClarityRule(min_confidence=0.5, min_margin=0.25, mixed_mass=0.625)
        self.assertEqual(rule.judge(_probs(angry=0.375, sad=0.25)).kind, VerdictKind.UNCLEAR)
        self.assertEqual(rule.judge(_probs(angry=0.375, sad=0.2578125)).kind, VerdictKind.MIXED)

    def test_it_says_no_clear_emotion_for_a_flat_prediction(self) -> None:
        verdict = DEFAULT_RULE.judge(np.full(len(EMOTIONS), 1 / len(EMOTIONS)))
        self.assertEqual(verdict.kind, VerdictKind.UNCLEAR)
        self.assertEqual(verdict.emotions, ())
        self.assertEqual(verdict.text, "No clear emotion")

    def test_it_refuses_a_vector_of_the_wrong_length(self) -> None:
        with self.assertRaises(ValueError):
            DEFAULT_RULE.judge(np.ones(7) / 7)


class RuleFromMetaTests(unittest.TestCase):
    def test_it_reads_the_rule_a_model_carries(self) -> None:
        rule = ClarityRule(
            min_confidence=0.42, min_margin=0.1, precision=0.61, coverage=0.35, fitted_on=900
        )
        meta = json.loads(json.dumps({"name": "m", "clarity": rule.to_dict()}))
        self.assertEqual(rule_from_meta(meta), rule)

    def test_it_uses_the_default_rule_without_one(self) -> None:
        self.assertIs(rule_from_meta({"name": "m"}), DEFAULT_RULE)
        self.assertEqual(DEFAULT_RULE.to_dict()["min_confidence"], 0.5)
        self.assertNotIn("precision", DEFAULT_RULE.to_dict())

    def test_it_fails_on_a_bad_rule_with_a_clear_message(self) -> None:
        for bad in ({"min_confidence": 0.5}, {"min_confidence": 1.5, "min_margin": 0.1}, [0.5]):
            with self.subTest(clarity=bad), self.assertRaisesRegex(ModelLoadError, "clarity"):
                rule_from_meta({"clarity": bad})


class FitTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.probs, cls.labels = _held_out_predictions()
        cls.correct = cls.probs.argmax(axis=1) == cls.labels
        cls.rule = fit_clarity_rule(cls.probs, cls.labels, target_precision=0.8)

    def test_it_reaches_its_precision_on_the_predictions_it_was_fitted_on(self) -> None:
        clear = _judged_clear(self.rule, self.probs)
        self.assertLess(self.correct.mean(), 0.8)  # the top emotion alone is not good enough
        self.assertGreaterEqual(self.correct[clear].mean(), 0.8)
        self.assertAlmostEqual(self.rule.precision, self.correct[clear].mean(), places=4)
        self.assertAlmostEqual(self.rule.coverage, clear.mean(), places=4)
        self.assertEqual(self.rule.fitted_on, len(self.probs))
        self.assertEqual(self.rule.target_precision, 0.8)

    def test_it_keeps_as_many_predictions_clear_as_the_target_allows(self) -> None:
        self.assertGreater(self.rule.coverage, 0.2)
        c, m = self.rule.min_confidence, self.rule.min_margin
        # One step looser on either threshold calls more clear and misses the target.
        for looser in ((c - 0.01, m), (c, m - 0.01)):
            if min(looser) < 0:
                continue
            with self.subTest(min_confidence=looser[0], min_margin=looser[1]):
                clear = _judged_clear(ClarityRule(*looser), self.probs)
                if clear.mean() > self.rule.coverage:
                    self.assertLess(self.correct[clear].mean(), 0.8)

    def test_it_is_stricter_for_a_higher_target(self) -> None:
        lenient = fit_clarity_rule(self.probs, self.labels, target_precision=0.6)
        self.assertGreater(lenient.coverage, self.rule.coverage)
        self.assertGreaterEqual(lenient.precision, 0.6)
        clear = _judged_clear(lenient, self.probs)
        self.assertGreaterEqual(self.correct[clear].mean(), 0.6)

    def test_it_round_trips_through_meta_json(self) -> None:
        stored = json.loads(json.dumps({"clarity": self.rule.to_dict()}))
        self.assertEqual(rule_from_meta(stored), self.rule)
        self.assertEqual(
            set(stored["clarity"]),
            {
                "min_confidence",
                "min_margin",
                "mixed_mass",
                "mixed_second",
                "target_precision",
                "precision",
                "coverage",
                "fitted_on",
            },
        )

    def test_it_calls_nothing_clear_when_no_rule_reaches_the_target(self) -> None:
        rng = np.random.default_rng(3)
        guesses = rng.dirichlet(np.full(len(EMOTIONS), 0.3), 500)
        labels = rng.integers(0, len(EMOTIONS), 500)  # unrelated to the guesses

        rule = fit_clarity_rule(guesses, labels, target_precision=0.9)

        self.assertEqual((rule.coverage, rule.precision), (0.0, None))
        self.assertFalse(rule.judge(np.eye(len(EMOTIONS))[4]).clear)

    def test_it_refuses_mismatched_inputs(self) -> None:
        with self.assertRaises(ValueError):
            fit_clarity_rule(self.probs[:, :7], self.labels)
        with self.assertRaises(ValueError):
            fit_clarity_rule(self.probs, self.labels[:-1])


class PredictionVerdictTests(unittest.TestCase):
    def test_it_adds_clear_and_the_verdict_to_the_existing_fields(self) -> None:
        sure = Prediction.from_probs(np.array([0.02, 0.02, 0.86, 0.02, 0.02, 0.02, 0.02, 0.02]))
        torn = Prediction.from_probs(np.array([0.02, 0.02, 0.4, 0.02, 0.02, 0.02, 0.02, 0.48]))
        self.assertEqual(
            list(sure.to_dict()), ["emotion", "confidence", "probabilities", "clear", "verdict"]
        )
        self.assertEqual((sure.to_dict()["clear"], sure.to_dict()["verdict"]), (True, "Happy"))
        self.assertEqual(
            (torn.to_dict()["clear"], torn.to_dict()["verdict"]),
            (False, "Mixed: surprised, happy"),
        )

    def test_it_judges_with_the_rule_it_is_given(self) -> None:
        prediction = Prediction.from_probs(np.array([0.3, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]))
        strict = prediction.with_clarity(ClarityRule(min_confidence=0.2, min_margin=0.1))
        self.assertEqual(prediction.verdict.kind, VerdictKind.UNCLEAR)
        self.assertEqual(strict.verdict.text, "Neutral")
        self.assertEqual(strict, prediction)  # the rule is not part of the prediction's value


if __name__ == "__main__":
    unittest.main()
