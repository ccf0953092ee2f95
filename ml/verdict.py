"""Whether a prediction names one emotion clearly, two mixed, or none.

A model always puts one emotion on top, even when it hardly prefers it. A
:class:`ClarityRule` says when the top emotion is clear enough to be named; otherwise the
result says "Mixed: happy, surprised" (two emotions share most of the probability) or
"No clear emotion". The rule of a model lives in its ``meta.json`` under ``"clarity"``
(see :func:`rule_from_meta`); the trainer fits it with :func:`fit_clarity_rule` on
held-out (leave-one-corpus-out) predictions.

No Django here, no TensorFlow: numpy and the label set only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ml.errors import ModelLoadError
from ml.labels import EMOTION_NAMES, EMOTIONS, Verdict, VerdictKind, verdict_text

# The thresholds of the fit are searched on this grid (plain numbers in meta.json).
_GRID = np.round(np.arange(0, 100) / 100, 2)


@dataclass(frozen=True)
class ClarityRule:
    """When a probability vector names an emotion.

    - **clear**: the top probability is above ``min_confidence`` *and* leads the second by
      more than ``min_margin`` (both strict, so a tie at the top is never clear);
    - **mixed**: not clear, but the top two together hold more than ``mixed_mass`` of the
      probability and the second more than ``mixed_second``: "Mixed: happy, surprised";
    - **unclear** otherwise: "No clear emotion".

    ``target_precision``, ``precision``, ``coverage`` and ``fitted_on`` describe the fit
    (:func:`fit_clarity_rule`): the share of held-out predictions judged clear that were
    right, the share judged clear, and how many predictions it saw. They are None for
    :data:`DEFAULT_RULE`.
    """

    min_confidence: float
    min_margin: float
    mixed_mass: float = 0.6
    mixed_second: float = 0.2
    target_precision: float | None = None
    precision: float | None = None
    coverage: float | None = None
    fitted_on: int | None = None

    def __post_init__(self) -> None:
        for name in ("min_confidence", "min_margin", "mixed_mass", "mixed_second"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"clarity {name} must be a number, not {value!r}")
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"clarity {name} must be between 0 and 1, not {value}")
        for name in ("target_precision", "precision", "coverage"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int | float) and 0 <= value <= 1):
                raise ValueError(f"clarity {name} must be between 0 and 1 or null, not {value!r}")
        if self.fitted_on is not None and (
            isinstance(self.fitted_on, bool) or not isinstance(self.fitted_on, int)
        ):
            raise ValueError(f"clarity fitted_on must be a count, not {self.fitted_on!r}")

    def judge(self, probabilities: Mapping[str, float] | np.ndarray) -> Verdict:
        """probabilities : {emotion name: p} or np.ndarray [shape=(8,)] in label order."""
        probs = _as_vector(probabilities)
        order = np.argsort(-probs, kind="stable")  # ties keep the label order
        first, second = probs[order[0]], probs[order[1]]
        top_two = (EMOTIONS[order[0]], EMOTIONS[order[1]])
        if first > self.min_confidence and first - second > self.min_margin:
            return Verdict(VerdictKind.CLEAR, top_two[:1])
        if first + second > self.mixed_mass and second > self.mixed_second:
            return Verdict(VerdictKind.MIXED, top_two)
        return Verdict(VerdictKind.UNCLEAR, ())

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``meta["clarity"]``; the fit's figures only when there are some."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClarityRule:
        """Read :meth:`to_dict`'s form; unknown keys are ignored, bad values raise ValueError."""
        if not isinstance(data, Mapping):
            raise ValueError(f"clarity must be a JSON object, not {type(data).__name__}")
        missing = [k for k in ("min_confidence", "min_margin") if k not in data]
        if missing:
            raise ValueError(f"clarity lacks {', '.join(missing)}")
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


#: The rule of a model whose meta.json has no "clarity": the top emotion is named when it
#: holds more than half of the probability and leads the next by more than 15 points. The
#: bundled model's probabilities are calibrated on held-out actors (ECE about 0.04), so on
#: voices like its training data such a prediction is right more often than not; the
#: margin keeps two near-equal emotions from being reported as one.
DEFAULT_RULE = ClarityRule(min_confidence=0.5, min_margin=0.15)


