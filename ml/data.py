"""Corpora on disk and the speaker-disjoint folds used to judge a model.

RAVDESS: ``Actor_NN/03-01-EE-II-SS-RR-AA.flac``; SAVEE: ``SPEAKER/SPEAKER_<code><nn>.flac``;
EMOVO: ``SPEAKER/<emo>-<speaker>-<sentence>.flac``; CASIA: ``SPEAKER/<emotion>/<nnn>.flac``.
A random split by file puts the same voice in training and test and overstates accuracy
by 20 points or more, so every split here is by speaker.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ml.labels import EMOTIONS, Emotion

AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3"}
_RAVDESS = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")
_SAVEE = re.compile(r"^([A-Z]{2})_(sa|su|a|d|f|h|n)(\d\d)$")
_EMOVO = re.compile(r"^(neu|gio|tri|rab|pau|dis|sor)-([fm][1-3])-(\w+)$")
_EMOVO_CODES = {
    "neu": Emotion.NEUTRAL,
    "gio": Emotion.HAPPY,
    "tri": Emotion.SAD,
    "rab": Emotion.ANGRY,
    "pau": Emotion.FEARFUL,
    "dis": Emotion.DISGUST,
    "sor": Emotion.SURPRISED,
}
_CASIA_FOLDERS = {
    "neutral": Emotion.NEUTRAL,
    "happy": Emotion.HAPPY,
    "sad": Emotion.SAD,
    "angry": Emotion.ANGRY,
    "fear": Emotion.FEARFUL,
    "surprise": Emotion.SURPRISED,
}
_CASIA_FEMALE = {"liuchanhg", "zhaoquanyin"}
_SAVEE_CODES = {
    "a": Emotion.ANGRY,
    "d": Emotion.DISGUST,
    "f": Emotion.FEARFUL,
    "h": Emotion.HAPPY,
    "n": Emotion.NEUTRAL,
    "sa": Emotion.SAD,
    "su": Emotion.SURPRISED,
}


@dataclass(frozen=True)
class Utterance:
    path: Path
    emotion: Emotion
    speaker: str  # corpus-qualified, e.g. "ravdess:07" or "savee:DC"
    corpus: str
    female: bool

    @property
    def label(self) -> int:
        return EMOTIONS.index(self.emotion)


def parse_ravdess_name(stem: str) -> tuple[Emotion, int, int] | None:
    """``03-01-05-02-01-01-07`` -> (angry, intensity 2, actor 7); None if not RAVDESS speech."""
    m = _RAVDESS.match(stem)
    if not m:
        return None
    modality, channel, emotion, intensity, _, _, actor = (int(g) for g in m.groups())
    if modality != 3 or channel != 1 or not 1 <= emotion <= 8:
        return None
    return EMOTIONS[emotion - 1], intensity, actor


def ravdess(root: str | Path) -> list[Utterance]:
    out = []
    for path in sorted(Path(root).rglob("*")):
        parsed = parse_ravdess_name(path.stem) if path.suffix.lower() in AUDIO_SUFFIXES else None
        if parsed:
            emotion, _, actor = parsed
            out.append(Utterance(path, emotion, f"ravdess:{actor:02d}", "ravdess", actor % 2 == 0))
    return out


def savee(root: str | Path) -> list[Utterance]:
    out = []
    for path in sorted(Path(root).rglob("*")):
        m = _SAVEE.match(path.stem) if path.suffix.lower() in AUDIO_SUFFIXES else None
        if m:
            speaker, code = m.group(1), m.group(2)
            out.append(Utterance(path, _SAVEE_CODES[code], f"savee:{speaker}", "savee", False))
    return out


def emovo(root: str | Path) -> list[Utterance]:
    out = []
    for path in sorted(Path(root).rglob("*")):
        m = _EMOVO.match(path.stem) if path.suffix.lower() in AUDIO_SUFFIXES else None
        if m:
            code, speaker = m.group(1), m.group(2)
            out.append(
                Utterance(path, _EMOVO_CODES[code], f"emovo:{speaker}", "emovo", speaker[0] == "f")
            )
    return out


def casia(root: str | Path) -> list[Utterance]:
    out = []
    for path in sorted(Path(root).rglob("*")):
        if path.suffix.lower() not in AUDIO_SUFFIXES or not path.stem.isdigit():
            continue
        emotion = _CASIA_FOLDERS.get(path.parent.name)
        if emotion is not None:
            speaker = path.parent.parent.name
            out.append(
                Utterance(path, emotion, f"casia:{speaker}", "casia", speaker in _CASIA_FEMALE)
            )
    return out


def corpus(root: str | Path) -> list[Utterance]:
    """Every labelled utterance under ``root``: RAVDESS, SAVEE, EMOVO or CASIA naming."""
    items = ravdess(root) + savee(root) + emovo(root) + casia(root)
    if not items:
        raise FileNotFoundError(f"no RAVDESS, SAVEE, EMOVO or CASIA recordings found under {root}")
    return items


def corpus_classes(items: Sequence[Utterance]) -> dict[str, set[int]]:
    """The label indices each corpus has."""
    out: dict[str, set[int]] = {}
    for u in items:
        out.setdefault(u.corpus, set()).add(u.label)
    return out


def ravdess_folds(actors: Iterable[int], n_folds: int = 5) -> list[list[int]]:
    """Actor-disjoint folds balanced by gender (odd actors male, even female).

    Actors 1..20 in 5 folds: [1, 2, 11, 12], [3, 4, 13, 14], ...
    """
    males = sorted(a for a in actors if a % 2 == 1)
    females = sorted(a for a in actors if a % 2 == 0)
    folds: list[list[int]] = [[] for _ in range(n_folds)]
    for group in (males, females):
        for i, actor in enumerate(group):
            folds[(i % n_folds)].append(actor)
    return [sorted(f) for f in folds]


def speaker_folds(items: Sequence[Utterance], n_folds: int = 5) -> list[np.ndarray]:
    """Test-index arrays, one per fold; each speaker is in exactly one fold.

    RAVDESS actors are spread by gender; other corpora's speakers go round-robin.
    """
    actors = sorted({int(u.speaker.split(":")[1]) for u in items if u.corpus == "ravdess"})
    fold_of: dict[str, int] = {}
    for k, fold in enumerate(ravdess_folds(actors, n_folds)):
        for a in fold:
            fold_of[f"ravdess:{a:02d}"] = k
    others = sorted({u.speaker for u in items if u.speaker not in fold_of})
    for i, speaker in enumerate(others):
        fold_of[speaker] = i % n_folds
    which = np.array([fold_of[u.speaker] for u in items])
    return [np.flatnonzero(which == k) for k in range(n_folds)]
