"""The time charts in a real browser: they line up, follow the player, seek where they are
clicked, fit a phone, switch to dark colours and print, all under the page's CSP."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from analyzer.tests.browser import BrowserTestCase, requires_chromium
from analyzer.tests.factories import long_speech_wav, requires_model
from ml.labels import Emotion

TIME_CHARTS = ("waveform", "spectrogram", "timeline")
PLAYER = "document.getElementById('player')"
# Collected by the page itself from its first script on: whatever the policy blocked.
_CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(event.violatedDirective + " " + event.blockedURI);
});
"""


class ChartsBrowserTestCase(BrowserTestCase):
    def new_page(self, **context_options):
        page = super().new_page(**context_options)
        page.add_init_script(_CSP_LISTENER)
        return page

    def upload_and_wait(self, page, emotions: tuple[Emotion, ...]) -> None:
        page.goto("/")
        page.locator("#upload-form input[type=file]").set_input_files(
            {"name": "talk.wav", "mimeType": "audio/wav", "buffer": long_speech_wav(emotions)}
        )
        page.get_by_role("button", name="Analyse", exact=True).click()
        self.wait_for_result(page)
        page.wait_for_function(f"() => {PLAYER}.readyState >= 1")

    def assertNoPolicyViolation(self, page) -> None:
        self.assertEqual(page.evaluate("() => window.__cspViolations"), [])
        self.assertNoScriptErrors(page)

    def assertFitsTheWidth(self, page) -> None:
        sizes = page.evaluate(
            "() => [document.scrollingElement.scrollWidth, document.scrollingElement.clientWidth]"
        )
        self.assertLessEqual(sizes[0], sizes[1], f"{page.url} scrolls sideways")

    def player(self, page, name: str) -> float:
        return page.evaluate(f"() => {PLAYER}.{name}")

    def playhead_x(self, page, chart: str) -> float:
        box = page.locator(f"#chart-{chart} .playhead").bounding_box()
        return box["x"] + box["width"] / 2

    def plot_box(self, page, chart: str) -> dict[str, float]:
        return page.locator(f"#chart-{chart} .tchart-plot").bounding_box()


@requires_chromium
@requires_model
class ChartsInBrowserTests(ChartsBrowserTestCase):
    def test_the_charts_line_up_follow_the_player_and_seek_where_clicked(self) -> None:
        page = self.page
        # About 8.5 s: two sentences with 1.5 s of silence between them.
        self.upload_and_wait(page, (Emotion.ANGRY, Emotion.CALM))
        duration = float(page.locator("#timecharts").get_attribute("data-duration"))
        self.assertAlmostEqual(duration, self.player(page, "duration"), delta=0.1)

        # One time axis: every plot starts and ends at the same x.
        boxes = [self.plot_box(page, chart) for chart in TIME_CHARTS]
        for chart, box in zip(TIME_CHARTS, boxes, strict=True):
            expect(page.locator(f"#chart-{chart} svg")).to_be_visible()
            self.assertAlmostEqual(box["x"], boxes[0]["x"], delta=1, msg=chart)
            self.assertAlmostEqual(box["width"], boxes[0]["width"], delta=1, msg=chart)
            self.assertGreater(box["width"], 600, chart)
            expect(page.locator(f"#chart-{chart} .playhead")).to_be_visible()

        # A click on the timeline in the middle of the last segment seeks there.
        last = page.locator("#segments tr[data-start]").last
        target = (
            float(last.get_attribute("data-start")) + float(last.get_attribute("data-end"))
        ) / 2
        timeline = self.plot_box(page, "timeline")
        x = timeline["width"] * target / duration
        page.locator("#chart-timeline .tchart-plot").click(
            position={"x": x, "y": timeline["height"] / 2}
        )
        page.wait_for_function(
            f"target => Math.abs({PLAYER}.currentTime - target) < 0.3", arg=target
        )
        for chart in TIME_CHARTS:
            self.assertAlmostEqual(self.playhead_x(page, chart), timeline["x"] + x, delta=3)
        # The segment playing there is the one highlighted in the table (windows overlap:
        # each counts until the next one starts).
        expect(page.locator("#segments tr.playing")).to_have_count(1)
        expect(last).to_have_class(re.compile(r"\bplaying\b"))

        # A click on the waveform, near the start, seeks there too.
        wave = self.plot_box(page, "waveform")
        page.locator("#chart-waveform .tchart-plot").click(
            position={"x": 0.1 * wave["width"], "y": wave["height"] / 2}
        )
        page.wait_for_function(
            f"target => Math.abs({PLAYER}.currentTime - target) < 0.3", arg=0.1 * duration
        )

        # Playing moves every playhead on.
        before = self.playhead_x(page, "spectrogram")
        page.evaluate(f"() => {{ {PLAYER}.play(); }}")
        page.wait_for_function(
            f"start => !{PLAYER}.paused && {PLAYER}.currentTime > start + 0.5", arg=0.1 * duration
        )
        page.wait_for_function(
            "before => document.querySelector('#chart-spectrogram .playhead')"
            ".getBoundingClientRect().left > before + 10",
            arg=before,
        )
        page.evaluate(f"() => {PLAYER}.pause()")
        self.assertGreater(self.playhead_x(page, "timeline"), timeline["x"] + 10)
        self.assertNoPolicyViolation(page)

    def test_it_prints_the_charts_without_the_controls(self) -> None:
        page = self.page
        self.upload_and_wait(page, (Emotion.HAPPY,))
        page.emulate_media(media="print")

        expect(page.locator("#player")).to_be_hidden()
        expect(page.locator("header.site")).to_be_hidden()
        for chart in TIME_CHARTS:
            expect(page.locator(f"#chart-{chart} svg")).to_be_visible()
            expect(page.locator(f"#chart-{chart} .playhead")).to_be_hidden()
        self.assertNoPolicyViolation(page)


@requires_chromium
@requires_model
class ChartsOnAPhoneTests(ChartsBrowserTestCase):
    viewport = {"width": 390, "height": 844}

    def test_the_pages_fit_a_phone_in_dark_colours_and_a_tap_seeks(self) -> None:
        page = self.new_page(color_scheme="dark")
        page.goto("/")
        self.assertFitsTheWidth(page)
        background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
        self.assertEqual(background, "rgb(17, 20, 24)")  # the dark --bg

        self.upload_and_wait(page, (Emotion.SAD, Emotion.HAPPY))
        for chart in TIME_CHARTS:
            expect(page.locator(f"#chart-{chart} svg")).to_be_visible()
            box = self.plot_box(page, chart)
            self.assertGreater(box["width"], 200, chart)
            self.assertLessEqual(box["x"] + box["width"], 390, chart)
        self.assertFitsTheWidth(page)

        duration = float(page.locator("#timecharts").get_attribute("data-duration"))
        spectrogram = self.plot_box(page, "spectrogram")
        page.locator("#chart-spectrogram .tchart-plot").click(
            position={"x": 0.5 * spectrogram["width"], "y": 10}
        )
        page.wait_for_function(
            f"target => Math.abs({PLAYER}.currentTime - target) < 0.3", arg=0.5 * duration
        )

        page.get_by_role("banner").get_by_role("link", name="History").click()
        expect(page).to_have_url(re.compile(r"/analyses/$"))
        expect(page.get_by_role("link", name="talk.wav", exact=True)).to_be_visible()
        self.assertFitsTheWidth(page)
        self.assertNoPolicyViolation(page)
