"""Emotion over time: speech regions, windows, segments and the share of each emotion.

The long recording is three RAVDESS takes by different actors with 2 s of near-silence
between them, so where the speech is is known.
"""

from __future__ import annotations

import json
import unittest
from types import SimpleNamespace

import numpy as np

from ml.audio import SAMPLE_RATE, load_audio
from ml.labels import EMOTION_NAMES, EMOTIONS, Emotion
from ml.recognizer import Prediction, get_recognizer
from ml.tests.helpers import (
    TempDirMixin,
    run_ml,
    silence,
    speech,
    tone,
    white_noise,
    write_audio,
)
from ml.timeline import (
    HOP,
    WINDOW,
    Segment,
    distribution,
    overall,
    speech_regions,
    summarise,
    timeline,
    windows,
)

TAKES = (
    {"emotion": Emotion.HAPPY, "actor": 1},
    {"emotion": Emotion.ANGRY, "actor": 2, "intensity": 2, "statement": 2},
    {"emotion": Emotion.SAD, "actor": 7, "repetition": 2},
)
LEAD, GAP = 1.0, 2.0  # seconds of near-silence before the first take and between takes


class _Conversation(TempDirMixin):
    """``cls.signal`` and ``cls.wav``; ``cls.clips``: (start, end, loudest moment) per take."""

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        parts, clips, t = [silence(LEAD)], [], LEAD
        for take in TAKES:
            clip = speech(**take)
            seconds = len(clip) / SAMPLE_RATE
            clips.append((t, t + seconds, t + np.argmax(np.abs(clip)) / SAMPLE_RATE))
            parts += [clip, silence(GAP)]
            t += seconds + GAP
        signal = np.concatenate(parts)
        # A faint room hiss (-80 dBFS) rather than digital silence between the sentences.
        signal += white_noise(len(signal) / SAMPLE_RATE, seed=21, amplitude=1e-4)[: len(signal)]
        cls.signal = signal.astype(np.float32)
        cls.clips = clips
        cls.wav = write_audio(cls.tmp / "conversation.wav", cls.signal)

    def clip_of(self, start: float, end: float) -> int:
        """Index of the take that holds [start, end]; fails if it crosses a gap."""
        for i, (a, b, _) in enumerate(self.clips):
            if a - 1e-6 <= start and end <= b + 1e-6:
                return i
        self.fail(f"[{start:.2f}, {end:.2f}] s is not inside one sentence: {self.clips}")


class SpeechRegionTests(_Conversation, unittest.TestCase):
    def test_it_finds_the_sentences_and_nothing_between_them(self) -> None:
        regions = speech_regions(self.signal)
        self.assertEqual(regions, sorted(regions))
        holders = [self.clip_of(a, b) for a, b in regions]
        self.assertEqual(sorted(set(holders)), [0, 1, 2], "every sentence has a region")
        for _, _, loudest in self.clips:
            self.assertTrue(any(a <= loudest <= b for a, b in regions), loudest)

    def test_it_finds_no_region_in_silence_or_faint_hiss(self) -> None:
        self.assertEqual(speech_regions(silence(5.0)), [])
        self.assertEqual(speech_regions(white_noise(5.0, seed=22, amplitude=1e-4)), [])
        self.assertEqual(speech_regions(np.zeros(100, np.float32)), [])

    def test_it_skips_clicks_and_bridges_short_pauses(self) -> None:
        click = np.concatenate([silence(2.0), tone(0.05, 1000.0), silence(2.0)])
        self.assertEqual(speech_regions(click), [])
        words = speech()[round(1.0 * SAMPLE_RATE) : round(2.6 * SAMPLE_RATE)]  # the sentence
        syllable = words[: round(0.2 * SAMPLE_RATE)]
        burst = np.concatenate([silence(1.0), syllable, silence(1.0)])
        self.assertEqual(speech_regions(burst), [], "shorter than MIN_REGION")
        short_pause = np.concatenate([silence(1.0), words, silence(0.2), words, silence(1.0)])
        self.assertEqual(len(speech_regions(short_pause)), 1)
        long_pause = np.concatenate([silence(1.0), words, silence(1.5), words, silence(1.0)])
        self.assertEqual(len(speech_regions(long_pause)), 2)


