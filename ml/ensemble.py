"""How much each member of an ensemble counts, fitted on leave-one-corpus-out logits.

Members hear different things: the pretrained encoder carries across languages, the
hand-made functionals across studios of one language, and a member that is confidently
wrong on a new corpus (the functionals call ordinary speech angry) drags an equal-weight
mean with it. The weights, and the neutral prior added on top, are chosen together on the
logits of corpora the members never heard:

* the mean UA over the corpora, while every corpus calls at least half of its neutral
  takes neutral (the prior's rule, ``ml.evaluation.NEUTRAL_TARGET``);
* over a grid on the simplex (steps of 0.1), so that no weight is finer than the
  evidence; a member may get 0 and then leaves the ensemble.

The figures reported are *nested*: each corpus is scored with the weights and prior
fitted on the other corpora only, so its own labels never chose them.
"""

from __future__ import annotations

import itertools

import numpy as np

from ml.evaluation import NEUTRAL, NEUTRAL_TARGET, HeldOut, best_neutral_bias

STEP = 0.1


def simplex(n: int, step: float = STEP) -> list[np.ndarray]:
    """Every weight vector of ``n`` members, each a multiple of ``step``, summing to 1."""
    units = round(1 / step)
    grid = []
    for head in itertools.product(range(units + 1), repeat=n - 1):
        if sum(head) <= units:
            grid.append(np.array([*head, units - sum(head)], dtype=float) / units)
    return grid


def combine(member_logits: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """member_logits [shape=(m, n, 8)], weights [shape=(m,)] -> [shape=(n, 8)] as the
    saved model combines them (a weighted mean)."""
    w = np.asarray(weights, dtype=float)
    return np.tensordot(w / w.sum(), member_logits, axes=1).astype(np.float32)


def _fit(member_logits, labels, corpora, target: float) -> tuple[np.ndarray, float]:
    best = None
    for w in simplex(len(member_logits)):
        key, bias = best_neutral_bias(combine(member_logits, w), labels, corpora, target)
        # Ties go to the flattest weights (closest to equal), then to the grid's order.
        key = (*key, -float(np.abs(w - 1 / len(w)).sum()))
        if best is None or key > best[0]:
            best = (key, w, bias)
    return best[1], best[2]


def fit_weights(held: HeldOut, target: float = NEUTRAL_TARGET) -> tuple[np.ndarray, float, HeldOut]:
    """Member weights and neutral prior fitted on every corpus (for the saved model), and
    the held-out logits combined *nested*: each corpus by what the others chose. ``target``
    is the neutral recall every corpus must reach."""
    if held.members is None:
        raise ValueError("the held-out logits do not keep each member's logits")
    nested = np.zeros_like(held.logits)
    for c in sorted(set(held.corpora)):
        rest, mine = held.corpora != c, held.corpora == c
        w, b = _fit(held.members[:, rest], held.labels[rest], held.corpora[rest], target)
        nested[mine] = combine(held.members[:, mine], w)
        nested[mine, NEUTRAL] += b
    w_all, b_all = _fit(held.members, held.labels, held.corpora, target)
    return w_all, b_all, HeldOut(nested, held.labels, held.corpora, held.seconds, held.members)
