"""The fixed label set shared by the data, the models and the service."""

from __future__ import annotations

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
