"""An account in a real browser: sign up, upload, find the result in the history, sign out."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from analyzer.models import Analysis
from analyzer.tests.browser import BrowserTestCase, requires_chromium
from analyzer.tests.factories import requires_model, speech_wav
from ml.labels import Emotion

PASSWORD = "a long passphrase 7"


@requires_chromium
@requires_model
class AccountInBrowserTests(BrowserTestCase):
    def test_it_signs_up_uploads_keeps_the_result_and_signs_out(self) -> None:
        page = self.page
        header = page.get_by_role("banner")
        page.goto("/")
        header.get_by_role("link", name="Sign up").click()
        page.get_by_label("Username").fill("grace")
        page.get_by_label("E-mail address").fill("grace@example.org")
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_label("Password confirmation").fill(PASSWORD)
        page.get_by_role("button", name="Create the account").click()

        expect(page).to_have_url(re.compile(r"/analyses/$"))
        expect(page.locator(".messages")).to_contain_text("Welcome, grace!")
        expect(header).to_contain_text("grace")

        header.get_by_role("link", name="Analyse a recording").click()
        page.locator("#upload-form input[type=file]").set_input_files(
            {"name": "first week.wav", "mimeType": "audio/wav", "buffer": speech_wav(Emotion.SAD)}
        )
        page.get_by_role("button", name="Analyse", exact=True).click()
        headline = self.wait_for_result()

        header.get_by_role("link", name="History").click()
        rows = page.locator("table.list tbody tr")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text("first week.wav")
        expect(rows.first).to_contain_text(headline)

        header.get_by_role("button", name="Sign out").click()
        expect(page.locator(".messages")).to_contain_text("You are signed out.")
        expect(header.get_by_role("link", name="Sign in")).to_be_visible()
        header.get_by_role("link", name="History").click()
        expect(page.locator("main")).not_to_contain_text("first week.wav")
        self.assertEqual(Analysis.objects.get().owner.username, "grace")
        self.assertNoScriptErrors()
