"""Features standardised over each voice's own takes (per-speaker normalisation).

A voice's pitch range, timbre, microphone and room move every feature; an emotion shows
as a change from that voice's own habit. Subtracting the voice's mean and dividing by its
s.d., taken over its own takes, removes the habit and keeps the change: across corpora it
was the largest single gain of the probes (``scripts/loco_probe.py --speaker-norm``).

It needs several takes of one voice: a held-out speaker is standardised by the statistics
of its own takes (no labels are used), so a single upload cannot be treated this way.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_FLOOR = 1e-6  # a feature constant over one voice's takes keeps its offset removed, not inf


def voice_statistics(clean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and s.d. [shape=(d,)] of one voice's takes [shape=(n, d)]."""
    clean = np.asarray(clean, dtype=np.float64)
    return clean.mean(axis=0), clean.std(axis=0) + _FLOOR


def standardise_by_voice(feats: Sequence[np.ndarray], voices: Sequence[str]) -> list[np.ndarray]:
    """``feats[i]``: the variants of take i [shape=(v, d)], variant 0 as recorded.

    Every variant of a take is standardised with its voice's statistics over the takes as
    recorded, so that an augmented copy (slower, noisier) still differs from the voice's
    habit as it would in the world."""
    if len(feats) != len(voices):
        raise ValueError(f"{len(feats)} takes but {len(voices)} voices")
    if any(np.ndim(f) != 2 for f in feats):
        raise ValueError("per-voice standardisation needs one vector per variant of a take")
    voices = np.asarray(voices)
    out: list[np.ndarray] = [np.empty(0)] * len(feats)
    for voice in np.unique(voices):
        mine = np.flatnonzero(voices == voice)
        mean, std = voice_statistics(np.stack([feats[i][0] for i in mine]))
        for i in mine:
            out[i] = ((feats[i] - mean) / std).astype(np.float32)
    return out
