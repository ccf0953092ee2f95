"""The layout of the time charts (analyzer.charts): one time scale, bars that tile time, a
waveform inside its box and a spectrogram image of the stored size."""

from __future__ import annotations

import base64
import re
import struct
from dataclasses import dataclass, field

import numpy as np
from django.test import SimpleTestCase

from analyzer import charts
from ml.labels import EMOTIONS
from ml.overview import SPEC_BANDS, overview

SR = 16_000


@dataclass
class _Seg:
    start: float
    end: float
    emotion: str
    confidence: float
    probabilities: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        # As stored: all eight emotions, the named one holding the confidence.
        if not self.probabilities:
            rest = (1.0 - self.confidence) / (len(EMOTIONS) - 1)
            self.probabilities = {e.value: rest for e in EMOTIONS} | {self.emotion: self.confidence}


SEGMENTS = [
    _Seg(0.0, 3.0, "happy", 0.9),
    _Seg(1.5, 4.5, "happy", 0.3),
    _Seg(3.0, 6.0, "angry", 0.7),
    _Seg(8.0, 10.0, "calm", 0.5),
]


def _speechlike(seconds: float) -> np.ndarray:
    rng = np.random.default_rng(1)
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * 180 * t) * (0.6 + 0.4 * rng.random(len(t)))).astype(np.float32)


def _png_size(uri: str) -> tuple[int, int]:
    data = base64.b64decode(uri.removeprefix("data:image/png;base64,"))
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


class FiguresTests(SimpleTestCase):
    def test_it_lays_the_bars_out_on_the_time_scale_without_overlap(self) -> None:
        fig = charts.figures(duration=10.0, segments=SEGMENTS)

        spans = [(bar.x, bar.x + bar.width) for bar in fig.bars]
        self.assertEqual(spans, [(0.0, 150.0), (150.0, 300.0), (300.0, 600.0), (800.0, 1000.0)])
        self.assertEqual([bar.lane for bar in fig.bars], [2, 2, 4, 1])
        self.assertGreater(fig.bars[0].opacity, fig.bars[1].opacity)
        self.assertFalse(fig.has_overview)
        self.assertEqual(fig.waveform_path, "")

    def test_it_shades_the_waveform_by_emotion_in_as_few_pieces_as_it_can(self) -> None:
        data = overview(_speechlike(10.0), SR).to_dict()

        fig = charts.figures(duration=10.0, segments=SEGMENTS, overview=data)

        shading = [(bar.emotion, bar.x, bar.x + bar.width) for bar in fig.shading]
        self.assertEqual(
            shading, [("happy", 0.0, 300.0), ("angry", 300.0, 600.0), ("calm", 800.0, 1000.0)]
        )

    def test_it_keeps_the_waveform_inside_its_box(self) -> None:
        data = overview(_speechlike(5.0), SR).to_dict()

        path = charts.figures(duration=5.0, segments=[], overview=data).waveform_path

        self.assertTrue(path.startswith("M") and path.endswith("Z"))
        numbers = np.array([float(n) for n in re.findall(r"-?[\d.]+", path)]).reshape(-1, 2)
        self.assertEqual(len(numbers), 2 * len(data["waveform"]["peaks"]))
        self.assertEqual((numbers[:, 0].min(), numbers[:, 0].max()), (0.0, charts.VIEW_WIDTH))
        self.assertGreaterEqual(numbers[:, 1].min(), 0)
        self.assertLessEqual(numbers[:, 1].max(), charts.WAVE_HEIGHT)
        # The loudest sample reaches (nearly) the edges: the waveform fills its height.
        self.assertLess(numbers[:, 1].min(), 0.05 * charts.WAVE_HEIGHT)

    def test_it_makes_a_spectrogram_image_of_the_stored_size(self) -> None:
        data = overview(_speechlike(5.0), SR).to_dict()

        fig = charts.figures(duration=5.0, segments=[], overview=data)

        self.assertTrue(fig.has_overview)
        self.assertEqual(
            _png_size(fig.spectrogram_uri), (data["spectrogram"]["frames"], SPEC_BANDS)
        )
        positions = [tick.position for tick in fig.frequency_ticks]
        self.assertEqual([tick.label for tick in fig.frequency_ticks], ["250", "1k", "4k"])
        self.assertEqual(positions, sorted(positions))
        self.assertTrue(all(0 < p < 100 for p in positions))

    def test_it_takes_the_overviews_duration_and_never_less_than_the_segments(self) -> None:
        data = overview(_speechlike(4.0), SR).to_dict()

        self.assertEqual(charts.figures(duration=4.3, segments=[], overview=data).duration, 4.0)
        self.assertEqual(charts.figures(duration=8.0, segments=SEGMENTS).duration, 10.0)
        self.assertGreater(charts.figures(duration=0.0, segments=[]).duration, 0)

    def test_it_describes_an_analysis_without_speech(self) -> None:
        fig = charts.figures(duration=3.0, segments=[])

        self.assertEqual(fig.bars, [])
        self.assertEqual(fig.timeline_label, "Emotion over time across 3.0 s: no speech found")


class TimeTicksTests(SimpleTestCase):
    def test_it_keeps_the_ticks_few_and_round(self) -> None:
        for duration, unit, labels in (
            (2.2, "Time (s)", ["0", "0.5", "1", "1.5", "2"]),
            (77.0, "Time (s)", ["0", "15", "30", "45", "60", "75"]),
            (600.0, "Time (min:s)", ["0:00", "2:00", "4:00", "6:00", "8:00", "10:00"]),
            (5400.0, "Time (h:mm:ss)", ["0:00:00", "0:20:00", "0:40:00", "1:00:00", "1:20:00"]),
        ):
            with self.subTest(duration=duration):
                ticks, label = charts.time_ticks(duration)
                self.assertEqual(label, unit)
                self.assertEqual([t.label for t in ticks], labels)
                self.assertLessEqual(len(ticks), charts.MAX_TICKS)
                self.assertTrue(all(0 <= t.position <= 100 for t in ticks))