class WindowTests(unittest.TestCase):
    def test_it_cuts_long_regions_into_overlapping_windows(self) -> None:
        spans = list(windows([(2.0, 12.0)]))
        self.assertEqual(spans[0][0], 2.0)
        self.assertEqual(spans[-1][1], 12.0)
        for (a, b), (next_a, _) in zip(spans, spans[1:], strict=False):
            self.assertLessEqual(b - a, WINDOW + 1e-9)
            self.assertLess(a, next_a)
            self.assertLessEqual(next_a - a, HOP + 1e-9)
            self.assertLess(next_a, b, "consecutive windows overlap")
        self.assertTrue(all(a >= 2.0 and b <= 12.0 for a, b in spans))

    def test_it_keeps_short_regions_whole_and_in_order(self) -> None:
        spans = list(windows([(0.5, 2.0), (4.0, 7.0), (9.0, 13.5)]))
        self.assertEqual(spans[:2], [(0.5, 2.0), (4.0, 7.0)])
        self.assertEqual([a for a, _ in spans], sorted(a for a, _ in spans))
        self.assertTrue(all(b - a <= WINDOW + 1e-9 for a, b in spans))


def _segment(start: float, end: float, emotion: Emotion) -> Segment:
    probs = np.full(len(EMOTIONS), 0.05)
    probs[EMOTIONS.index(emotion)] = 0.65
    return Segment(start, end, Prediction.from_probs(probs))


class DistributionTests(unittest.TestCase):
    def test_it_counts_overlapping_time_once(self) -> None:
        segments = [
            _segment(0.0, 3.0, Emotion.HAPPY),
            _segment(1.5, 4.5, Emotion.SAD),
            _segment(6.0, 7.0, Emotion.ANGRY),
        ]
        shares = distribution(segments)
        self.assertEqual(tuple(shares), EMOTION_NAMES)
        self.assertAlmostEqual(shares["happy"], 1.5 / 5.5)
        self.assertAlmostEqual(shares["sad"], 3.0 / 5.5)
        self.assertAlmostEqual(shares["angry"], 1.0 / 5.5)
        self.assertAlmostEqual(sum(shares.values()), 1.0)

    def test_it_has_nothing_to_say_without_segments(self) -> None:
        self.assertEqual(distribution([]), dict.fromkeys(EMOTION_NAMES, 0.0))
        self.assertIsNone(overall([]))


class OverallTests(unittest.TestCase):
    def test_it_names_the_top_of_the_mean_probabilities_not_the_longest_emotion(self) -> None:
        # Surprised tops two windows narrowly, happy one window by far.
        narrow = np.array([0.02, 0.02, 0.35, 0.08, 0.05, 0.04, 0.04, 0.40])
        strong = np.array([0.0, 0.0, 0.95, 0.0, 0.0, 0.0, 0.0, 0.05])
        segments = [
            Segment(0.0, 3.0, Prediction.from_probs(narrow)),
            Segment(3.0, 6.0, Prediction.from_probs(narrow)),
            Segment(6.0, 9.0, Prediction.from_probs(strong)),
        ]
        shares = distribution(segments)
        result = overall(segments)

        self.assertEqual(max(shares, key=shares.get), "surprised")
        self.assertIs(result.emotion, Emotion.HAPPY)
        self.assertAlmostEqual(result.probabilities["happy"], (0.35 + 0.35 + 0.95) / 3)
        self.assertEqual(result.confidence, max(result.probabilities.values()))
        self.assertEqual(result.confidence, result.probabilities["happy"])
        self.assertEqual(result.verdict.text, "Happy")

    def test_it_weighs_the_windows_by_their_speaking_time(self) -> None:
        segments = [_segment(0.0, 3.0, Emotion.HAPPY), _segment(1.5, 4.5, Emotion.SAD)]
        result = overall(segments)
        # Happy owns 1.5 s (up to the next start), sad 3 s.
        self.assertAlmostEqual(result.probabilities["sad"], (1.5 * 0.05 + 3.0 * 0.65) / 4.5)
        self.assertIs(result.emotion, Emotion.SAD)


class SummariseTests(unittest.TestCase):
    def setUp(self) -> None:
        self.segments = [
            _segment(0.0, 3.0, Emotion.HAPPY),
            _segment(1.5, 4.5, Emotion.SAD),
            _segment(6.0, 7.0, Emotion.ANGRY),
        ]

    def test_it_tiles_the_speech_with_each_segments_own_time(self) -> None:
        summary = summarise(self.segments)

        spans = [(span.start, span.end, span.emotion) for span in summary.spans]
        self.assertEqual(spans, [(0.0, 1.5, "happy"), (1.5, 4.5, "sad"), (6.0, 7.0, "angry")])
        self.assertAlmostEqual(summary.speaking_seconds, 5.5)
        self.assertEqual(
            summary.ranked(), [("sad", 3 / 5.5), ("happy", 1.5 / 5.5), ("angry", 1 / 5.5)]
        )
        self.assertEqual(summary.ranked(1), [("sad", 3 / 5.5)])

    def test_it_reads_stored_segments_as_the_model_s_own(self) -> None:
        stored = [
            SimpleNamespace(
                start=seg.start,
                end=seg.end,
                emotion=seg.prediction.emotion.value,
                probabilities=dict(seg.prediction.probabilities),
            )
            for seg in reversed(self.segments)  # in any order
        ]
        ours, theirs = summarise(self.segments), summarise(stored)

        self.assertEqual(theirs.distribution, ours.distribution)
        self.assertEqual(theirs.result.probabilities, ours.result.probabilities)
        self.assertIs(theirs.result.emotion, Emotion.SAD)
        self.assertEqual([span.segment for span in theirs.spans], stored[::-1])

    def test_it_has_nothing_to_say_without_segments(self) -> None:
        self.assertIsNone(summarise([]))


