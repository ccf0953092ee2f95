"""The interactive API docs in Chromium: Swagger UI renders from our origin, the CSP holds."""

from __future__ import annotations

import os
from typing import Any
from unittest import mock

from django.contrib.staticfiles.testing import StaticLiveServerTestCase

from analyzer.tests.browser import _CHROMIUM_ARGS, CHROMIUM, TIMEOUT_MS, requires_chromium
from analyzer.tests.factories import make_user
from api.tests.helpers import new_key


@requires_chromium
class ApiDocsBrowserTests(StaticLiveServerTestCase):
    browser: Any

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        # Playwright's sync API keeps an event loop in this thread (see analyzer.tests.browser).
        cls.enterClassContext(mock.patch.dict(os.environ, {"DJANGO_ALLOW_ASYNC_UNSAFE": "true"}))
        from playwright.sync_api import expect, sync_playwright

        expect.set_options(timeout=TIMEOUT_MS)
        playwright = cls.enterClassContext(sync_playwright())
        cls.browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=_CHROMIUM_ARGS
        )
        cls.addClassCleanup(cls.browser.close)

    def test_it_renders_the_docs_and_calls_the_api_without_csp_violations(self) -> None:
        from playwright.sync_api import expect

        make_user("ada")
        key = new_key("ada")
        context = self.browser.new_context(base_url=self.live_server_url)
        self.addCleanup(context.close)
        page = context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on(
            "console",
            lambda message: (
                problems.append(message.text)
                if message.type == "error" and "Content Security Policy" in message.text
                else None
            ),
        )
        outside: list[str] = []
        page.on(
            "request",
            lambda request: (
                None
                if request.url.startswith(self.live_server_url)
                else outside.append(request.url)
            ),
        )

        page.goto("/api/v1/docs/")

        expect(page.locator(".swagger-ui .info .title")).to_contain_text("speechemotion API")
        expect(page.locator(".opblock-summary-path").first).to_be_visible()
        # Authorize with a key and try the list: Swagger UI's own request is allowed too.
        page.get_by_role("button", name="Authorize").first.click()
        page.locator(".auth-container input").first.fill(key)
        page.locator(".auth-btn-wrapper button.authorize").first.click()
        page.locator(".btn-done").first.click()
        operation = page.locator("#operations-analyses-analyses_list")
        operation.locator(".opblock-summary").click()
        operation.get_by_role("button", name="Try it out").click()
        operation.get_by_role("button", name="Execute").click()
        expect(
            operation.locator(".live-responses-table tbody .response-col_status").first
        ).to_have_text("200")
        self.assertEqual(problems, [], "JavaScript errors or CSP violations on the docs page")
        self.assertEqual(outside, [], "the docs page loaded something from another origin")
