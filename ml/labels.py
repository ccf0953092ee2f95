"""The fixed label set shared by the data, the models and the service, and the words a
result is given in (what the clarity rule of ``ml.verdict`` decides between)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Emotion(StrEnum):
    """The eight RAVDESS emotions, in RAVDESS code order (01..08)."""

    NEUTRAL = "neutral"
    CALM = "calm"
    HAPPY = "happy"
    SAD = "sad"
    ANGRY = "angry"
    FEARFUL = "fearful"
    DISGUST = "disgust"
    SURPRISED = "surprised"

    @property
    def label(self) -> str:
        return self.value.capitalize()


EMOTIONS: tuple[Emotion, ...] = tuple(Emotion)
EMOTION_NAMES: tuple[str, ...] = tuple(e.value for e in Emotion)


class VerdictKind(StrEnum):
    CLEAR = "clear"
    MIXED = "mixed"
    UNCLEAR = "unclear"


@dataclass(frozen=True)
class Verdict:
    """What the result may say: one emotion (clear), the top two (mixed), or none (unclear)."""

    kind: VerdictKind
    emotions: tuple[Emotion, ...]

    @property
    def clear(self) -> bool:
        return self.kind is VerdictKind.CLEAR

    @property
    def text(self) -> str:
        """The words of the result: Happy, Mixed: happy, surprised, or No clear emotion."""
        return verdict_text(self.kind, self.emotions)


def verdict_text(kind: str, emotions: tuple[Emotion, ...] | list[Emotion]) -> str:
    if kind == VerdictKind.CLEAR and emotions:
        return emotions[0].label
    if kind == VerdictKind.MIXED and len(emotions) >= 2:
        return f"Mixed: {emotions[0].value}, {emotions[1].value}"
    return "No clear emotion"
