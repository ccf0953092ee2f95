"""The charts of an analysis: well-formed inline SVG that says what a user needs to read."""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import numpy as np
from django.test import SimpleTestCase

from analyzer import charts
from analyzer.palette import EMOTION_COLOURS
from ml.labels import EMOTIONS, Emotion
from ml.recognizer import Prediction
from ml.timeline import Segment

SR = 16000
SVG = "{http://www.w3.org/2000/svg}"


@dataclass(frozen=True)
class _Seg:
    start: float
    end: float
    emotion: str | Emotion
    confidence: float


def _speechlike(seconds: float, *, seed: int = 0) -> np.ndarray:
    """Bursts of tones (150-2500 Hz) in seeded noise: float32 mono at 16 kHz."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    bursts = (np.sin(2 * np.pi * 1.7 * t) > -0.2).astype(np.float32)
    tones = sum(a * np.sin(2 * np.pi * f * t) for a, f in ((0.4, 150), (0.2, 700), (0.1, 2500)))
    return (bursts * tones + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def _an_hour(*, seed: int = 0) -> np.ndarray:
    """60 minutes at 16 kHz (230 MB of float32) built from a 10-s pattern, without float64."""
    pattern = _speechlike(10.0, seed=seed)
    return np.tile(pattern, 360)


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def _texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()).strip() for t in root.iter(f"{SVG}text")]


def _segment_paths(root: ET.Element) -> list[ET.Element]:
    groups = [g for g in root.iter(f"{SVG}g") if g.get("id", "").endswith("-segments")]
    assert len(groups) == 1, "the timeline has one group of segment bars"
    return list(groups[0].iter(f"{SVG}path"))


def _style(element: ET.Element) -> dict[str, str]:
    pairs = (p.split(":", 1) for p in element.get("style", "").split(";") if ":" in p)
    return {k.strip(): v.strip() for k, v in pairs}


PROBS = {
    "neutral": 0.05,
    "calm": 0.1,
    "happy": 0.52,
    "sad": 0.08,
    "angry": 0.1,
    "fearful": 0.05,
    "disgust": 0.04,
    "surprised": 0.06,
}
SEGMENTS = [
    _Seg(0.2, 3.2, "happy", 0.9),
    _Seg(1.7, 4.7, Emotion.HAPPY, 0.4),
    _Seg(3.2, 6.2, "sad", 0.7),
    _Seg(7.0, 9.5, "angry", 0.55),
]


class ChartsTests(SimpleTestCase):
    def test_it_returns_inline_ready_svg_for_every_chart(self):
        signal = _speechlike(10.0)
        rendered = charts.render_all(
            signal, SR, probabilities=PROBS, segments=SEGMENTS, duration=10.0
        )
        self.assertEqual(
            set(rendered), {"waveform", "spectrogram", "probabilities", "timeline", "distribution"}
        )
        ids = set()
        for name, svg in rendered.items():
            with self.subTest(chart=name):
                self.assertTrue(svg.startswith("<svg "), "no XML prolog or doctype before <svg>")
                self.assertNotIn("<!DOCTYPE", svg)
                root = _parse(svg)
                self.assertEqual(root.tag, f"{SVG}svg")
                self.assertEqual(root.get("role"), "img")
                self.assertEqual(root.get("width"), "100%")
                self.assertIsNone(root.get("height"))
                self.assertRegex(root.get("viewBox", ""), r"^0 0 [\d.]+ [\d.]+$")
                self.assertGreater(len(root.get("aria-label", "")), 20)
                title = root[0]
                self.assertEqual(title.tag, f"{SVG}title")
                self.assertEqual(title.text, root.get("aria-label"))
                # The default `*{...}` rule of matplotlib must not reach the rest of the page.
                self.assertNotRegex(svg, r"<style[^>]*>\s*\*")
                self.assertIn(f"#{root.get('id')} *{{", svg)
                ids.add(root.get("id"))
                # Text stays text (searchable, selectable), not glyph outlines.
                self.assertGreater(len(_texts(root)), 5)
                self.assertNotIn("DejaVuSans-", svg)
        self.assertEqual(len(ids), len(rendered), "ids are unique within a page")

    def test_it_leaves_out_timeline_and_distribution_without_segments(self):
        rendered = charts.render_all(_speechlike(3.0), SR, probabilities=PROBS, segments=[])
        self.assertEqual(set(rendered), {"waveform", "spectrogram", "probabilities"})

    def test_it_labels_the_waveform_axes_and_shades_segments(self):
        root = _parse(charts.waveform_svg(_speechlike(10.0), SR, segments=SEGMENTS))
        texts = _texts(root)
        self.assertIn("Waveform", texts)
        self.assertIn("Time (s)", texts)
        self.assertTrue(any(t.startswith("Amplitude") for t in texts), texts)
        self.assertIn("background colour = emotion", texts)
        self.assertEqual(len(list(root.iter(f"{SVG}image"))), 1, "the shading strip")
        plain = _parse(charts.waveform_svg(_speechlike(10.0), SR))
        self.assertEqual(list(plain.iter(f"{SVG}image")), [])
        self.assertNotIn("background colour = emotion", _texts(plain))

    def test_it_labels_the_spectrogram_in_hz_and_db(self):
        svg = charts.spectrogram_svg(_speechlike(5.0), SR)
        texts = _texts(_parse(svg))
        for expected in ("Frequency (Hz)", "Time (s)", "Level (dB, 0 = loudest)", "1k", "8k"):
            self.assertIn(expected, texts)
        self.assertIn("data:image/jpeg;base64,", svg)

    def test_it_shows_all_eight_probabilities_in_palette_colours(self):
        svg = charts.probabilities_svg(PROBS)
        root = _parse(svg)
        texts = _texts(root)
        self.assertIn("Probability (%)", texts)
        for emotion in EMOTIONS:
            self.assertIn(emotion.label, texts)
            self.assertIn(EMOTION_COLOURS[emotion], svg)
        self.assertIn("52 %", texts)
        self.assertIn("4.0 %", texts)
        bold = {
            "".join(t.itertext())
            for t in root.iter(f"{SVG}text")
            if _style(t).get("font-weight") in ("700", "bold")
        }
        self.assertIn("Happy", bold, "the most likely emotion stands out")
        self.assertNotIn("Calm", bold)
        self.assertIn("most likely Happy", root.get("aria-label"))

    def test_it_keeps_the_emotions_in_fixed_order(self):
        root = _parse(charts.probabilities_svg({"surprised": 0.9, "neutral": 0.1}))
        labels = [t for t in _texts(root) if t in {e.label for e in EMOTIONS}]
        self.assertEqual(labels, [e.label for e in EMOTIONS])

    def test_it_draws_one_bar_per_segment_in_its_emotion_colour(self):
        root = _parse(charts.timeline_svg(SEGMENTS, 10.0))
        paths = _segment_paths(root)
        self.assertEqual(len(paths), len(SEGMENTS))
        fills = [_style(p)["fill"] for p in paths]
        self.assertEqual(fills, [EMOTION_COLOURS[Emotion(s.emotion)] for s in SEGMENTS])
        opacity = [float(_style(p).get("fill-opacity", 1)) for p in paths]
        self.assertGreater(opacity[0], opacity[1], "a surer segment is drawn more opaque")
        texts = _texts(root)
        self.assertIn("Time (s)", texts)
        self.assertIn("bar opacity = confidence", texts)
        for emotion in EMOTIONS:
            self.assertIn(emotion.label, texts, "every lane is labelled")

    def test_it_cuts_overlapping_windows_where_the_next_one_starts(self):
        root = _parse(charts.timeline_svg(SEGMENTS[:2], 5.0))
        first, second = (_path_x_range(p) for p in _segment_paths(root))
        self.assertAlmostEqual(first[1], second[0], places=3)

    def test_it_counts_minutes_for_long_recordings(self):
        segments = [_Seg(t, t + 3.0, EMOTIONS[i % 8], 0.6) for i, t in enumerate(range(0, 597, 3))]
        root = _parse(charts.timeline_svg(segments, 600.0))
        texts = _texts(root)
        self.assertIn("Time (min:s)", texts)
        self.assertIn("4:00", texts)
        self.assertIn("10:00", root.get("aria-label"))

    def test_it_accepts_ml_segments_and_their_stored_form(self):
        probs = np.full(8, 0.02)
        probs[EMOTIONS.index(Emotion.SAD)] = 0.86
        segments = [
            Segment(0.0, 3.0, Prediction.from_probs(probs)),
            Segment(3.0, 6.0, Prediction.from_probs(np.roll(probs, 1))),
        ]
        for given in (segments, [s.to_dict() for s in segments]):
            paths = _segment_paths(_parse(charts.timeline_svg(given, 6.0)))
            self.assertEqual(
                [_style(p)["fill"] for p in paths],
                [EMOTION_COLOURS[Emotion.SAD], EMOTION_COLOURS[Emotion.ANGRY]],
            )

    def test_it_shows_the_share_of_speaking_time(self):
        distribution = {"happy": 0.6, "sad": 0.3, "angry": 0.1}
        svg = charts.distribution_svg(distribution)
        root = _parse(svg)
        texts = _texts(root)
        self.assertIn("Share of speaking time (%)", texts)
        for share in ("60 %", "30 %", "10 %", "0 %"):
            self.assertIn(share, texts)
        for emotion in (Emotion.HAPPY, Emotion.SAD, Emotion.ANGRY):
            self.assertIn(EMOTION_COLOURS[emotion], svg)
        self.assertIn("mostly Happy", root.get("aria-label"))

    def test_it_renders_silence_and_empty_input(self):
        for svg in (
            charts.waveform_svg(np.zeros(SR, np.float32), SR),
            charts.waveform_svg(np.zeros(0, np.float32), SR),
            charts.spectrogram_svg(np.zeros(100, np.float32), SR),
            charts.spectrogram_svg(np.zeros(0, np.float32), SR),
            charts.timeline_svg([], 4.0),
            charts.probabilities_svg({}),
        ):
            self.assertEqual(_parse(svg).tag, f"{SVG}svg")

    def test_it_renders_an_hour_of_audio_small_and_quickly(self):
        signal = _an_hour()
        start = time.perf_counter()
        waveform = charts.waveform_svg(signal, SR)
        spectrogram = charts.spectrogram_svg(signal, SR)
        elapsed = time.perf_counter() - start
        for svg in (waveform, spectrogram):
            self.assertLess(len(svg.encode()), 300_000)
            self.assertIn("1:00:00", _texts(_parse(svg)))
        # Well under a second on an idle core; the margin is for a busy test machine. A
        # per-sample Python loop or a full-resolution STFT would take minutes.
        self.assertLess(elapsed, 15.0)

    def test_it_rasterizes_the_bars_of_a_very_long_timeline(self):
        segments = [_Seg(1.5 * i, 1.5 * i + 3, EMOTIONS[i % 8], 0.7) for i in range(2400)]
        svg = charts.timeline_svg(segments, 3600.0)
        self.assertLess(len(svg.encode()), 100_000)
        root = _parse(svg)
        self.assertEqual(len(list(root.iter(f"{SVG}image"))), 1, "the bars, as one image")
        self.assertFalse([g for g in root.iter(f"{SVG}g") if g.get("id", "").endswith("-segments")])
        self.assertIn("2400 segments", root.get("aria-label"))


def _path_x_range(path: ET.Element) -> tuple[float, float]:
    xs = [float(x) for x in re.findall(r"[ML] ([-\d.]+) ", path.get("d", ""))]
    return min(xs), max(xs)
