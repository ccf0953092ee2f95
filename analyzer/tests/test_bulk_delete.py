"""Deleting several analyses from the history at once, and going back to the same view."""

from __future__ import annotations

from datetime import timedelta

from django.test import Client, TestCase
from django.urls import reverse
from django.utils import timezone

from analyzer.models import Analysis
from analyzer.tests.factories import TempMediaMixin, make_analysis, make_user
from ml.labels import Emotion

HISTORY = reverse("analyzer:history")
BULK_DELETE = reverse("analyzer:history_delete")


class BulkDeleteTests(TempMediaMixin, TestCase):
    def setUp(self) -> None:
        super().setUp()
        self.user = make_user()
        self.client.force_login(self.user)

    def _make(self, name: str, *, minutes_ago: int = 0, owner=None, **fields) -> Analysis:
        analysis = make_analysis(owner=owner or self.user, original_name=name, **fields)
        Analysis.objects.filter(pk=analysis.pk).update(
            created_at=timezone.now() - timedelta(minutes=minutes_ago)
        )
        return analysis

    def test_it_offers_a_checkbox_per_analysis_in_one_form(self) -> None:
        first = self._make("one.wav")
        second = self._make("two.wav")

        response = self.client.get(HISTORY)

        self.assertContains(response, f'action="{BULK_DELETE}"')
        for analysis in (first, second):
            self.assertContains(
                response,
                f'<input type="checkbox" name="ids" value="{analysis.pk}" '
                f'aria-label="Select {analysis.original_name}">',
                html=True,
            )
        self.assertContains(response, "Delete selected")

    def test_it_deletes_the_chosen_analyses_and_their_files_together(self) -> None:
        doomed = [self._make(f"bye-{i}.wav") for i in range(3)]
        kept = self._make("stay.wav")
        paths = [self.media_root / analysis.file.name for analysis in doomed]

        with self.captureOnCommitCallbacks(execute=True):
            response = self.client.post(
                BULK_DELETE, {"ids": [str(a.pk) for a in doomed]}, follow=True
            )

        self.assertRedirects(response, HISTORY)
        self.assertContains(response, "3 analyses and their recordings have been deleted.")
        self.assertEqual(list(Analysis.objects.values_list("pk", flat=True)), [kept.pk])
        self.assertFalse(any(path.exists() for path in paths))
        self.assertEqual(self.stored_files(), [self.media_root / kept.file.name])
        self.assertContains(response, "stay.wav")

    def test_it_leaves_another_owners_analyses_alone(self) -> None:
        mine = self._make("mine.wav")
        bob = make_user("bob")
        bobs = self._make("bobs.wav", owner=bob)
        anonymous = make_analysis(session_key="s" * 32, original_name="anon.wav")

        with self.captureOnCommitCallbacks(execute=True):
            response = self.client.post(
                BULK_DELETE, {"ids": [str(mine.pk), str(bobs.pk), str(anonymous.pk)]}, follow=True
            )

        self.assertContains(response, "“mine.wav” and its recording have been deleted.")
        self.assertEqual(
            set(Analysis.objects.values_list("original_name", flat=True)), {"bobs.wav", "anon.wav"}
        )
        self.assertTrue((self.media_root / bobs.file.name).is_file())
        # Bob's own history still has it.
        other = Client()
        other.force_login(bob)
        self.assertContains(other.get(HISTORY), "bobs.wav")

    def test_it_deletes_nothing_when_only_others_ids_are_sent(self) -> None:
        bobs = self._make("bobs.wav", owner=make_user("bob"))

        response = self.client.post(BULK_DELETE, {"ids": [str(bobs.pk)]}, follow=True)

        self.assertContains(response, "None of the chosen analyses exist any more.")
        self.assertTrue(Analysis.objects.filter(pk=bobs.pk).exists())

    def test_it_says_to_choose_first_and_refuses_bad_ids(self) -> None:
        kept = self._make("stay.wav")
        for data, message in (
            ({}, "Choose the analyses to delete first."),
            ({"ids": ["not-a-uuid", str(kept.pk)]}, "Unknown analyses were chosen."),
        ):
            with self.subTest(data=data):
                response = self.client.post(BULK_DELETE, data, follow=True)
                self.assertContains(response, message)
        self.assertTrue(Analysis.objects.filter(pk=kept.pk).exists())

    def test_it_needs_a_post_with_a_csrf_token(self) -> None:
        analysis = self._make("stay.wav")
        self.assertEqual(self.client.get(BULK_DELETE, {"ids": [str(analysis.pk)]}).status_code, 405)
        strict = Client(enforce_csrf_checks=True)
        strict.force_login(self.user)
        self.assertEqual(strict.post(BULK_DELETE, {"ids": [str(analysis.pk)]}).status_code, 403)
        self.assertTrue(Analysis.objects.filter(pk=analysis.pk).exists())

    def test_it_goes_back_to_the_same_filter_search_order_and_page(self) -> None:
        for i in range(45):
            self._make(f"sad-{i:02d}.wav", minutes_ago=i, emotion=Emotion.SAD)
        self._make("happy.wav", emotion=Emotion.HAPPY)
        state = {"emotion": "sad", "q": "sad-", "sort": "date"}
        page = self.client.get(HISTORY, {**state, "page": 2})
        on_page = [str(a.pk) for a in page.context["page"].object_list[:2]]

        response = self.client.post(BULK_DELETE, {**state, "page": 2, "ids": on_page})

        self.assertRedirects(
            response,
            f"{HISTORY}?emotion=sad&q=sad-&sort=date&page=2",
            fetch_redirect_response=False,
        )
        followed = self.client.get(response["Location"])
        self.assertContains(followed, "43 analyses sounding sad named like “sad-”, oldest first")
        self.assertContains(followed, "Page 2 of 3")

    def test_it_goes_to_the_last_page_when_the_page_is_gone(self) -> None:
        analyses = [self._make(f"take-{i:02d}.wav", minutes_ago=i) for i in range(21)]
        # Page 2 holds only the oldest one; delete it.
        response = self.client.post(
            BULK_DELETE, {"q": "take", "page": 2, "ids": [str(analyses[-1].pk)]}
        )

        self.assertRedirects(response, f"{HISTORY}?q=take", fetch_redirect_response=False)
        self.assertContains(self.client.get(response["Location"]), "20 analyses named like")

    def test_a_single_delete_from_the_history_goes_back_there(self) -> None:
        analyses = [self._make(f"take-{i:02d}.wav", minutes_ago=i) for i in range(25)]
        history = self.client.get(HISTORY, {"sort": "-duration", "page": 2})
        delete_url = reverse("analyzer:delete", args=[analyses[22].pk])
        self.assertContains(history, f'href="{delete_url}?sort=-duration&amp;page=2"')

        confirm = self.client.get(delete_url, {"sort": "-duration", "page": 2})
        self.assertContains(
            confirm, '<input type="hidden" name="sort" value="-duration">', html=True
        )
        self.assertContains(confirm, '<input type="hidden" name="page" value="2">', html=True)
        response = self.client.post(delete_url, {"sort": "-duration", "page": "2"}, follow=True)

        self.assertRedirects(response, f"{HISTORY}?sort=-duration&page=2")
        self.assertContains(response, "“take-22.wav” and its recording have been deleted.")
        self.assertContains(response, "Page 2 of 2")
