"""The time charts of the result page: drawn as SVG from the stored overview and segments."""

from __future__ import annotations

import re

import numpy as np
from django.test import TestCase
from django.urls import reverse

from analyzer import charts
from analyzer.models import AnalysisChart, AnalysisOverview, Segment
from analyzer.tests.factories import TempMediaMixin, make_analysis, make_user, probabilities_for
from ml.labels import EMOTIONS, Emotion
from ml.overview import overview
from sharing.services import sharelink_create

SR = 16_000
# Three overlapping windows, as the worker makes them (3 s long, 1.5 s apart).
SEGMENTS = (
    (0.0, 3.0, Emotion.HAPPY, 0.8),
    (1.5, 4.5, Emotion.SAD, 0.5),
    (3.0, 6.0, Emotion.SAD, 0.9),
)


def _signal(seconds: float = 6.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 0.5 * t)
    return (0.4 * envelope * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def _bars(html: str) -> list[dict[str, str]]:
    return [
        dict(re.findall(r'([\w-]+)="([^"]*)"', rect))
        for rect in re.findall(r"<rect class=\"bar [^>]*>", html)
    ]


class ResultChartsTestCase(TempMediaMixin, TestCase):
    def setUp(self) -> None:
        super().setUp()
        self.owner = make_user("owner")
        self.client.force_login(self.owner)
        self.analysis = make_analysis(
            owner=self.owner,
            emotion=Emotion.SAD,
            duration=6.0,
            distribution={"happy": 0.25, "sad": 0.75},
        )
        for start, end, emotion, confidence in SEGMENTS:
            Segment.objects.create(
                analysis=self.analysis,
                start=start,
                end=end,
                emotion=emotion.value,
                confidence=confidence,
                probabilities=probabilities_for(emotion, confidence),
            )

    def page(self) -> str:
        response = self.client.get(self.analysis.get_absolute_url())
        self.assertEqual(response.status_code, 200)
        return response.content.decode()


class ResultChartsTests(ResultChartsTestCase):
    def setUp(self) -> None:
        super().setUp()
        AnalysisOverview.objects.create(analysis=self.analysis, data=overview(_signal()).to_dict())

    def test_it_draws_every_time_chart_on_one_time_axis(self) -> None:
        html = self.page()

        self.assertIn('id="timecharts" data-duration="6.000"', html)
        for chart in ("waveform", "spectrogram", "timeline"):
            with self.subTest(chart=chart):
                figure = re.search(
                    rf'<figure class="tchart" id="chart-{chart}">(.*?)</figure>', html, re.S
                )
                self.assertIsNotNone(figure, f"no {chart} chart")
                # Every time chart: the same x scale, a text alternative and a playhead.
                self.assertIn(f'viewBox="0 0 {charts.VIEW_WIDTH} ', figure[1])
                self.assertIn('preserveAspectRatio="none" role="img" aria-label="', figure[1])
                self.assertIn('<div class="playhead" hidden></div>', figure[1])
        self.assertRegex(html, r'<path class="outline" d="M0\.0 [\d.]+ ')
        self.assertIn('<image href="data:image/png;base64,iVBORw0KGgo', html)
        # The time axis: 0 to 6 s, few enough ticks for a phone.
        ticks = re.search(r'<div class="ticks">(.*?)</div>', html, re.S)[1]
        self.assertEqual(re.findall(r">(\d+)</span>", ticks), ["0", "2", "4", "6"])
        self.assertIn("Time (s)", html)

    def test_it_draws_one_bar_per_segment_in_its_emotions_lane(self) -> None:
        bars = _bars(self.page())

        self.assertEqual(len(bars), len(SEGMENTS))
        lanes = [e.value for e in EMOTIONS]
        # Each window counts until the next one starts: the bars tile time, no overlap.
        expected = [(0, 250), (250, 500), (500, 1000)]
        for bar, (_start, _end, emotion, _confidence), (x0, x1) in zip(
            bars, SEGMENTS, expected, strict=True
        ):
            self.assertEqual(bar["class"], f"bar emo-{emotion.value}")
            self.assertAlmostEqual(float(bar["x"]), x0)
            self.assertAlmostEqual(float(bar["x"]) + float(bar["width"]), x1)
            self.assertEqual(float(bar["y"]), lanes.index(emotion.value) + 0.12)
            self.assertTrue(0.25 <= float(bar["fill-opacity"]) <= 1.0)
        # A surer segment is drawn stronger.
        self.assertGreater(float(bars[2]["fill-opacity"]), float(bars[1]["fill-opacity"]))

    def test_it_says_what_each_chart_shows_in_words(self) -> None:
        html = self.page()

        self.assertIn("Waveform of the recording, 6.0 s, peak amplitude 0.40", html)
        self.assertIn("Mel spectrogram of the recording, 6.0 s, 0 to 8 kHz", html)
        self.assertIn(
            "Emotion over time across 6.0 s, 3 segments; most of the speaking time: sad 75%, "
            "happy 25%",
            html,
        )
        # The table of segments and the bars stay, as text.
        self.assertEqual(len(re.findall(r"<tr data-start=", html)), 3)
        shares = re.search(r'<ul class="bars" id="chart-distribution"(.*?)</ul>', html, re.S)[1]
        self.assertEqual(re.findall(r'<span class="value">([^<]+)</span>', shares), ["75%", "25%"])

    def test_it_loads_the_chart_script_with_the_nonce(self) -> None:
        response = self.client.get(self.analysis.get_absolute_url())
        nonce = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"])[1]

        self.assertContains(response, f'src="/static/analyzer/charts.js" nonce="{nonce}" defer')

    def test_it_shows_the_same_charts_on_the_shared_page(self) -> None:
        own = self.page()
        link = sharelink_create(analysis=self.analysis)
        self.client.logout()

        shared = self.client.get(reverse("sharing:shared", args=[link.token])).content.decode()

        def chart_part(html: str) -> str:
            return re.search(r'<div class="timecharts".*?<p class="small muted hint"', html, re.S)[
                0
            ]

        self.assertEqual(chart_part(shared), chart_part(own))


class OlderAnalysisTests(ResultChartsTestCase):
    def test_it_shows_an_older_analysis_without_an_overview(self) -> None:
        html = self.page()

        self.assertIn("unavailable for this older analysis", html)
        self.assertNotIn('id="chart-waveform"', html)
        # The timeline needs only the segments.
        self.assertEqual(len(_bars(html)), len(SEGMENTS))

    def test_it_keeps_showing_the_image_an_older_analysis_has(self) -> None:
        AnalysisChart.objects.create(
            analysis=self.analysis, kind="waveform", svg='<svg id="old-waveform"></svg>'
        )

        html = self.page()

        self.assertIn('<figure class="chart" id="chart-waveform" aria-label="Waveform">', html)
        self.assertIn('<svg id="old-waveform"></svg>', html)
        self.assertNotIn("unavailable for this older analysis", html)

    def test_it_survives_a_damaged_overview(self) -> None:
        AnalysisOverview.objects.create(
            analysis=self.analysis,
            data={"duration": 6.0, "waveform": {}, "spectrogram": {"bands": 64, "data": "x"}},
        )

        html = self.page()

        self.assertIn("unavailable for this older analysis", html)
        self.assertEqual(len(_bars(html)), len(SEGMENTS))