def rule_from_meta(meta: Mapping[str, Any]) -> ClarityRule:
    """The clarity rule of a model from its ``meta.json`` (:data:`DEFAULT_RULE` without one).

    Raises ``ModelLoadError`` when ``meta["clarity"]`` is malformed.
    """
    data = meta.get("clarity") if isinstance(meta, Mapping) else None
    if data is None:
        return DEFAULT_RULE
    try:
        return ClarityRule.from_dict(data)
    except (TypeError, ValueError) as err:
        raise ModelLoadError(f'meta.json has a bad "clarity": {err}') from err


def fit_clarity_rule(
    probs: np.ndarray,
    labels: np.ndarray,
    *,
    target_precision: float = 0.6,
    min_clear: int = 20,
    mixed_mass: float = DEFAULT_RULE.mixed_mass,
    mixed_second: float = DEFAULT_RULE.mixed_second,
) -> ClarityRule:
    """The rule that judges the most predictions clear while they stay right often enough.

    probs : np.ndarray [shape=(n, 8)] probabilities in label order, held out from training
    (leave-one-corpus-out predictions: the rule is meant for voices the model never heard).
    labels : np.ndarray [shape=(n,)] int, the true emotion's index.

    Over a grid of thresholds (steps of 0.01), keeps the rules whose clear predictions are
    right at least ``target_precision`` of the time (and number at least ``min_clear``, so
    that a handful of lucky ones cannot decide) and returns the one that judges the most
    predictions clear; ties go to the higher precision, then the lower thresholds. Its
    ``precision``, ``coverage`` and ``fitted_on`` are measured on ``probs``. When no rule
    reaches the target, the result never calls anything clear (``min_confidence`` 1,
    ``coverage`` 0, ``precision`` None).

    Why 0.6 by default: a named emotion is read as a statement about the voice, so it should
    be right clearly more often than wrong (three times in five, against one in eight by
    chance over eight classes). A higher target leaves today's cross-corpus models (UA 0.4
    to 0.55 on unheard corpora) naming almost nothing, which tells the user as little as a
    wrong name; a lower one names emotions that are wrong nearly half the time.
    """
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels)
    if probs.ndim != 2 or probs.shape[1] != len(EMOTION_NAMES):
        raise ValueError(f"expected probabilities of shape (n, 8), got {probs.shape}")
    if labels.shape != (len(probs),):
        raise ValueError(f"expected {len(probs)} labels, got shape {labels.shape}")
    if not 0 < target_precision <= 1:
        raise ValueError(f"target_precision must be in (0, 1], not {target_precision}")
    ranked = np.sort(probs, axis=1)
    top, margin = ranked[:, -1], ranked[:, -1] - ranked[:, -2]
    correct = probs.argmax(axis=1) == labels
    n = len(probs)

    best: tuple[int, float, float, float] | None = None  # count, precision, -c, -m
    for c in _GRID:
        above = top > c
        if above.sum() < min_clear:
            break  # stricter thresholds keep even fewer
        clear = margin[above][:, None] > _GRID[None, :]  # [n_above, grid]
        counts = clear.sum(axis=0)
        hits = (clear & correct[above][:, None]).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            precision = hits / counts
        ok = (counts >= min_clear) & (precision >= target_precision)
        for j in np.flatnonzero(ok):
            key = (int(counts[j]), float(precision[j]), -float(c), -float(_GRID[j]))
            if best is None or key > best:
                best = key
    common = {
        "mixed_mass": mixed_mass,
        "mixed_second": mixed_second,
        "target_precision": target_precision,
        "fitted_on": n,
    }
    if best is None:
        return ClarityRule(min_confidence=1.0, min_margin=0.0, coverage=0.0, **common)
    count, precision_, neg_c, neg_m = best
    return ClarityRule(
        min_confidence=-neg_c + 0.0,
        min_margin=-neg_m + 0.0,
        precision=round(precision_, 4),
        coverage=round(count / n, 4),
        **common,
    )


def _as_vector(probabilities: Mapping[str, float] | np.ndarray) -> np.ndarray:
    if isinstance(probabilities, Mapping):
        probs = np.array([float(probabilities.get(n, 0.0)) for n in EMOTION_NAMES])
    else:
        probs = np.asarray(probabilities, dtype=np.float64)
    if probs.shape != (len(EMOTION_NAMES),) or not np.all(np.isfinite(probs)):
        raise ValueError(f"expected eight finite probabilities, got {probs!r}")
    return probs


__all__ = [
    "DEFAULT_RULE",
    "ClarityRule",
    "Verdict",
    "VerdictKind",
    "fit_clarity_rule",
    "rule_from_meta",
    "verdict_text",
]
