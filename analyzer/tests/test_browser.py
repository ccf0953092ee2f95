"""The pages in a real browser: upload, record from the microphone, play, without JavaScript."""

from __future__ import annotations

import re

import numpy as np
from playwright.sync_api import expect

from analyzer.models import Analysis
from analyzer.tests.browser import BrowserTestCase, requires_chromium
from analyzer.tests.factories import long_speech_wav, requires_model, speech_signal, speech_wav
from ml.labels import Emotion

NOT_SUPPORTED = "This file is not a supported audio or video format"
AUDIO_URL = re.compile(r"^/analyses/[0-9a-f-]{36}/audio/$")


def _choose_file(page, data: bytes, name: str) -> None:
    page.locator("#upload-form input[type=file]").set_input_files(
        {"name": name, "mimeType": "audio/wav", "buffer": data}
    )


@requires_chromium
@requires_model
class UploadInBrowserTests(BrowserTestCase):
    def test_it_uploads_a_file_and_shows_the_result(self) -> None:
        page = self.page
        page.goto("/")
        _choose_file(page, speech_wav(Emotion.ANGRY), "angry take.wav")
        expect(page.locator("#chosen-name")).to_have_text("angry take.wav")
        page.get_by_role("button", name="Analyse", exact=True).click()

        self.wait_for_result()
        expect(page.get_by_role("heading", level=1)).to_have_text("angry take.wav")
        expect(page.get_by_role("meter")).to_have_count(8)
        expect(page.get_by_role("heading", name="Emotion over time")).to_be_visible()
        expect(page.get_by_role("heading", name="Share of the speaking time")).to_be_visible()
        for chart in ("waveform", "spectrogram", "timeline"):
            svg = page.locator(f"#chart-{chart} svg")
            expect(svg).to_be_visible()
            self.assertGreater(svg.bounding_box()["width"], 300, f"the {chart} is too small")
        expect(page.locator("#chart-distribution li")).not_to_have_count(0)
        # A single sentence is one window of speech: one row in the table of segments.
        segments = page.locator("#segments tbody tr")
        expect(segments).to_have_count(1)
        expect(segments.first).to_contain_text(page.locator(".verdict .emotion").inner_text())
        # The player is there and the browser can actually load the stored recording.
        player = page.locator("audio")
        expect(player).to_have_attribute("src", AUDIO_URL)
        page.wait_for_function("() => document.querySelector('audio').readyState >= 1")
        duration = player.evaluate("audio => audio.duration")
        self.assertAlmostEqual(duration, len(speech_signal(Emotion.ANGRY)) / 16000, delta=0.1)
        # Beside the result: what the model knows, and its card one click away.
        expect(page.get_by_role("heading", name="What the model knows")).to_be_visible()
        page.get_by_role("link", name="Read the model card").click()
        expect(page.locator("#model-card")).to_contain_text("# Model card")
        self.assertNoScriptErrors()

    def test_it_uploads_without_javascript(self) -> None:
        page = self.new_page(java_script_enabled=False)
        page.goto("/")
        # The recorder needs JavaScript, so it is not offered at all.
        expect(page.get_by_role("heading", name="Record from the microphone")).to_be_hidden()
        _choose_file(page, speech_wav(Emotion.SAD), "plain.wav")
        page.get_by_role("button", name="Analyse", exact=True).click()

        self.wait_for_result(page)
        expect(page.get_by_role("meter")).to_have_count(8)
        self.assertEqual(Analysis.objects.get().original_name, "plain.wav")

    def test_it_shows_why_a_bad_file_is_refused(self) -> None:
        page = self.page
        page.goto("/")
        _choose_file(page, np.random.default_rng(3).bytes(20_000), "noise.wav")
        page.get_by_role("button", name="Analyse", exact=True).click()

        expect(page.get_by_role("alert")).to_contain_text(NOT_SUPPORTED)
        expect(page.locator("#upload-form input[type=file]")).to_have_attribute(
            "aria-invalid", "true"
        )
        expect(page.get_by_role("heading", level=1)).to_have_text("What emotion is in this voice?")
        self.assertFalse(Analysis.objects.exists())
        self.assertNoScriptErrors()


@requires_chromium
@requires_model
class PhoneScreenTests(BrowserTestCase):
    viewport = {"width": 390, "height": 844}

    def assertFitsTheScreen(self, page) -> None:
        overflow = page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        self.assertLessEqual(overflow, 0, f"{page.url} scrolls sideways on a phone")

    def test_it_fits_the_upload_and_result_pages_on_a_phone_screen(self) -> None:
        page = self.page
        page.goto("/")
        expect(page.get_by_role("button", name="Start recording")).to_be_visible()
        self.assertFitsTheScreen(page)
        data = long_speech_wav((Emotion.HAPPY, Emotion.SAD))
        _choose_file(page, data, "a recording with a rather long name, from my phone.wav")
        page.get_by_role("button", name="Analyse", exact=True).click()

        self.wait_for_result()
        expect(page.locator("#chart-timeline svg")).to_be_visible()
        self.assertFitsTheScreen(page)
        self.assertNoScriptErrors()


