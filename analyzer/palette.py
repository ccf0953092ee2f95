"""The one colour per emotion used everywhere (result bars, history, admin).

Colours are dark enough for white text and distinct for the common colour-vision
deficiencies; the label is always printed next to the colour, never left to it alone.
"""

from __future__ import annotations

from ml.labels import EMOTIONS, Emotion

EMOTION_COLOURS: dict[Emotion, str] = {
    Emotion.NEUTRAL: "#6b7280",
    Emotion.CALM: "#0e7490",
    Emotion.HAPPY: "#b45309",
    Emotion.SAD: "#1d4ed8",
    Emotion.ANGRY: "#b91c1c",
    Emotion.FEARFUL: "#6d28d9",
    Emotion.DISGUST: "#4d7c0f",
    Emotion.SURPRISED: "#be185d",
}

# The same hues, lighter, for a dark screen (``prefers-color-scheme: dark``): each reads
# on the dark cards as the light ones do on white.
EMOTION_COLOURS_DARK: dict[Emotion, str] = {
    Emotion.NEUTRAL: "#9ca3af",
    Emotion.CALM: "#22b8cf",
    Emotion.HAPPY: "#f59e0b",
    Emotion.SAD: "#60a5fa",
    Emotion.ANGRY: "#f87171",
    Emotion.FEARFUL: "#a78bfa",
    Emotion.DISGUST: "#84cc16",
    Emotion.SURPRISED: "#f472b6",
}

assert set(EMOTION_COLOURS) == set(EMOTIONS), "every emotion needs a colour"
assert set(EMOTION_COLOURS_DARK) == set(EMOTIONS), "every emotion needs a dark-screen colour"


def emotion_colour(name: str) -> str:
    """Return the colour for an emotion value such as ``'happy'`` (grey if unknown)."""
    try:
        return EMOTION_COLOURS[Emotion(name)]
    except ValueError:
        return "#6b7280"
