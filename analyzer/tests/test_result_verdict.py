"""The headline of a result: one definition, and "Mixed" or "No clear emotion" when no
emotion clearly leads."""

from __future__ import annotations

import importlib
import re
from unittest import mock

import numpy as np
from django.apps import apps
from django.test import TestCase
from django.urls import reverse

from analyzer import processing, services
from analyzer.models import Analysis
from analyzer.tests.factories import (
    TempMediaMixin,
    fake_recognizer,
    make_analysis,
    make_user,
    run_queued_analyses,
    speech_wav,
    upload,
)
from ml.labels import EMOTION_NAMES, Emotion
from ml.recognizer import Prediction
from ml.timeline import Segment as Window

# Surprised narrowly tops two windows, happy one by far: by speaking time the recording is
# mostly surprised, by its mean probabilities happy.
NARROW_SURPRISED = [0.02, 0.02, 0.35, 0.08, 0.05, 0.04, 0.04, 0.40]
STRONG_HAPPY = [0.0, 0.0, 0.95, 0.0, 0.0, 0.0, 0.0, 0.05]
MIXED = [0.02, 0.02, 0.45, 0.02, 0.02, 0.03, 0.04, 0.40]
FLAT = [0.10, 0.12, 0.16, 0.12, 0.14, 0.12, 0.12, 0.12]


def _probabilities(values: list[float]) -> dict[str, float]:
    return dict(zip(EMOTION_NAMES, values, strict=True))


def _recognizer_saying(values: list[float], **kwargs) -> mock.Mock:
    recognizer = fake_recognizer(**kwargs)
    recognizer.predict_signal.return_value = Prediction.from_probs(np.array(values))
    return recognizer


class _Page(TempMediaMixin, TestCase):
    def analyse(self, recognizer: mock.Mock, *, windows: list[Window] | None = None) -> Analysis:
        """Upload a take in this client's session and let ``recognizer`` analyse it."""
        self.client.get("/")  # a session for the upload
        analysis = services.analysis_create(
            upload=upload(speech_wav(), "take.wav"),
            owner=None,
            session_key=self.client.session.session_key,
        )
        with mock.patch.object(processing, "get_recognizer", return_value=recognizer):
            if windows is None:
                run_queued_analyses()
            else:
                with mock.patch.object(processing, "timeline", return_value=windows):
                    run_queued_analyses()
        analysis.refresh_from_db()
        self.assertEqual(analysis.status, Analysis.Status.DONE, analysis.error_message)
        return analysis

    def headline(self, content: str) -> tuple[str, str]:
        """The emotion (or verdict) the page names and the line beside it."""
        match = re.search(
            r'<div class="emotion[^"]*"[^>]*>([^<]+)</div>\s*<div class="confidence">(.*?)</div>',
            content,
            re.S,
        )
        self.assertIsNotNone(match, "the page shows no headline")
        return match[1].strip(), re.sub(r"<[^>]+>", "", match[2]).strip()

    def bars(self, content: str) -> list[tuple[str, str]]:
        """(emotion, value shown) of each probability bar, top to bottom."""
        listing = content[content.index('id="probabilities"') :]
        return re.findall(
            r'<li class="emo-\w+[^"]*" data-emotion="(\w+)">.*?<span class="value">([^<]+)</span>',
            listing[: listing.index("</ul>")],
            re.S,
        )


