"""What a model was trained on and how it does on voices it never heard, in plain words.

A model's ``meta.json`` carries it under ``"card"`` (the trainer writes it)::

    {"trained_on": "<one sentence: corpora, languages, speakers, takes>",
     "unseen": [{"set": "<plain name of a held-out set>", "classes": 7,
                 "ua": 0.53, "neutral_recall": 0.0}, ...],
     "summary": "<one plain sentence>"}

``ua`` is the unweighted average recall on that set over the ``classes`` emotions it
shares with training; ``neutral_recall`` the share of its neutral takes called neutral
(null when the set has none). The sentences shown to users are derived from these numbers
here, so a page never carries a figure of its own.

No Django here, no TensorFlow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ml.errors import ModelLoadError
from ml.labels import EMOTIONS


@dataclass(frozen=True)
class UnseenScore:
    """How the model did on one set of voices it never heard."""

    set: str
    classes: int
    ua: float
    neutral_recall: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.set, str) or not self.set.strip():
            raise ValueError("every unseen set needs a name")
        if isinstance(self.classes, bool) or not isinstance(self.classes, int):
            raise ValueError(f"classes of {self.set!r} must be a count, not {self.classes!r}")
        if not 2 <= self.classes <= len(EMOTIONS):
            raise ValueError(f"classes of {self.set!r} must be 2 to {len(EMOTIONS)}")
        for name in ("ua", "neutral_recall"):
            value = getattr(self, name)
            if value is None and name == "neutral_recall":
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name} of {self.set!r} must be a number, not {value!r}")
            if not 0 <= value <= 1:
                raise ValueError(f"{name} of {self.set!r} must be between 0 and 1")

    @property
    def sentence(self) -> str:
        """E.g. "An English corpus, 7 emotions: right about 5 times in 10 (guessing: 1 in
        7); neutral speech almost never called neutral."."""
        text = (
            f"{self.set}, {self.classes} emotions: right {_times_in_ten(self.ua)} "
            f"(guessing: 1 in {self.classes})"
        )
        if self.neutral_recall is not None:
            text += f"; neutral speech {_called_neutral(self.neutral_recall)}"
        return text + "."


@dataclass(frozen=True)
class ModelCard:
    trained_on: str
    unseen: tuple[UnseenScore, ...]
    summary: str

    def __post_init__(self) -> None:
        for name in ("trained_on", "summary"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"card {name} must be a sentence")

    @property
    def unseen_lead(self) -> str:
        """One sentence over every unseen set, e.g. "On voices it has never heard, it picked
        the right emotion about 4 to 7 times in 10:"."""
        if not self.unseen:
            return "It has not been scored on voices it never heard."
        tens = sorted({_tenths(score.ua) for score in self.unseen})
        span = f"{tens[0]}" if len(tens) == 1 else f"{tens[0]} to {tens[-1]}"
        return (
            f"On voices it has never heard, it picked the right emotion about {span} times in 10:"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "trained_on": self.trained_on,
            "unseen": [
                {
                    "set": s.set,
                    "classes": s.classes,
                    "ua": s.ua,
                    "neutral_recall": s.neutral_recall,
                }
                for s in self.unseen
            ],
            "summary": self.summary,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelCard:
        """Read :meth:`to_dict`'s form; anything missing or malformed raises ValueError."""
        if not isinstance(data, Mapping):
            raise ValueError(f"card must be a JSON object, not {type(data).__name__}")
        unseen = data.get("unseen", [])
        if not isinstance(unseen, list) or not all(isinstance(u, Mapping) for u in unseen):
            raise ValueError("card unseen must be a list of objects")
        try:
            scores = tuple(
                UnseenScore(
                    set=u["set"],
                    classes=u["classes"],
                    ua=u["ua"],
                    neutral_recall=u.get("neutral_recall"),
                )
                for u in unseen
            )
        except KeyError as err:
            raise ValueError(f"an unseen set lacks {err}") from None
        return cls(trained_on=data.get("trained_on"), unseen=scores, summary=data.get("summary"))


def card_from_meta(meta: Mapping[str, Any]) -> ModelCard | None:
    """The card of a model from its ``meta.json``, or None when it has none.

    Raises ``ModelLoadError`` when ``meta["card"]`` is malformed.
    """
    data = meta.get("card") if isinstance(meta, Mapping) else None
    if data is None:
        return None
    try:
        return ModelCard.from_dict(data)
    except (TypeError, ValueError) as err:
        raise ModelLoadError(f'meta.json has a bad "card": {err}') from err


def _tenths(share: float) -> int:
    return int(share * 10 + 0.5)  # half up: 0.25 -> 3, as people round


def _times_in_ten(share: float) -> str:
    n = _tenths(share)
    if n == 0:
        return "almost never"
    if n == 10:
        return "almost always"
    if n == 1:
        return "about once in 10"
    return f"about {n} times in 10"


def _called_neutral(share: float) -> str:
    said = _times_in_ten(share)
    if said.startswith("almost"):
        return f"{said} called neutral"
    return f"called neutral {said}"