@requires_chromium
@requires_model
class RecordInBrowserTests(BrowserTestCase):
    def test_it_records_from_the_microphone_and_analyses_the_recording(self) -> None:
        page = self.page
        page.goto("/")
        recorder = page.locator("#recorder")
        expect(recorder.get_by_role("heading")).to_have_text("Record from the microphone")
        page.get_by_role("button", name="Start recording").click()
        stop = page.get_by_role("button", name="Stop")
        expect(stop).to_be_enabled()
        expect(stop).to_be_focused()
        # The fake microphone plays 0.3 s of silence and a 3.5 s sentence.
        expect(page.get_by_role("timer")).to_have_text("0:04", timeout=10_000)
        stop.click()

        # Ready to listen to, with its length shown (MediaRecorder's WebM does not state it).
        preview = recorder.locator("audio")
        expect(preview).to_be_visible()
        expect(preview).to_have_attribute("src", re.compile(r"^blob:"))
        expect(page.get_by_role("status")).to_have_text(re.compile(r"^Recorded 0:0[45]\. "))
        page.wait_for_function(
            "() => Number.isFinite(document.querySelector('#recorder audio').duration)"
        )
        self.assertAlmostEqual(preview.evaluate("audio => audio.duration"), 4.5, delta=1)
        analyse = page.get_by_role("button", name="Analyse this recording")
        expect(analyse).to_be_focused()
        analyse.click()

        self.wait_for_result()
        analysis = Analysis.objects.get()
        self.assertRegex(analysis.original_name, r"^recording-\d{4}-\d{2}-\d{2}-\d{6}\.webm$")
        self.assertEqual((analysis.format, analysis.content_type), ("webm", "audio/webm"))
        self.assertAlmostEqual(analysis.duration, 4.5, delta=1)
        expect(page.get_by_role("heading", level=1)).to_have_text(analysis.original_name)
        expect(page.get_by_text("WEBM (audio/webm)")).to_be_visible()
        self.assertNoScriptErrors()

    def test_it_explains_a_blocked_microphone(self) -> None:
        page = self.page
        # As when the user (or a site setting) refuses the microphone.
        page.add_init_script(
            "navigator.mediaDevices.getUserMedia = () => Promise.reject("
            "new DOMException('Permission denied', 'NotAllowedError'));"
        )
        page.goto("/")
        page.get_by_role("button", name="Start recording").click()

        expect(page.locator("#record-error")).to_contain_text(
            "The microphone is blocked for this site"
        )
        expect(page.get_by_role("button", name="Start recording")).to_be_enabled()
        expect(page.get_by_role("button", name="Stop")).to_be_disabled()
        expect(page.locator("#record-preview")).to_be_hidden()
        self.assertNoScriptErrors()


@requires_chromium
@requires_model
class SegmentsInBrowserTests(BrowserTestCase):
    def test_it_plays_the_recording_from_a_segment_that_is_clicked(self) -> None:
        page = self.page
        page.goto("/")
        # About 18 s: four sentences with 1.5 s of silence between them.
        data = long_speech_wav((Emotion.ANGRY, Emotion.SAD, Emotion.HAPPY, Emotion.CALM))
        _choose_file(page, data, "conversation.wav")
        page.get_by_role("button", name="Analyse", exact=True).click()
        self.wait_for_result()

        rows = page.locator("#segments tr[data-start]")
        count = rows.count()
        self.assertGreaterEqual(count, 2)
        page.wait_for_function("() => document.querySelector('audio').readyState >= 1")
        last, second = rows.nth(count - 1), rows.nth(1)
        # Anywhere on a row, or on its time (a link that works without JavaScript too).
        for row, target in ((last, last.locator("td").last), (second, second.get_by_role("link"))):
            start = float(row.get_attribute("data-start"))
            self.assertGreater(start, 0)
            target.click()
            # The player jumps there and plays on from there.
            page.wait_for_function(
                "start => { const audio = document.querySelector('audio');"
                " return !audio.paused && audio.currentTime >= start"
                " && audio.currentTime < start + 2; }",
                arg=start,
            )
            expect(row).to_have_class(re.compile(r"\bplaying\b"))
            page.locator("audio").evaluate("audio => audio.pause()")
        self.assertNoScriptErrors()
