from __future__ import annotations

from datetime import timedelta

from django.test import TestCase
from django.urls import reverse
from django.utils import timezone

from analyzer.models import Analysis
from analyzer.tests.factories import TempMediaMixin, make_analysis, make_user
from ml.labels import Emotion


class HistoryTests(TempMediaMixin, TestCase):
    def setUp(self) -> None:
        super().setUp()
        self.user = make_user()
        self.client.force_login(self.user)

    def _make(self, name: str, *, minutes_ago: int, **kwargs) -> Analysis:
        analysis = make_analysis(owner=self.user, original_name=name, **kwargs)
        # created_at is auto_now_add; backdate it to get a known order.
        Analysis.objects.filter(pk=analysis.pk).update(
            created_at=timezone.now() - timedelta(minutes=minutes_ago)
        )
        return analysis

    def test_it_lists_the_analyses_newest_first_with_links(self) -> None:
        old = self._make("old.wav", minutes_ago=30, emotion=Emotion.SAD)
        new = self._make("new.wav", minutes_ago=1, emotion=Emotion.HAPPY)
        failed = self._make(
            "broken.wav", minutes_ago=10, emotion=None, status=Analysis.Status.FAILED
        )

        response = self.client.get(reverse("analyzer:history"))

        content = response.content.decode()
        self.assertLess(content.index("new.wav"), content.index("broken.wav"))
        self.assertLess(content.index("broken.wav"), content.index("old.wav"))
        for analysis in (old, new, failed):
            self.assertContains(response, f'href="{analysis.get_absolute_url()}"')
        self.assertContains(response, '<span class="chip emo-happy">Happy</span>')
        self.assertContains(response, '<span class="chip emo-sad">Sad</span>')
        self.assertContains(response, '<span class="status-failed">Failed</span>')
        self.assertContains(response, "3 analyses, newest first")

    def test_it_shows_analyses_still_under_way(self) -> None:
        for status in (Analysis.Status.PENDING, Analysis.Status.RUNNING):
            self._make(f"{status}.wav", minutes_ago=1, emotion=None, status=status)

        response = self.client.get(reverse("analyzer:history"))

        self.assertEqual(
            response.content.decode().count('<span class="muted">Analysing…</span>'), 2
        )

    def test_it_pages_by_twenty(self) -> None:
        for i in range(21):
            self._make(f"take-{i:02d}.wav", minutes_ago=i)

        first = self.client.get(reverse("analyzer:history"))
        second = self.client.get(reverse("analyzer:history"), {"page": 2})

        self.assertEqual(len(first.context["page"].object_list), 20)
        self.assertContains(first, "take-00.wav")
        self.assertNotContains(first, "take-20.wav")
        self.assertContains(first, "Page 1 of 2")
        self.assertContains(first, 'href="?page=2"')
        self.assertContains(second, "take-20.wav")
        self.assertNotContains(second, "take-00.wav")

    def test_it_filters_by_emotion_and_keeps_the_filter_across_pages(self) -> None:
        self._make("sad.wav", minutes_ago=2, emotion=Emotion.SAD)
        self._make("happy.wav", minutes_ago=1, emotion=Emotion.HAPPY)
        for i in range(21):
            self._make(f"angry-{i:02d}.wav", minutes_ago=10 + i, emotion=Emotion.ANGRY)

        sad = self.client.get(reverse("analyzer:history"), {"emotion": "sad"})
        angry = self.client.get(reverse("analyzer:history"), {"emotion": "angry"})

        self.assertContains(sad, "sad.wav")
        self.assertNotContains(sad, "happy.wav")
        self.assertContains(sad, "1 analysis sounding sad")
        self.assertContains(sad, '<option value="sad" selected>Sad</option>', html=True)
        self.assertContains(angry, 'href="?emotion=angry&amp;page=2"')

    def test_it_says_when_no_analysis_has_the_emotion(self) -> None:
        self._make("happy.wav", minutes_ago=1, emotion=Emotion.HAPPY)

        response = self.client.get(reverse("analyzer:history"), {"emotion": "fearful"})

        self.assertContains(response, "No analyses sound fearful yet.")

    def test_it_ignores_an_unknown_emotion_filter(self) -> None:
        self._make("happy.wav", minutes_ago=1)

        response = self.client.get(reverse("analyzer:history"), {"emotion": "bored"})

        self.assertEqual(response.status_code, 200)
        self.assertContains(response, "Unknown emotion; showing all analyses.")
        self.assertContains(response, "happy.wav")

    def test_it_invites_a_first_upload_when_empty(self) -> None:
        response = self.client.get(reverse("analyzer:history"))
        self.assertContains(response, "Nothing here yet.")


class DeleteTests(TempMediaMixin, TestCase):
    def setUp(self) -> None:
        super().setUp()
        self.user = make_user()
        self.client.force_login(self.user)
        self.analysis = make_analysis(owner=self.user, original_name="bye.wav")
        self.path = self.media_root / self.analysis.file.name

    def test_it_asks_for_confirmation_first(self) -> None:
        response = self.client.get(reverse("analyzer:delete", args=[self.analysis.pk]))

        self.assertContains(response, "Delete “bye.wav”?")
        self.assertContains(response, 'method="post"')
        self.assertTrue(Analysis.objects.filter(pk=self.analysis.pk).exists())
        self.assertTrue(self.path.is_file())

    def test_it_deletes_the_row_and_the_file(self) -> None:
        self.assertTrue(self.path.is_file())

        with self.captureOnCommitCallbacks(execute=True):
            response = self.client.post(
                reverse("analyzer:delete", args=[self.analysis.pk]), follow=True
            )

        self.assertRedirects(response, reverse("analyzer:history"))
        self.assertContains(response, "“bye.wav” and its recording have been deleted.")
        self.assertFalse(Analysis.objects.filter(pk=self.analysis.pk).exists())
        self.assertFalse(self.path.exists())
        self.assertEqual(self.stored_files(), [])

    def test_it_keeps_the_file_until_the_deletion_is_committed(self) -> None:
        with self.captureOnCommitCallbacks(execute=False) as callbacks:
            self.client.post(reverse("analyzer:delete", args=[self.analysis.pk]))

        self.assertTrue(self.path.is_file())
        self.assertEqual(len(callbacks), 1)

    def test_it_deletes_files_on_a_queryset_delete(self) -> None:
        other = make_analysis(owner=self.user)

        with self.captureOnCommitCallbacks(execute=True):
            Analysis.objects.all().delete()

        self.assertEqual(self.stored_files(), [])
        self.assertFalse((self.media_root / other.file.name).exists())

    def test_it_deletes_the_files_of_a_deleted_user(self) -> None:
        with self.captureOnCommitCallbacks(execute=True):
            self.user.delete()

        self.assertEqual(Analysis.objects.count(), 0)
        self.assertEqual(self.stored_files(), [])
