"""Corpus names and speaker-disjoint folds: no voice may be in training and test at once."""

from __future__ import annotations

import unittest
from collections import Counter
from itertools import combinations
from pathlib import Path

from ml.data import (
    Utterance,
    casia,
    corpus,
    corpus_classes,
    emovo,
    parse_ravdess_name,
    ravdess,
    ravdess_folds,
    savee,
    speaker_folds,
)
from ml.labels import EMOTIONS, Emotion
from ml.tests.helpers import TempDirMixin, data_dir


def _touch(root: Path, *names: str) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()


def _utterances(speakers: list[str]) -> list[Utterance]:
    """Three utterances per speaker; RAVDESS speakers as 'ravdess:NN'."""
    items = []
    for speaker in speakers:
        corpus_name, who = speaker.split(":")
        female = corpus_name == "ravdess" and int(who) % 2 == 0
        for emotion in (Emotion.ANGRY, Emotion.SAD, Emotion.HAPPY):
            items.append(
                Utterance(Path(f"{who}-{emotion}.flac"), emotion, speaker, corpus_name, female)
            )
    return items


class NameTests(unittest.TestCase):
    def test_it_parses_ravdess_speech_names(self) -> None:
        self.assertEqual(parse_ravdess_name("03-01-05-02-01-01-07"), (Emotion.ANGRY, 2, 7))
        self.assertEqual(parse_ravdess_name("03-01-01-01-02-02-20"), (Emotion.NEUTRAL, 1, 20))
        for code, emotion in enumerate(EMOTIONS, start=1):
            with self.subTest(code=code):
                parsed = parse_ravdess_name(f"03-01-{code:02d}-01-01-01-01")
                self.assertEqual(parsed, (emotion, 1, 1))

    def test_it_ignores_names_that_are_not_ravdess_speech(self) -> None:
        others = [
            "03-02-05-02-01-01-07",  # song, not speech
            "01-01-05-02-01-01-07",  # audio-visual
            "03-01-09-01-01-01-07",  # no emotion 09
            "03-01-00-01-01-01-07",
            "03-01-05-02-01-01",  # six fields
            "03-01-05-02-01-01-07-extra",
            "DC_a01",
            "",
        ]
        for stem in others:
            with self.subTest(stem=stem):
                self.assertIsNone(parse_ravdess_name(stem))


