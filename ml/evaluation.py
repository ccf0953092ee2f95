"""How well a recipe does on voices, languages and rooms it has never heard.

Two protocols, both by whole speakers or whole corpora (never a random split by file):

* **Leave one corpus out** (the headline): for each corpus, train on the others and score
  the held-out one over the emotions it has. The out-of-corpus logits also fit the
  temperature and the clarity rule, so that confidence is calibrated for studios the
  model has never heard rather than for the ones it was trained on.
* **Speaker-disjoint folds** over every corpus together: RAVDESS actors 4 per fold (2 men,
  2 women), the other corpora's speakers spread over the folds; each corpus is also
  scored on its own held-out speakers.

An ensemble's logits are the mean of its members' logits.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ml.data import Utterance, speaker_folds
from ml.labels import EMOTION_NAMES, Emotion
from ml.metrics import (
    accuracy,
    confusion,
    expected_calibration_error,
    fit_temperature,
    per_class_recall,
    softmax,
    unweighted_average_recall,
)

NEUTRAL = EMOTION_NAMES.index(Emotion.NEUTRAL.value)


def _scores(labels: np.ndarray, logits: np.ndarray) -> dict:
    pred = logits.argmax(axis=1)
    recall = per_class_recall(confusion(labels, pred))
    return {
        "utterances": int(len(labels)),
        "classes": int(np.sum(~np.isnan(recall))),
        "ua": round(unweighted_average_recall(labels, pred), 4),
        "accuracy": round(accuracy(labels, pred), 4),
        "neutral_recall": None if np.isnan(recall[NEUTRAL]) else round(float(recall[NEUTRAL]), 4),
        "per_class_recall": {
            n: round(float(r), 4)
            for n, r in zip(EMOTION_NAMES, recall, strict=True)
            if not np.isnan(r)
        },
    }


@dataclass
class HeldOut:
    """Out-of-sample logits [shape=(n, 8)] of every utterance, with its label and corpus."""

    logits: np.ndarray
    labels: np.ndarray
    corpora: np.ndarray
    seconds: float
    members: np.ndarray | None = None  # each member's logits [shape=(m, n, 8)], if kept

    def per_corpus(self) -> dict[str, dict]:
        return {
            c: _scores(self.labels[self.corpora == c], self.logits[self.corpora == c])
            for c in sorted(set(self.corpora))
        }


def _member_logits(members, labels, corpora, train, test) -> np.ndarray:
    """Each member fitted on ``train`` -> its logits on ``test`` [shape=(m, len(test), 8)]."""
    from ml.training import fit, predict_logits

    out = []
    for feats, recipe in members:
        model, norm = fit(feats, labels, train, recipe, corpora=corpora)
        out.append(predict_logits(model, norm, [feats[i][0] for i in test]))
    return np.stack(out)


def leave_one_corpus_out(items: Sequence[Utterance], members, log=print) -> HeldOut:
    """``members``: [(features out[i][variant], Recipe)]; one fit per member and corpus."""
    labels = np.array([u.label for u in items])
    corpora = np.array([u.corpus for u in items])
    per_member = np.zeros((len(members), len(items), len(EMOTION_NAMES)), dtype=np.float32)
    logits = np.zeros((len(items), len(EMOTION_NAMES)), dtype=np.float32)
    t0 = time.perf_counter()
    for c in sorted(set(corpora)):
        test = np.flatnonzero(corpora == c)
        train = np.flatnonzero(corpora != c)
        per_member[:, test] = _member_logits(members, labels, corpora, train, test)
        logits[test] = per_member[:, test].mean(axis=0)
        s = _scores(labels[test], logits[test])
        log(
            f"held-out corpus {c}: UA {s['ua']:.3f}, neutral recall {s['neutral_recall']:.2f} "
            f"({time.perf_counter() - t0:.0f} s)"
        )
    return HeldOut(logits, labels, corpora, time.perf_counter() - t0, per_member)


def speaker_cross_validation(
    items: Sequence[Utterance], members, n_folds: int = 5, log=print
) -> tuple[HeldOut, list[np.ndarray]]:
    labels = np.array([u.label for u in items])
    corpora = np.array([u.corpus for u in items])
    folds = speaker_folds(items, n_folds)
    logits = np.zeros((len(items), len(EMOTION_NAMES)), dtype=np.float32)
    t0 = time.perf_counter()
    for k, test in enumerate(folds):
        train = np.setdiff1d(np.arange(len(items)), test)
        logits[test] = _member_logits(members, labels, corpora, train, test).mean(axis=0)
        ua = unweighted_average_recall(labels[test], logits[test].argmax(1))
        log(f"speaker fold {k + 1}/{n_folds}: UA {ua:.3f} ({time.perf_counter() - t0:.0f} s)")
    return HeldOut(logits, labels, corpora, time.perf_counter() - t0), folds


NEUTRAL_TARGET = 0.5  # ordinary speech must come back neutral at least half the time
_BIAS_GRID = np.round(np.arange(0.0, 4.01, 0.1), 2)


def best_neutral_bias(
    logits, labels, corpora, target: float = NEUTRAL_TARGET
) -> tuple[tuple, float]:
    """The neutral bias (added to the neutral logit) that maximises the mean UA over
    ``corpora`` while every corpus calls at least ``target`` of its neutral takes neutral;
    when none does, the one with the best lowest neutral recall. Returns it with its key
    (comparable across logits: larger is better)."""
    best = None
    names = sorted(set(corpora))
    for b in _BIAS_GRID:
        shifted = logits.copy()
        shifted[:, NEUTRAL] += b
        scores = [_scores(labels[corpora == c], shifted[corpora == c]) for c in names]
        ua = float(np.mean([s["ua"] for s in scores]))
        low = min(s["neutral_recall"] for s in scores if s["neutral_recall"] is not None)
        key = (1, ua, low) if low >= target else (0, low, ua)
        if best is None or key > best[0]:
            best = (key, float(b))
    return best


def neutral_bias(held: HeldOut, target: float = NEUTRAL_TARGET) -> tuple[float, HeldOut]:
    """A prior for ordinary speech, fitted on held-out-corpus logits.

    Acted corpora hold few neutral takes and many loud ones; people upload mostly ordinary
    speech, which a model trained on actors calls angry or sad. Returns the bias fitted on
    every corpus (for the saved model) and the logits shifted *nested*: each corpus by the
    bias fitted on the other corpora only, so its score never saw its own labels.
    """
    shifted = held.logits.copy()
    for c in sorted(set(held.corpora)):
        rest = held.corpora != c
        _, b = best_neutral_bias(held.logits[rest], held.labels[rest], held.corpora[rest], target)
        shifted[held.corpora == c, NEUTRAL] += b
    _, b_all = best_neutral_bias(held.logits, held.labels, held.corpora, target)
    return b_all, HeldOut(shifted, held.labels, held.corpora, held.seconds)


def loco_summary(held: HeldOut) -> dict:
    """Per corpus and mean; calibration across corpora (temperature fitted on these logits)."""
    per = held.per_corpus()
    temperature = fit_temperature(held.logits, held.labels)
    return {
        "protocol": "leave one corpus out: train on the other corpora, score the held-out one",
        "corpora": per,
        "ua_mean": round(float(np.mean([s["ua"] for s in per.values()])), 4),
        "neutral_recall_min": round(min(s["neutral_recall"] for s in per.values()), 4),
        "temperature": temperature,
        "ece_raw": round(expected_calibration_error(softmax(held.logits), held.labels), 4),
        "ece_calibrated": round(
            expected_calibration_error(softmax(held.logits, temperature), held.labels), 4
        ),
        "train_seconds": round(held.seconds, 1),
    }


def speaker_summary(held: HeldOut, folds: list[np.ndarray]) -> dict:
    rav_folds = []
    for test in folds:
        rav = test[held.corpora[test] == "ravdess"]
        if len(rav):
            rav_folds.append(
                unweighted_average_recall(held.labels[rav], held.logits[rav].argmax(1))
            )
    rav = held.corpora == "ravdess"
    return {
        "protocol": f"{len(folds)}-fold speaker-disjoint cross-validation over every corpus",
        "corpora": held.per_corpus(),
        "ravdess_fold_ua": [round(float(v), 4) for v in rav_folds],
        "ravdess_ua_mean": round(float(np.mean(rav_folds)), 4) if rav_folds else None,
        "ravdess_ua_std": round(float(np.std(rav_folds)), 4) if rav_folds else None,
        "ravdess_confusion": confusion(held.labels[rav], held.logits[rav].argmax(1)).tolist(),
        "train_seconds": round(held.seconds, 1),
    }


def format_loco(m: dict) -> str:
    lines = [m["protocol"]]
    for c, s in m["corpora"].items():
        lines.append(
            f"  {c:<8} UA {s['ua']:.3f}  neutral recall {s['neutral_recall']:.2f}  "
            f"({s['classes']} emotions, {s['utterances']} takes)"
        )
    lines.append(
        f"  mean UA {m['ua_mean']:.3f}; lowest neutral recall {m['neutral_recall_min']:.2f}"
    )
    lines.append(
        f"  calibration across corpora: temperature {m['temperature']}, "
        f"ECE {m['ece_raw']:.3f} -> {m['ece_calibrated']:.3f}"
    )
    return "\n".join(lines)


def format_speakers(m: dict) -> str:
    lines = [m["protocol"]]
    if m["ravdess_fold_ua"]:
        lines.append(
            f"  RAVDESS actors: UA {m['ravdess_ua_mean']:.3f} ± {m['ravdess_ua_std']:.3f} "
            f"(folds: {m['ravdess_fold_ua']})"
        )
    for c, s in m["corpora"].items():
        neutral = "-" if s["neutral_recall"] is None else f"{s['neutral_recall']:.2f}"
        lines.append(f"  held-out {c} speakers: UA {s['ua']:.3f}  neutral recall {neutral}")
    return "\n".join(lines)


# Plain names of the corpora for people who never heard of them.
CORPUS_NAMES = {
    "ravdess": ("North American English actors (RAVDESS)", "English"),
    "savee": ("British English actors (SAVEE)", "English"),
    "emovo": ("Italian actors (EMOVO)", "Italian"),
    "casia": ("Mandarin Chinese actors (CASIA)", "Mandarin Chinese"),
}


def card_from_evaluation(items: Sequence[Utterance], loco: dict) -> dict:
    """The plain-words card (see ml/card.py) from the training data and the
    leave-one-corpus-out figures: each corpus was scored by a model that never heard it."""
    corpora = sorted({u.corpus for u in items})
    languages = sorted({CORPUS_NAMES.get(c, (c, c))[1] for c in corpora})
    speakers = len({u.speaker for u in items})
    spoken = (
        languages[0] if len(languages) == 1 else f"{', '.join(languages[:-1])} and {languages[-1]}"
    )
    trained_on = (
        f"Acted emotional speech: {len(items):,} takes by {speakers} speakers in {spoken} "
        f"({', '.join(c.upper() for c in corpora)})."
    )
    unseen = [
        {
            "set": f"{CORPUS_NAMES.get(c, (c, c))[0]}, left out of training",
            "classes": s["classes"],
            "ua": s["ua"],
            "neutral_recall": s["neutral_recall"],
        }
        for c, s in loco["corpora"].items()
    ]
    return {
        "trained_on": trained_on,
        "unseen": unseen,
        "summary": (
            "Each figure comes from the same recipe trained without that corpus, so its "
            "voices, studio and (but for English) language were new to the model: expect "
            "about as much on your own recordings, and take the answer as a hint, not a "
            "verdict."
        ),
    }
