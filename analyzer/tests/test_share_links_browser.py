"""A share link in real browsers: the owner signs up, uploads and shares; a second browser
(not signed in) opens the link, sees the result and loads the recording; once the owner
revokes it, the link is a 404 there."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from analyzer.models import Analysis
from analyzer.tests.browser import BrowserTestCase, requires_chromium
from analyzer.tests.factories import requires_model, speech_signal, speech_wav
from ml.labels import Emotion

PASSWORD = "a long passphrase 7"
SHARE_URL = re.compile(r"^http://[^/]+/shared/[A-Za-z0-9_-]{43}/$")


@requires_chromium
@requires_model
class ShareLinkInBrowserTests(BrowserTestCase):
    def _sign_up_and_upload(self) -> str:
        page = self.page
        page.goto("/accounts/signup/")
        page.get_by_label("Username").fill("grace")
        page.get_by_label("E-mail address").fill("grace@example.org")
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_label("Password confirmation").fill(PASSWORD)
        page.get_by_role("button", name="Create the account").click()
        expect(page.locator(".messages")).to_contain_text("Welcome, grace!")
        page.get_by_role("banner").get_by_role("link", name="Analyse a recording").click()
        page.locator("#upload-form input[type=file]").set_input_files(
            {"name": "team call.wav", "mimeType": "audio/wav", "buffer": speech_wav(Emotion.SAD)}
        )
        page.get_by_role("button", name="Analyse", exact=True).click()
        return self.wait_for_result()

    def test_it_shares_a_result_with_another_browser_until_revoked(self) -> None:
        owner = self.page
        headline = self._sign_up_and_upload()
        analysis = Analysis.objects.get()

        share = owner.locator("#share")
        expect(share).to_contain_text("No active share links.")
        share.get_by_label("Works for").select_option("30")
        share.get_by_role("button", name="Create a share link").click()
        expect(owner.locator(".messages")).to_contain_text("Share link created")
        url = owner.get_by_label("Share link").input_value()
        self.assertRegex(url, SHARE_URL)
        expect(share.locator("#share-links tbody tr")).to_have_count(1)

        # A second browser, not signed in.
        visitor = self.new_page()
        response = visitor.goto(url)
        self.assertEqual(response.status, 200)
        self.assertIn("noindex", response.headers["x-robots-tag"])
        expect(visitor.locator('meta[name="robots"]')).to_have_attribute("content", "noindex")
        expect(visitor.get_by_role("heading", level=1)).to_have_text("team call.wav")
        expect(visitor.locator("#shared-note")).to_contain_text("Shared with you, read-only.")
        expect(visitor.locator(".verdict .emotion")).to_have_text(headline)
        expect(visitor.get_by_role("meter")).to_have_count(8)
        expect(visitor.locator("#segments tbody tr")).to_have_count(1)
        for chart in ("waveform", "spectrogram", "timeline"):
            expect(visitor.locator(f"#chart-{chart} svg")).to_be_visible()
        # The recording loads through the link and plays from a segment.
        player = visitor.locator("audio")
        expect(player).to_have_attribute("src", re.compile(r"^/shared/[A-Za-z0-9_-]{43}/audio/$"))
        visitor.wait_for_function("() => document.querySelector('audio').readyState >= 1")
        duration = player.evaluate("audio => audio.duration")
        self.assertAlmostEqual(duration, len(speech_signal(Emotion.SAD)) / 16000, delta=0.1)
        # Nothing of the owner's: no link to the analysis's own pages, no forms, no name.
        expect(visitor.locator(f'a[href*="{analysis.pk}"]')).to_have_count(0)
        expect(visitor.locator("main form")).to_have_count(0)
        expect(visitor.get_by_role("banner")).not_to_contain_text("grace")
        self.assertNoScriptErrors(visitor)

        share.get_by_role("button", name="Revoke").click()
        expect(owner.locator(".messages")).to_contain_text("The share link is revoked")
        expect(owner.locator("#share")).to_contain_text("No active share links.")

        gone = visitor.reload()
        self.assertEqual(gone.status, 404)
        expect(visitor.get_by_role("heading", level=1)).to_have_text(
            "This share link does not work"
        )
        expect(visitor.locator("main")).not_to_contain_text("team call.wav")
        audio_url = url.rstrip("/") + "/audio/"
        self.assertEqual(visitor.request.get(audio_url).status, 404)
        self.assertNoScriptErrors(owner)
