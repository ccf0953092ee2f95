"""Scores for classifiers: unweighted average recall, confusion, calibration."""

from __future__ import annotations

import numpy as np

from ml.labels import EMOTION_NAMES


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n: int = len(EMOTION_NAMES)) -> np.ndarray:
    """[n, n] counts; rows are the true class, columns the predicted one."""
    m = np.zeros((n, n), dtype=int)
    np.add.at(m, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return m


def per_class_recall(cm: np.ndarray) -> np.ndarray:
    support = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, np.diag(cm) / np.maximum(support, 1), np.nan)


def unweighted_average_recall(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean of the per-class recalls over the classes present in ``y_true``."""
    return float(np.nanmean(per_class_recall(confusion(y_true, y_pred))))


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


def expected_calibration_error(probs: np.ndarray, y_true: np.ndarray, bins: int = 15) -> float:
    """Weighted gap between confidence and accuracy over equal-width confidence bins."""
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y_true
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        sel = (conf > lo) & (conf <= hi)
        if sel.any():
            ece += sel.mean() * abs(correct[sel].mean() - conf[sel].mean())
    return float(ece)


def fit_temperature(logits: np.ndarray, y_true: np.ndarray) -> float:
    """Temperature minimising the negative log-likelihood (a 1-D search, 0.05 steps)."""
    best_t, best_nll = 1.0, np.inf
    for t in np.arange(0.3, 5.0, 0.05):
        p = softmax(logits, t)
        nll = -np.mean(np.log(p[np.arange(len(y_true)), y_true] + 1e-12))
        if nll < best_nll:
            best_t, best_nll = float(t), nll
    return round(best_t, 2)


def format_confusion(cm: np.ndarray, names: tuple[str, ...] = EMOTION_NAMES) -> str:
    short = [n[:4] for n in names]
    lines = ["true \\ pred " + " ".join(f"{s:>5}" for s in short)]
    for name, row in zip(names, cm, strict=True):
        lines.append(f"{name:<11} " + " ".join(f"{v:>5d}" for v in row))
    return "\n".join(lines)