class CorpusTests(TempDirMixin, unittest.TestCase):
    def test_it_lists_ravdess_speech_files_by_name(self) -> None:
        root = self.tmp / "ravdess"
        _touch(
            root,
            "Actor_07/03-01-05-02-01-01-07.flac",
            "Actor_08/03-01-04-01-02-02-08.wav",
            "Actor_08/03-02-04-01-02-02-08.wav",  # song
            "Actor_08/03-01-04-01-02-02-08.txt",  # not audio
            "Actor_08/README.flac",
        )
        items = ravdess(root)
        expected = [(Emotion.ANGRY, "ravdess:07", False), (Emotion.SAD, "ravdess:08", True)]
        self.assertEqual([(u.emotion, u.speaker, u.female) for u in items], expected)
        self.assertEqual({u.corpus for u in items}, {"ravdess"})
        self.assertEqual([u.label for u in items], [4, 3])

    def test_it_lists_savee_files_by_name(self) -> None:
        root = self.tmp / "savee"
        codes = {"a": Emotion.ANGRY, "d": Emotion.DISGUST, "f": Emotion.FEARFUL,
                 "h": Emotion.HAPPY, "n": Emotion.NEUTRAL, "sa": Emotion.SAD,
                 "su": Emotion.SURPRISED}  # fmt: skip
        _touch(
            root, *(f"JK/JK_{code}01.flac" for code in codes), "JK/JK_x01.flac", "JK/jk_a01.flac"
        )
        items = savee(root)
        self.assertEqual({u.path.stem.split("_")[1][:-2]: u.emotion for u in items}, codes)
        self.assertEqual({u.speaker for u in items}, {"savee:JK"})
        self.assertFalse(any(u.female for u in items))  # SAVEE's four speakers are men

    def test_it_lists_emovo_files_by_name(self) -> None:
        root = self.tmp / "emovo"
        codes = {"neu": Emotion.NEUTRAL, "gio": Emotion.HAPPY, "tri": Emotion.SAD,
                 "rab": Emotion.ANGRY, "pau": Emotion.FEARFUL, "dis": Emotion.DISGUST,
                 "sor": Emotion.SURPRISED}  # fmt: skip
        _touch(root, *(f"f2/{code}-f2-b1.flac" for code in codes), "m3/sor-m3-n5.flac")
        _touch(root, "f2/xyz-f2-b1.flac", "f2/neu-f2-b1.txt")
        items = emovo(root)
        self.assertEqual(len(items), 8)
        self.assertEqual({u.path.stem[:3]: u.emotion for u in items}, codes)
        female = {u.speaker: u.female for u in items}
        self.assertEqual(female, {"emovo:f2": True, "emovo:m3": False})

    def test_it_lists_casia_files_by_folder(self) -> None:
        root = self.tmp / "casia"
        _touch(root, "wangzhe/fear/201.flac", "liuchanhg/surprise/230.flac")
        _touch(root, "wangzhe/bored/201.flac", "wangzhe/fear/notes.flac")
        items = casia(root)
        self.assertEqual(
            [(u.speaker, u.emotion, u.female) for u in items],
            [
                ("casia:liuchanhg", Emotion.SURPRISED, True),
                ("casia:wangzhe", Emotion.FEARFUL, False),
            ],
        )

    def test_it_refuses_a_folder_without_recordings(self) -> None:
        empty = self.tmp / "empty"
        empty.mkdir()
        with self.assertRaises(FileNotFoundError) as caught:
            corpus(empty)
        self.assertIn(str(empty), str(caught.exception))

    def test_it_finds_the_shared_corpora(self) -> None:
        items = corpus(data_dir())
        per_corpus = Counter(u.corpus for u in items)
        self.assertEqual(per_corpus["ravdess"], 1200)  # actors 01-20, 60 takes each
        self.assertEqual(per_corpus["savee"], 480)
        self.assertEqual(per_corpus["emovo"], 588)
        self.assertEqual(per_corpus["casia"], 1200)
        self.assertEqual(len({u.speaker for u in items}), 34)
        classes = corpus_classes(items)
        self.assertEqual(len(classes["ravdess"]), 8)  # only RAVDESS has calm
        self.assertEqual(len(classes["emovo"]), 7)
        self.assertNotIn(EMOTIONS.index(Emotion.DISGUST), classes["casia"])
        actors = Counter(u.speaker for u in items if u.corpus == "ravdess")
        self.assertEqual(sorted(actors), [f"ravdess:{a:02d}" for a in range(1, 21)])
        self.assertEqual(set(actors.values()), {60})
        for u in items:
            if u.corpus == "ravdess":
                self.assertEqual(u.path.parent.name, f"Actor_{u.speaker[-2:]}")
                self.assertEqual(u.path.stem.split("-")[2], f"{u.label + 1:02d}")


class FoldTests(unittest.TestCase):
    def test_it_makes_five_gender_balanced_folds_of_four_actors(self) -> None:
        folds = ravdess_folds(range(1, 21))
        self.assertEqual(len(folds), 5)
        self.assertEqual(folds[0], [1, 2, 11, 12])
        for fold in folds:
            self.assertEqual(len(fold), 4)
            self.assertEqual(sum(a % 2 for a in fold), 2, f"{fold} is not two men, two women")
        for a, b in combinations(folds, 2):
            self.assertFalse(set(a) & set(b))
        self.assertEqual(sorted(a for fold in folds for a in fold), list(range(1, 21)))

    def test_it_never_puts_a_speaker_in_two_folds(self) -> None:
        speakers = [f"ravdess:{a:02d}" for a in range(1, 21)]
        speakers += ["savee:DC", "savee:JE", "savee:JK", "savee:KL"]
        items = _utterances(speakers)
        folds = speaker_folds(items, n_folds=5)
        self.assertEqual(len(folds), 5)
        seen = sorted(i for fold in folds for i in fold)
        self.assertEqual(seen, list(range(len(items))), "the folds must partition the items")
        fold_of: dict[str, set[int]] = {}
        for k, fold in enumerate(folds):
            self.assertGreater(len(fold), 0)
            for i in fold:
                fold_of.setdefault(items[i].speaker, set()).add(k)
        self.assertEqual({s: len(ks) for s, ks in fold_of.items()}, dict.fromkeys(speakers, 1))

    def test_it_balances_gender_in_speaker_folds(self) -> None:
        items = _utterances([f"ravdess:{a:02d}" for a in range(1, 21)])
        for fold in speaker_folds(items):
            women = {items[i].speaker for i in fold if items[i].female}
            men = {items[i].speaker for i in fold if not items[i].female}
            self.assertEqual((len(women), len(men)), (2, 2))


if __name__ == "__main__":
    unittest.main()
