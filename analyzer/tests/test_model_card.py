"""Beside every result, in plain words: what the model was trained on and how it does on
voices it never heard, with a link to the model card."""

from __future__ import annotations

from unittest import mock

from django.test import TestCase
from django.urls import reverse

from analyzer import processing, selectors, services
from analyzer.tests.factories import (
    FAKE_CARD,
    TempMediaMixin,
    fake_recognizer,
    make_analysis,
    run_queued_analyses,
    speech_wav,
    upload,
)


class ResultPageTests(TempMediaMixin, TestCase):
    def _analysed(self, recognizer: mock.Mock):
        self.client.get("/")
        analysis = services.analysis_create(
            upload=upload(speech_wav(), "take.wav"),
            owner=None,
            session_key=self.client.session.session_key,
        )
        with mock.patch.object(processing, "get_recognizer", return_value=recognizer):
            run_queued_analyses()
        analysis.refresh_from_db()
        return analysis

    def test_it_says_what_the_model_was_trained_on_and_links_the_card(self) -> None:
        analysis = self._analysed(fake_recognizer())

        response = self.client.get(analysis.get_absolute_url())

        self.assertContains(response, f"<strong>Trained on:</strong> {FAKE_CARD['trained_on']}")
        self.assertContains(
            response,
            "On voices it has never heard, it picked the right emotion about 5 times in 10:",
        )
        self.assertContains(
            response,
            "A corpus from another studio, 7 emotions: right about 5 times in 10 "
            "(guessing: 1 in 7); neutral speech almost never called neutral.",
        )
        self.assertContains(response, FAKE_CARD["summary"])
        self.assertContains(response, f'<a href="{reverse("analyzer:model_card")}">')

    def test_it_keeps_the_card_of_the_model_that_made_the_result(self) -> None:
        analysis = self._analysed(fake_recognizer())
        self.assertEqual(analysis.model_card, FAKE_CARD)

    def test_it_says_so_when_the_model_has_no_card(self) -> None:
        analysis = self._analysed(fake_recognizer(meta={"name": "bare"}))

        response = self.client.get(analysis.get_absolute_url())

        self.assertContains(response, "did not describe its training data")
        self.assertContains(response, f'<a href="{reverse("analyzer:model_card")}">')

    def test_it_shows_the_bundled_models_own_card(self) -> None:
        import json

        from ml.recognizer import BUNDLED_MODEL

        card = json.loads((BUNDLED_MODEL / "meta.json").read_text())["card"]
        analysis = make_analysis(session_key="", model_card=card)
        session = self.client.session
        session.save()
        analysis.session_key = session.session_key
        analysis.save()

        response = self.client.get(analysis.get_absolute_url())

        self.assertContains(response, card["trained_on"])
        for score in card["unseen"]:
            self.assertContains(response, score["set"])


class ModelCardPageTests(TestCase):
    def test_it_serves_the_model_card(self) -> None:
        response = self.client.get(reverse("analyzer:model_card"))

        self.assertEqual(response.status_code, 200)
        card = selectors.MODEL_CARD_PATH.read_text(encoding="utf-8")
        self.assertContains(response, "# Model card")
        self.assertContains(response, "## Training data")
        self.assertIn(card.splitlines()[0].lstrip("# "), response.content.decode())
        self.assertIn("script-src", response.headers["Content-Security-Policy"])

    def test_it_is_read_only(self) -> None:
        self.assertEqual(self.client.post(reverse("analyzer:model_card")).status_code, 405)

    def test_it_answers_404_without_a_card(self) -> None:
        with mock.patch.object(
            selectors, "MODEL_CARD_PATH", selectors.MODEL_CARD_PATH.with_name("NO.md")
        ):
            response = self.client.get(reverse("analyzer:model_card"))
        self.assertEqual(response.status_code, 404)