class TimelineTests(_Conversation, unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.rec = get_recognizer()
        cls.progress: list[tuple[int, int]] = []
        cls.segments = timeline(
            cls.rec, cls.signal, progress=lambda done, total: cls.progress.append((done, total))
        )

    def test_it_classifies_windows_of_the_sentences_in_time_order(self) -> None:
        self.assertGreaterEqual(len(self.segments), len(TAKES))
        starts = [s.start for s in self.segments]
        self.assertEqual(starts, sorted(starts))
        for seg in self.segments:
            self.assertLessEqual(seg.end - seg.start, WINDOW + 1e-9)
            self.clip_of(seg.start, seg.end)
            probs = seg.prediction.probabilities
            self.assertEqual(tuple(probs), EMOTION_NAMES)
            self.assertAlmostEqual(sum(probs.values()), 1.0, delta=1e-6)
        self.assertEqual({self.clip_of(s.start, s.end) for s in self.segments}, {0, 1, 2})

    def test_it_reports_progress_after_each_window(self) -> None:
        n = len(self.segments)
        self.assertEqual(self.progress, [(i, n) for i in range(1, n + 1)])

    def test_it_shares_the_speaking_time_among_the_emotions(self) -> None:
        shares = distribution(self.segments)
        self.assertEqual(tuple(shares), EMOTION_NAMES)
        self.assertAlmostEqual(sum(shares.values()), 1.0, delta=1e-9)
        result = overall(self.segments)
        self.assertAlmostEqual(sum(result.probabilities.values()), 1.0, delta=1e-9)
        self.assertEqual(result.confidence, max(result.probabilities.values()))

    def test_it_finds_no_segment_in_silence(self) -> None:
        self.assertEqual(timeline(self.rec, silence(4.0)), [])

    def test_it_gives_the_same_windows_in_one_thread_as_in_two(self) -> None:
        alone = timeline(self.rec, self.signal, workers=1)
        self.assertEqual(
            [(s.start, s.end) for s in alone], [(s.start, s.end) for s in self.segments]
        )
        for one, two in zip(alone, self.segments, strict=True):
            self.assertEqual(one.prediction.emotion, two.prediction.emotion)
            for name in EMOTION_NAMES:
                self.assertAlmostEqual(
                    one.prediction.probabilities[name], two.prediction.probabilities[name], 5
                )


class TimelineCommandTests(_Conversation, unittest.TestCase):
    """``python -m ml timeline --jsonl FILE``: one JSON object per segment and nothing else."""

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.result = run_ml("timeline", "--jsonl", cls.wav)
        cls.lines = cls.result.stdout.splitlines()

    def test_it_succeeds(self) -> None:
        self.assertEqual(self.result.returncode, 0, self.result.stderr)

    def test_it_prints_one_json_object_per_segment_in_time_order(self) -> None:
        rows = [json.loads(line) for line in self.lines]  # every line must parse
        expected = list(windows(speech_regions(load_audio(self.wav).signal)))
        self.assertEqual(len(rows), len(expected))
        self.assertEqual([row["start"] for row in rows], [round(a, 3) for a, _ in expected])
        for row in rows:
            self.assertEqual(
                set(row),
                {"start", "end", "emotion", "confidence", "probabilities", "clear", "verdict"},
            )
            self.assertIsInstance(row["clear"], bool)
            self.assertLess(row["start"], row["end"])
            self.assertEqual(list(row["probabilities"]), list(EMOTION_NAMES))
            self.assertAlmostEqual(sum(row["probabilities"].values()), 1.0, delta=1e-4)
            self.assertEqual(
                row["emotion"], max(row["probabilities"], key=row["probabilities"].get)
            )
            self.assertEqual(row["confidence"], max(row["probabilities"].values()))


if __name__ == "__main__":
    unittest.main()
