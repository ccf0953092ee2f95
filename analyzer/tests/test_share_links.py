"""Share links: the owner creates, sees and revokes them; anyone holding one sees the
result and hears the recording, and nothing else of the owner; dead links are a 404."""

from __future__ import annotations

import re
from datetime import timedelta

from django.test import Client, TestCase
from django.urls import reverse
from django.utils import timezone

from analyzer.models import Analysis, Segment
from analyzer.tests.factories import (
    TempMediaMixin,
    make_analysis,
    make_user,
    probabilities_for,
    speech_wav,
)
from ml.labels import Emotion
from sharing import services
from sharing.models import ShareLink

SHARED_URL = re.compile(r'id="share-url"[^>]*value="(http://testserver/shared/[A-Za-z0-9_-]{43}/)"')


class ShareLinkTestCase(TempMediaMixin, TestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        cls.speech = speech_wav(Emotion.SAD)

    def setUp(self) -> None:
        super().setUp()
        self.owner = make_user("owner-ada")
        self.client.force_login(self.owner)
        self.analysis = make_analysis(
            owner=self.owner, data=self.speech, original_name="my sad take.wav", emotion=Emotion.SAD
        )
        Segment.objects.create(
            analysis=self.analysis,
            start=0.0,
            end=3.0,
            emotion="sad",
            confidence=0.6,
            probabilities=probabilities_for(Emotion.SAD),
        )
        self.other = make_analysis(owner=self.owner, original_name="my other secret.wav")
        self.result_url = self.analysis.get_absolute_url()
        self.create_url = reverse("sharing:create", args=[self.analysis.pk])

    def create_link(self, days: int | None = None) -> str:
        """Create a link as the owner does on the result page; returns its path."""
        data = {} if days is None else {"days": days}
        response = self.client.post(self.create_url, data, follow=True)
        self.assertRedirects(response, f"{self.result_url}#share")
        match = SHARED_URL.search(response.content.decode())
        self.assertIsNotNone(match, "the new link is not shown on the result page")
        return match[1].removeprefix("http://testserver")


class CreateTests(ShareLinkTestCase):
    def test_it_offers_a_share_form_on_a_finished_result(self) -> None:
        response = self.client.get(self.result_url)

        self.assertContains(response, f'action="{self.create_url}"')
        self.assertContains(response, "Create a share link")
        self.assertContains(response, '<option value="7" selected>7 days</option>', html=True)
        self.assertContains(response, "No active share links.")

    def test_it_creates_a_link_for_seven_days_by_default_and_shows_it_once(self) -> None:
        before = timezone.now()
        path = self.create_link()

        link = ShareLink.objects.get()
        self.assertEqual(link.analysis, self.analysis)
        self.assertAlmostEqual((link.expires_at - before).total_seconds(), 7 * 86400, delta=60)
        # Only a hash of the token is kept.
        token = path.split("/")[2]
        self.assertEqual(link.token_hash, services.token_hash(token))
        self.assertNotIn(token, link.token_hash)
        again = self.client.get(self.result_url)
        self.assertNotContains(again, token)
        self.assertContains(again, "Active share links")
        self.assertContains(again, link.expires_at.astimezone().strftime("%-d %b %Y, %H:%M"))

    def test_it_lets_the_owner_choose_how_long_it_works(self) -> None:
        for days in (1, 30):
            with self.subTest(days=days):
                self.create_link(days)
                link = ShareLink.objects.first()
                remaining = link.expires_at - timezone.now()
                self.assertAlmostEqual(remaining.total_seconds(), days * 86400, delta=60)
        response = self.client.post(self.create_url, {"days": 365}, follow=True)
        self.assertContains(response, "Choose how long the link works: 1, 7 or 30 days.")
        self.assertEqual(ShareLink.objects.count(), 2)

    def test_it_shares_only_a_finished_analysis_of_ones_own(self) -> None:
        pending = make_analysis(owner=self.owner, emotion=None, status=Analysis.Status.PENDING)
        response = self.client.post(reverse("sharing:create", args=[pending.pk]), follow=True)
        self.assertContains(response, "Only a finished analysis can be shared.")

        bobs = make_analysis(owner=make_user("bob"))
        stranger = self.client.post(reverse("sharing:create", args=[bobs.pk]))
        self.assertEqual(stranger.status_code, 404)
        self.assertEqual(ShareLink.objects.count(), 0)

    def test_it_needs_a_post_with_a_csrf_token(self) -> None:
        self.assertEqual(self.client.get(self.create_url).status_code, 405)
        strict = Client(enforce_csrf_checks=True)
        strict.force_login(self.owner)
        self.assertEqual(strict.post(self.create_url).status_code, 403)
        self.assertEqual(ShareLink.objects.count(), 0)


class SharedPageTests(ShareLinkTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.path = self.create_link()
        self.visitor = Client()

    def test_it_shows_the_result_to_anyone_with_the_link(self) -> None:
        response = self.visitor.get(self.path)

        self.assertEqual(response.status_code, 200)
        self.assertContains(response, "<h1>my sad take.wav</h1>", html=True)
        self.assertContains(response, 'data-emotion="sad">Sad</div>')
        self.assertContains(response, "Shared with you, read-only.")
        self.assertEqual(response.content.decode().count('role="meter"'), 8)
        self.assertContains(response, 'id="segments"')
        self.assertContains(response, f'src="{self.path}audio/"')

    def test_it_asks_search_engines_not_to_index_it(self) -> None:
        response = self.visitor.get(self.path)

        self.assertContains(response, '<meta name="robots" content="noindex">')
        self.assertIn("noindex", response["X-Robots-Tag"])
        self.assertEqual(response["Referrer-Policy"], "no-referrer")
        self.assertIn("no-cache", response["Cache-Control"])

    def test_it_leads_to_nothing_else_of_the_owner(self) -> None:
        content = self.visitor.get(self.path).content.decode()

        pk = str(self.analysis.pk)
        for leak in (
            self.result_url,
            reverse("analyzer:delete", args=[pk]),
            reverse("analyzer:retry", args=[pk]),
            reverse("analyzer:audio", args=[pk]),
            reverse("analyzer:export", args=[pk, "csv"]),
            reverse("analyzer:status", args=[pk]),
            self.create_url,
            pk,
            "my other secret.wav",
            "owner-ada",
            "<form",
            "← History",
        ):
            with self.subTest(leak=leak):
                self.assertFalse(leak in content, f"the shared page shows {leak!r}")

    def test_it_plays_the_recording_through_the_link(self) -> None:
        response = self.visitor.get(f"{self.path}audio/")

        self.assertEqual(response.status_code, 200)
        self.assertEqual(response["Content-Type"], "audio/wav")
        self.assertEqual(b"".join(response.streaming_content), self.speech)
        self.assertEqual(response["Cache-Control"], "no-store")
        self.assertIn("noindex", response["X-Robots-Tag"])
        partial = self.visitor.get(f"{self.path}audio/", HTTP_RANGE="bytes=0-99")
        self.assertEqual(partial.status_code, 206)
        self.assertEqual(b"".join(partial.streaming_content), self.speech[:100])
        # The link opens only this recording, not the owner's address for it.
        self.assertEqual(self.visitor.get(f"{self.result_url}audio/").status_code, 404)

    def test_it_is_a_404_once_revoked_page_and_audio_alike(self) -> None:
        link = ShareLink.objects.get()
        response = self.client.post(
            reverse("sharing:revoke", args=[self.analysis.pk, link.pk]), follow=True
        )
        self.assertContains(response, "The share link is revoked")
        self.assertContains(response, "No active share links.")

        page = self.visitor.get(self.path)
        self.assertContains(page, "This share link does not work", status_code=404)
        self.assertContains(page, '<meta name="robots" content="noindex">', status_code=404)
        self.assertNotContains(page, "my sad take.wav", status_code=404)
        self.assertEqual(self.visitor.get(f"{self.path}audio/").status_code, 404)
        link.refresh_from_db()
        self.assertIsNotNone(link.revoked_at)

    def test_it_is_a_404_once_expired(self) -> None:
        ShareLink.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

        self.assertContains(self.visitor.get(self.path), "has expired", status_code=404)
        self.assertEqual(self.visitor.get(f"{self.path}audio/").status_code, 404)
        self.assertContains(self.client.get(self.result_url), "No active share links.")

    def test_it_is_a_404_for_an_unknown_token(self) -> None:
        for token in ("x" * 43, "short", "a" * 500):
            with self.subTest(token=token[:10]):
                response = self.visitor.get(reverse("sharing:shared", args=[token]))
                self.assertContains(response, "This share link does not work", status_code=404)

    def test_it_is_gone_with_the_analysis(self) -> None:
        self.analysis.delete()

        self.assertEqual(self.visitor.get(self.path).status_code, 404)
        self.assertEqual(ShareLink.objects.count(), 0)

    def test_only_the_owner_revokes(self) -> None:
        link = ShareLink.objects.get()
        bob = Client()
        bob.force_login(make_user("bob"))

        response = bob.post(reverse("sharing:revoke", args=[self.analysis.pk, link.pk]))
        self.assertEqual(response.status_code, 404)
        # A link of another analysis cannot be revoked through one's own analysis either.
        self.assertEqual(
            self.client.post(reverse("sharing:revoke", args=[self.other.pk, link.pk])).status_code,
            404,
        )
        self.assertIsNone(ShareLink.objects.get().revoked_at)
        self.assertEqual(self.visitor.get(self.path).status_code, 200)