class HeadlineTests(_Page):
    def test_it_names_the_first_bar_when_speaking_time_favours_another_emotion(self) -> None:
        windows = [
            Window(0.0, 1.2, Prediction.from_probs(np.array(NARROW_SURPRISED))),
            Window(1.2, 2.4, Prediction.from_probs(np.array(NARROW_SURPRISED))),
            Window(2.4, 3.6, Prediction.from_probs(np.array(STRONG_HAPPY))),
        ]
        analysis = self.analyse(fake_recognizer(), windows=windows)
        # The two rules differ on this recording.
        shares = analysis.distribution
        self.assertEqual(max(shares, key=shares.get), "surprised")

        response = self.client.get(analysis.get_absolute_url())

        content = response.content.decode()
        named, beside = self.headline(content)
        bars = self.bars(content)
        self.assertEqual(len(bars), 8)
        first_emotion, first_value = bars[0]
        self.assertEqual(named, "Happy")
        self.assertEqual(first_emotion, "happy")
        self.assertEqual(first_value, "55.0%")
        self.assertEqual(beside, "confidence 55%")
        self.assertEqual(analysis.confidence, analysis.probabilities["happy"])
        values = [float(value.rstrip("%")) for _, value in bars]
        self.assertEqual(values, sorted(values, reverse=True))
        # The speaking time stays, labelled as the separate figure it is.
        self.assertContains(response, "Share of the speaking time")
        self.assertContains(response, "a separate figure from the probabilities")

    def test_it_says_mixed_when_two_emotions_share_the_lead(self) -> None:
        analysis = self.analyse(_recognizer_saying(MIXED))

        response = self.client.get(analysis.get_absolute_url())

        named, beside = self.headline(response.content.decode())
        self.assertEqual(named, "Mixed: happy, surprised")
        self.assertEqual(beside, "highest: happy 45%, then surprised 40%")
        self.assertNotContains(response, "confidence <strong>")
        self.assertEqual((analysis.verdict, analysis.mixed_with), ("mixed", "surprised"))
        self.assertEqual(response.content.decode().count('role="meter"'), 8)

    def test_it_says_no_clear_emotion_when_none_leads(self) -> None:
        analysis = self.analyse(_recognizer_saying(FLAT))

        response = self.client.get(analysis.get_absolute_url())

        named, beside = self.headline(response.content.decode())
        self.assertEqual(named, "No clear emotion")
        self.assertEqual(beside, "highest: happy 16%")
        self.assertContains(response, "<title>No clear emotion – take.wav")
        self.assertEqual(analysis.verdict, "unclear")
        # The segment of the take says so too.
        self.assertContains(response, '<span class="chip" title="highest: happy">No clear emotion')

    def test_it_judges_by_the_clarity_rule_of_the_model_that_made_it(self) -> None:
        strict = {"min_confidence": 0.8, "min_margin": 0.1}
        recognizer = fake_recognizer(meta={"name": "strict-model", "clarity": strict})

        analysis = self.analyse(recognizer)  # sad at 70%: clear by the default rule

        self.assertEqual(analysis.emotion, "sad")
        self.assertEqual(analysis.verdict, "unclear")
        self.assertEqual(analysis.clarity["min_confidence"], 0.8)
        response = self.client.get(analysis.get_absolute_url())
        self.assertEqual(self.headline(response.content.decode())[0], "No clear emotion")

    def test_it_fails_the_analysis_when_the_models_rule_is_malformed(self) -> None:
        recognizer = fake_recognizer(meta={"name": "bad", "clarity": {"min_margin": 0.1}})
        self.client.get("/")
        analysis = services.analysis_create(
            upload=upload(speech_wav(), "take.wav"), owner=None, session_key="k" * 32
        )
        with mock.patch.object(processing, "get_recognizer", return_value=recognizer):
            run_queued_analyses()

        analysis.refresh_from_db()
        self.assertEqual(analysis.status, Analysis.Status.FAILED)
        self.assertIn('bad "clarity"', analysis.error_message)


class ListingTests(TempMediaMixin, TestCase):
    def setUp(self) -> None:
        super().setUp()
        self.user = make_user("ada", staff=True)
        self.client.force_login(self.user)
        self.clear = make_analysis(owner=self.user, emotion=Emotion.SAD, original_name="sad.wav")
        self.mixed = make_analysis(
            owner=self.user,
            emotion=Emotion.HAPPY,
            original_name="mixed.wav",
            confidence=0.45,
            probabilities=_probabilities(MIXED),
            verdict="mixed",
            mixed_with="surprised",
        )
        self.unclear = make_analysis(
            owner=self.user,
            emotion=Emotion.HAPPY,
            original_name="flat.wav",
            confidence=0.16,
            probabilities=_probabilities(FLAT),
            verdict="unclear",
        )

    def test_it_shows_the_verdicts_in_the_history(self) -> None:
        response = self.client.get(reverse("analyzer:history"))

        self.assertContains(response, '<span class="chip emo-sad">Sad</span>', html=False)
        self.assertContains(
            response, '<span class="chip emo-happy">Mixed: happy, surprised</span>', html=False
        )
        self.assertContains(response, '<span class="chip">No clear emotion</span>', html=False)

    def test_it_filters_the_history_by_the_emotions_a_result_names(self) -> None:
        happy = self.client.get(reverse("analyzer:history"), {"emotion": "happy"})
        surprised = self.client.get(reverse("analyzer:history"), {"emotion": "surprised"})

        self.assertContains(happy, "mixed.wav")
        self.assertNotContains(happy, "flat.wav")  # happy is on top, but not clearly
        self.assertContains(surprised, "mixed.wav")
        self.assertNotContains(surprised, "sad.wav")

    def test_it_shows_the_verdicts_in_the_admin(self) -> None:
        changelist = self.client.get(reverse("admin:analyzer_analysis_changelist"))
        unclear_only = self.client.get(
            reverse("admin:analyzer_analysis_changelist"), {"verdict__exact": "unclear"}
        )
        change = self.client.get(reverse("admin:analyzer_analysis_change", args=[self.mixed.pk]))

        for text in ("Sad", "Mixed: happy, surprised", "No clear emotion"):
            self.assertContains(changelist, text)
        self.assertContains(unclear_only, "flat.wav")
        self.assertNotContains(unclear_only, "mixed.wav")
        self.assertContains(change, "Mixed: happy, surprised")


class MigrationTests(TempMediaMixin, TestCase):
    def test_it_gives_earlier_results_the_one_headline(self) -> None:
        # An analysis saved under the old rule: surprised by speaking time, happy on top.
        values = [0.02, 0.02, 0.38, 0.05, 0.05, 0.08, 0.08, 0.32]
        old = make_analysis(
            emotion=Emotion.SURPRISED, confidence=0.32, probabilities=_probabilities(values)
        )
        Analysis.objects.filter(pk=old.pk).update(verdict="")
        migration = importlib.import_module("analyzer.migrations.0004_verdict_clarity_card")

        migration.one_headline(apps, None)

        old.refresh_from_db()
        self.assertEqual((old.emotion, old.confidence), ("happy", 0.38))
        self.assertEqual((old.verdict, old.headline), ("mixed", "Mixed: happy, surprised"))
