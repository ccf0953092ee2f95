"""The history's search by file name and its orders, on the page and in its downloads."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from django.test import TestCase
from django.urls import reverse
from django.utils import timezone

from analyzer.models import Analysis
from analyzer.tests.factories import TempMediaMixin, make_analysis, make_user
from ml.labels import Emotion


class HistorySearchSortTests(TempMediaMixin, TestCase):
    def setUp(self) -> None:
        super().setUp()
        self.user = make_user()
        self.client.force_login(self.user)

    def _make(self, name: str, *, minutes_ago: int, **fields) -> Analysis:
        analysis = make_analysis(owner=self.user, original_name=name, **fields)
        Analysis.objects.filter(pk=analysis.pk).update(
            created_at=timezone.now() - timedelta(minutes=minutes_ago)
        )
        return analysis

    def _names(self, response) -> list[str]:
        return [analysis.original_name for analysis in response.context["page"].object_list]

    def _shown_order(self, response, names: list[str]) -> list[str]:
        content = response.content.decode()
        return sorted(names, key=lambda name: content.index(f">{name}</a>"))

    def test_it_finds_file_names_containing_the_search_in_any_case(self) -> None:
        self._make("Interview-MONDAY.wav", minutes_ago=3)
        self._make("monday call.mp3", minutes_ago=2)
        self._make("tuesday.wav", minutes_ago=1)
        make_analysis(owner=make_user("bob"), original_name="bobs monday.wav")

        response = self.client.get(reverse("analyzer:history"), {"q": "Monday"})

        self.assertEqual(self._names(response), ["monday call.mp3", "Interview-MONDAY.wav"])
        self.assertContains(response, "2 analyses named like “Monday”, newest first")
        self.assertContains(response, 'value="Monday"')
        self.assertNotContains(response, "tuesday.wav")
        self.assertNotContains(response, "bobs monday.wav")

    def test_it_says_when_nothing_matches_the_search(self) -> None:
        self._make("take.wav", minutes_ago=1)

        response = self.client.get(reverse("analyzer:history"), {"q": "zebra"})

        self.assertContains(response, "No analyses have a file name like “zebra”.")

    def test_it_sorts_by_each_column_both_ways(self) -> None:
        self._make("a.wav", minutes_ago=30, emotion=Emotion.SAD, duration=5.0, confidence=0.9)
        self._make("b.wav", minutes_ago=20, emotion=Emotion.ANGRY, duration=9.0, confidence=0.5)
        self._make("c.wav", minutes_ago=10, emotion=Emotion.HAPPY, duration=2.0, confidence=0.7)
        self._make("d.wav", minutes_ago=5, emotion=None, status=Analysis.Status.PENDING)
        expected = {
            "-date": ["d.wav", "c.wav", "b.wav", "a.wav"],
            "date": ["a.wav", "b.wav", "c.wav", "d.wav"],
            # Without a result (under way or failed) last either way.
            "emotion": ["b.wav", "c.wav", "a.wav", "d.wav"],
            "-emotion": ["a.wav", "c.wav", "b.wav", "d.wav"],
            "confidence": ["b.wav", "c.wav", "a.wav", "d.wav"],
            "-confidence": ["a.wav", "c.wav", "b.wav", "d.wav"],
        }
        for sort, names in expected.items():
            with self.subTest(sort=sort):
                response = self.client.get(reverse("analyzer:history"), {"sort": sort})
                self.assertEqual(self._shown_order(response, names), names)
        Analysis.objects.filter(original_name="d.wav").update(duration=4.0)
        for sort, names in {
            "duration": ["c.wav", "d.wav", "a.wav", "b.wav"],
            "-duration": ["b.wav", "a.wav", "d.wav", "c.wav"],
        }.items():
            with self.subTest(sort=sort):
                response = self.client.get(reverse("analyzer:history"), {"sort": sort})
                self.assertEqual(self._shown_order(response, names), names)

    def test_it_says_the_order_and_keeps_search_filter_and_order_across_pages(self) -> None:
        for i in range(22):
            self._make(f"sad-take-{i:02d}.wav", minutes_ago=i, emotion=Emotion.SAD)
        self._make("sad-other.flac", minutes_ago=50, emotion=Emotion.HAPPY)

        response = self.client.get(
            reverse("analyzer:history"), {"q": "take", "emotion": "sad", "sort": "date"}
        )

        self.assertContains(response, "22 analyses sounding sad named like “take”, oldest first")
        self.assertContains(
            response, '<option value="date" selected>Oldest first</option>', html=True
        )
        self.assertContains(response, 'href="?emotion=sad&amp;q=take&amp;sort=date&amp;page=2"')
        self.assertEqual(self._names(response)[0], "sad-take-21.wav")
        second = self.client.get(
            reverse("analyzer:history"), {"q": "take", "emotion": "sad", "sort": "date", "page": 2}
        )
        self.assertEqual(self._names(second), ["sad-take-01.wav", "sad-take-00.wav"])

    def test_it_ignores_an_unknown_order(self) -> None:
        self._make("old.wav", minutes_ago=5)
        self._make("new.wav", minutes_ago=1)

        response = self.client.get(reverse("analyzer:history"), {"sort": "loudness"})

        self.assertContains(response, "Unknown order; showing the newest first.")
        self.assertEqual(self._names(response), ["new.wav", "old.wav"])

    def test_it_downloads_the_history_as_searched_and_sorted(self) -> None:
        self._make("long call.wav", minutes_ago=3, duration=30.0)
        self._make("short call.wav", minutes_ago=2, duration=3.0)
        self._make("memo.wav", minutes_ago=1, duration=10.0)
        page = self.client.get(reverse("analyzer:history"), {"q": "call", "sort": "duration"})
        url = reverse("analyzer:history_export", args=["csv"])
        self.assertContains(page, f"{url}?q=call&amp;sort=duration")

        response = self.client.get(url, {"q": "call", "sort": "duration"})

        rows = list(csv.DictReader(io.StringIO(response.content.decode())))
        self.assertEqual([row["file_name"] for row in rows], ["short call.wav", "long call.wav"])
