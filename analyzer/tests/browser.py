"""Playwright (sync API) driving Debian's Chromium against a live server on the test database.

One headless Chromium per test class, one fresh browser context (cookies, session) per test.
Uploads are analysed by a Procrastinate worker run in a thread once the result page is open
(:meth:`BrowserTestCase.wait_for_result`), so the page's own updating is what is tested.
Chromium's fake microphone plays :func:`microphone_wav` once, from the moment a page opens it.
Set ``SPEECHEMOTION_SCREENSHOTS=/some/dir`` to keep a screenshot of every page a test ends on.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
import unittest
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import soxr
from django.conf import settings
from django.contrib.staticfiles.testing import StaticLiveServerTestCase
from django.db import connections

from analyzer.tests.factories import (
    SAMPLE_RATE,
    QueueMixin,
    TempMediaMixin,
    run_worker,
    speech_signal,
    wav_bytes,
)
from ml.labels import EMOTIONS, Emotion

CHROMIUM = Path("/usr/bin/chromium")
requires_chromium = unittest.skipUnless(
    CHROMIUM.is_file(), f"{CHROMIUM} is missing (.ci/run installs the chromium package)"
)

# Long enough for a model loaded on a busy 2-core machine; Playwright polls, so a fast
# answer is not slowed down.
TIMEOUT_MS = 20_000

RESULT_URL = re.compile(r"/analyses/[0-9a-f-]{36}/$")
_NAMES = "|".join(emotion.value for emotion in EMOTIONS)
_LABELS = "|".join(emotion.label for emotion in EMOTIONS)
# What a result's headline may say (see ml.verdict).
HEADLINE = re.compile(rf"^({_LABELS}|Mixed: ({_NAMES}), ({_NAMES})|No clear emotion)$")

_CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]
_FAKE_MICROPHONE_RATE = 48_000


def microphone_wav(emotion: Emotion = Emotion.HAPPY) -> bytes:
    """A RAVDESS sentence after 0.3 s of silence, at 48 kHz like a real microphone."""
    speech = soxr.resample(speech_signal(emotion), SAMPLE_RATE, _FAKE_MICROPHONE_RATE)
    lead_in = np.zeros(int(0.3 * _FAKE_MICROPHONE_RATE), dtype=np.float32)
    return wav_bytes(np.concatenate([lead_in, speech]), _FAKE_MICROPHONE_RATE)


def run_worker_in_thread(timeout: float = 120) -> None:
    """Run the queued analyses in a Procrastinate worker until the queue is empty.

    In a thread of its own: Playwright's sync API keeps an event loop in the test's thread,
    and the worker needs to start its own.
    """
    failures: list[BaseException] = []

    def work() -> None:
        try:
            run_worker()
        except BaseException as error:
            failures.append(error)
        finally:
            connections.close_all()

    thread = threading.Thread(target=work, name="test-worker", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise AssertionError(f"the worker did not empty the queue within {timeout} s")
    if failures:
        raise failures[0]


class BrowserTestCase(QueueMixin, TempMediaMixin, StaticLiveServerTestCase):
    """A live server and a worker on the test database, a headless Chromium, ``self.page``."""

    browser: Any
    viewport = {"width": 1280, "height": 900}

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        # Playwright's sync API keeps an event loop in this thread; Django would refuse its
        # (synchronous) database calls here without this, e.g. the flush after each test.
        cls.enterClassContext(mock.patch.dict(os.environ, {"DJANGO_ALLOW_ASYNC_UNSAFE": "true"}))
        # The worker's task threads end with the worker but would keep their connections
        # open (CONN_MAX_AGE), and the test database could not be dropped at the end.
        cls.enterClassContext(mock.patch.dict(connections.settings["default"], CONN_MAX_AGE=0))
        # Load the model before the first request, so that no page waits for TensorFlow.
        from ml.recognizer import get_recognizer

        get_recognizer(settings.SPEECHEMOTION_MODEL)

        from playwright.sync_api import expect, sync_playwright

        expect.set_options(timeout=TIMEOUT_MS)
        folder = Path(cls.enterClassContext(tempfile.TemporaryDirectory(prefix="se-browser-")))
        microphone = folder / "microphone.wav"
        microphone.write_bytes(microphone_wav())
        playwright = cls.enterClassContext(sync_playwright())
        cls.browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=[*_CHROMIUM_ARGS, f"--use-file-for-fake-audio-capture={microphone}%noloop"],
        )
        cls.addClassCleanup(cls.browser.close)

    def setUp(self) -> None:
        super().setUp()
        self._pages: list[Any] = []
        self.page = self.new_page()

    def tearDown(self) -> None:
        folder = os.environ.get("SPEECHEMOTION_SCREENSHOTS")
        if folder:
            for number, page in enumerate(self._pages):
                name = f"{type(self).__name__}.{self._testMethodName}.{number}.png"
                page.screenshot(path=str(Path(folder) / name), full_page=True)
        super().tearDown()

    def new_page(self, **context_options: Any) -> Any:
        """A page in a new browser context (``java_script_enabled=False``, ``viewport``...)."""
        context = self.browser.new_context(
            base_url=self.live_server_url, **{"viewport": self.viewport, **context_options}
        )
        self.addCleanup(context.close)
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        # What the Content-Security-Policy blocked (an inline script without the nonce...).
        # Waits on the page are written as functions: Playwright evaluates a bare
        # expression with eval(), which the policy forbids.
        page.on(
            "console",
            lambda message: (
                page.errors.append(message.text)
                if message.type == "error" and "Content Security Policy" in message.text
                else None
            ),
        )
        self._pages.append(page)
        return page

    def assertNoScriptErrors(self, page: Any = None) -> None:
        page = page or self.page
        self.assertEqual(page.errors, [], "JavaScript errors or CSP violations on the page")

    def wait_for_result(self, page: Any = None) -> str:
        """Wait on the result page until the result is shown; returns its headline (an
        emotion's label, "Mixed: a, b" or "No clear emotion")."""
        from playwright.sync_api import expect

        page = page or self.page
        expect(page).to_have_url(RESULT_URL)
        # The upload view has queued the analysis; the result page updates itself once
        # the worker is done.
        run_worker_in_thread()
        verdict = page.locator(".verdict .emotion")
        expect(verdict).to_be_visible()
        # The page reloads itself once more when the charts are there; wait for that final
        # state, or a click could land on a page that is about to go away.
        expect(page.locator("#progress")).to_have_count(0)
        label = verdict.inner_text().strip()
        self.assertRegex(label, HEADLINE)
        return label
