"""Ordinary, unemotional speech must not come back as a strong emotion.

espeak-ng reads plain sentences in a flat synthetic voice: nothing in it is angry, sad or
happy. For each, the model's verdict (by its own clarity rule) must not name a clear
emotion, or the emotion it names must be neutral or calm, or its confidence must stay
below :data:`STRONG`.
"""

from __future__ import annotations

import unittest

from ml.labels import Emotion
from ml.recognizer import get_recognizer
from ml.tests.helpers import TempDirMixin, write_espeak
from ml.verdict import rule_from_meta

SENTENCES = (
    "The weather today is mild and cloudy.",
    "The meeting starts at ten in the morning.",
    "Please put the book on the table.",
    "The train to the city leaves from platform two.",
    "I bought some bread and milk on the way home.",
)
CALM_ENOUGH = {Emotion.NEUTRAL, Emotion.CALM}
STRONG = 0.5  # a confidence at or above this reads as "the voice sounds <emotion>"


class NeutralSpeechTests(TempDirMixin, unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        rec = get_recognizer()
        clarity = rule_from_meta(rec.meta)
        cls.predictions = {}
        for i, text in enumerate(SENTENCES):
            path = write_espeak(cls.tmp / f"sentence-{i}.wav", text)
            cls.predictions[text] = rec.predict_file(path).with_clarity(clarity)

    def test_it_does_not_hear_a_strong_emotion_in_plain_sentences(self) -> None:
        for text, prediction in self.predictions.items():
            with self.subTest(sentence=text):
                strong = (
                    prediction.verdict.clear
                    and prediction.emotion not in CALM_ENOUGH
                    and prediction.confidence >= STRONG
                )
                self.assertFalse(
                    strong,
                    f"{text!r} came back {prediction.verdict.text} "
                    f"({prediction.emotion.value} {prediction.confidence:.0%})",
                )


if __name__ == "__main__":
    unittest.main()
