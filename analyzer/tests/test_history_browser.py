"""The history in a real browser: search by file name, sort, and delete several at once,
keeping the search and order."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from playwright.sync_api import expect

from analyzer.models import Analysis
from analyzer.tests.browser import BrowserTestCase, requires_chromium
from analyzer.tests.factories import make_analysis, make_user, requires_model
from ml.labels import Emotion

PASSWORD = "a long passphrase 7"


@requires_chromium
@requires_model
class HistoryInBrowserTests(BrowserTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.user = make_user("grace", password=PASSWORD)
        files = [
            ("monday call.wav", 12.0, Emotion.SAD),
            ("tuesday CALL.wav", 40.0, Emotion.HAPPY),
            ("wednesday call.wav", 3.0, Emotion.ANGRY),
            ("voice memo.wav", 25.0, Emotion.CALM),
        ]
        for minutes_ago, (name, duration, emotion) in enumerate(reversed(files)):
            analysis = make_analysis(
                owner=self.user, original_name=name, duration=duration, emotion=emotion
            )
            Analysis.objects.filter(pk=analysis.pk).update(
                created_at=timezone.now() - timedelta(minutes=minutes_ago)
            )
        make_analysis(owner=make_user("bob"), original_name="bobs call.wav")

    def _names(self) -> list[str]:
        return self.page.locator("#history tbody td.name").all_inner_texts()

    def test_it_searches_sorts_and_deletes_several_keeping_the_view(self) -> None:
        page = self.page
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill("grace")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("banner").get_by_role("link", name="History").click()
        expect(page.locator("#history tbody tr")).to_have_count(4)

        page.get_by_label("File name").fill("call")
        page.get_by_label("Sort by").select_option(label="Longest first")
        page.get_by_role("button", name="Filter").click()

        expect(page.locator("#history caption")).to_contain_text(
            "3 analyses named like “call”, longest first"
        )
        self.assertEqual(
            self._names(), ["tuesday CALL.wav", "monday call.wav", "wednesday call.wav"]
        )
        page.get_by_label("Sort by").select_option(label="Shortest first")
        page.get_by_role("button", name="Filter").click()
        expect(page.locator("#history tbody td.name").first).to_have_text("wednesday call.wav")
        self.assertEqual(
            self._names(), ["wednesday call.wav", "monday call.wav", "tuesday CALL.wav"]
        )

        page.get_by_label("Select wednesday call.wav").check()
        page.get_by_label("Select tuesday CALL.wav").check()
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_role("button", name="Delete selected").click()

        expect(page.locator(".messages")).to_contain_text(
            "2 analyses and their recordings have been deleted."
        )
        expect(page.locator("#history tbody tr")).to_have_count(1)
        self.assertEqual(self._names(), ["monday call.wav"])
        # The search and the order are still those chosen.
        expect(page.get_by_label("File name")).to_have_value("call")
        expect(page.get_by_label("Sort by")).to_have_value("duration")
        self.assertEqual(
            sorted(Analysis.objects.values_list("original_name", flat=True)),
            ["bobs call.wav", "monday call.wav", "voice memo.wav"],
        )

        # "Select all" ticks every row of the page; a dismissed confirmation deletes nothing.
        page.get_by_label("File name").fill("")
        page.get_by_role("button", name="Filter").click()
        expect(page.locator("#history tbody tr")).to_have_count(2)
        page.get_by_label("Select all on this page").check()
        expect(page.locator("#history input[name=ids]:checked")).to_have_count(2)
        page.once("dialog", lambda dialog: dialog.dismiss())
        page.get_by_role("button", name="Delete selected").click()
        expect(page.locator("#history tbody tr")).to_have_count(2)
        self.assertEqual(Analysis.objects.filter(owner=self.user).count(), 2)
        self.assertNoScriptErrors()
