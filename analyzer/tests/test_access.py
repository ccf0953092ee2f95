"""Only the owner (user, or else browser session) can see, hear or delete an analysis."""

from __future__ import annotations

from django.test import Client, TestCase
from django.urls import reverse

from analyzer.models import Analysis
from analyzer.ownership import ANONYMOUS_KEY_SESSION_FIELD
from analyzer.tests.factories import TempMediaMixin, make_analysis, make_user, tone_wav


def _session_key(client: Client) -> str:
    """Start a session for ``client`` (as a first upload would) and return its key."""
    return client.session.session_key


class OwnerAccessTests(TempMediaMixin, TestCase):
    def setUp(self) -> None:
        super().setUp()
        self.owner = make_user("owner")
        self.data = tone_wav(1.5)
        self.analysis = make_analysis(owner=self.owner, data=self.data, original_name="mine.wav")
        self.urls = {
            name: reverse(f"analyzer:{name}", args=[self.analysis.pk])
            for name in ("result", "audio", "delete")
        }

    def test_it_shows_everything_to_the_owner(self) -> None:
        self.client.force_login(self.owner)

        self.assertContains(self.client.get(self.urls["result"]), "mine.wav")
        self.assertContains(self.client.get(self.urls["delete"]), "Delete “mine.wav”?")
        self.assertContains(self.client.get(reverse("analyzer:history")), "mine.wav")
        audio = self.client.get(self.urls["audio"])
        self.assertEqual(audio.status_code, 200)
        self.assertEqual(audio["Content-Type"], "audio/wav")
        self.assertEqual(b"".join(audio.streaming_content), self.data)
        self.assertIn("inline", audio["Content-Disposition"])
        self.assertEqual(audio["Accept-Ranges"], "bytes")

    def test_it_answers_404_to_another_user(self) -> None:
        self.client.force_login(make_user("mallory"))

        for url in self.urls.values():
            with self.subTest(url=url):
                self.assertEqual(self.client.get(url).status_code, 404)
        self.assertEqual(self.client.post(self.urls["delete"]).status_code, 404)
        self.assertNotContains(self.client.get(reverse("analyzer:history")), "mine.wav")
        self.assertTrue(Analysis.objects.filter(pk=self.analysis.pk).exists())
        self.assertTrue((self.media_root / self.analysis.file.name).is_file())

    def test_it_answers_404_to_an_anonymous_visitor(self) -> None:
        _session_key(self.client)

        for url in self.urls.values():
            with self.subTest(url=url):
                self.assertEqual(self.client.get(url).status_code, 404)
        self.assertEqual(self.client.post(self.urls["delete"]).status_code, 404)
        self.assertNotContains(self.client.get(reverse("analyzer:history")), "mine.wav")

    def test_it_answers_404_for_an_unknown_id(self) -> None:
        self.client.force_login(self.owner)
        url = reverse("analyzer:result", args=["00000000-0000-4000-8000-000000000000"])
        self.assertEqual(self.client.get(url).status_code, 404)

    def test_it_never_serves_uploads_from_a_public_media_url(self) -> None:
        self.client.force_login(self.owner)
        response = self.client.get(f"/media/{self.analysis.file.name}")
        self.assertEqual(response.status_code, 404)


class AnonymousAccessTests(TempMediaMixin, TestCase):
    def setUp(self) -> None:
        super().setUp()
        self.key = _session_key(self.client)
        self.analysis = make_analysis(session_key=self.key, original_name="anon.wav")

    def test_it_shows_the_analysis_to_the_same_browser_session(self) -> None:
        self.assertContains(self.client.get(self.analysis.get_absolute_url()), "anon.wav")
        self.assertContains(self.client.get(reverse("analyzer:history")), "anon.wav")
        audio = self.client.get(reverse("analyzer:audio", args=[self.analysis.pk]))
        self.assertEqual(audio.status_code, 200)

    def test_it_answers_404_to_another_browser_session(self) -> None:
        stranger = Client()
        _session_key(stranger)

        for name in ("result", "audio", "delete"):
            with self.subTest(view=name):
                url = reverse(f"analyzer:{name}", args=[self.analysis.pk])
                self.assertEqual(stranger.get(url).status_code, 404)
        self.assertNotContains(stranger.get(reverse("analyzer:history")), "anon.wav")

    def test_it_hides_anonymous_analyses_from_signed_in_users(self) -> None:
        # Even a user who happens to carry the same session key does not see them.
        self.client.force_login(make_user("someone"))
        self.assertEqual(self.client.get(self.analysis.get_absolute_url()).status_code, 404)

    def test_it_hands_the_session_analyses_to_the_user_who_signs_in(self) -> None:
        session = self.client.session
        session[ANONYMOUS_KEY_SESSION_FIELD] = self.key
        session.save()
        user = make_user("grace", password="correct horse 42")

        response = self.client.post(
            reverse("login"), {"username": "grace", "password": "correct horse 42"}, follow=True
        )

        self.assertRedirects(response, reverse("analyzer:history"))
        self.analysis.refresh_from_db()
        self.assertEqual(self.analysis.owner, user)
        self.assertContains(response, "anon.wav")

    def test_it_signs_out_with_a_post_form(self) -> None:
        make_user("grace", password="correct horse 42")
        self.client.login(username="grace", password="correct horse 42")

        page = self.client.get(reverse("analyzer:upload"))
        self.assertContains(page, f'action="{reverse("logout")}"')
        response = self.client.post(reverse("logout"), follow=True)

        self.assertRedirects(response, reverse("analyzer:upload"))
        self.assertContains(response, "Sign in")


class RangeRequestTests(TempMediaMixin, TestCase):
    def setUp(self) -> None:
        super().setUp()
        self.data = tone_wav(1.0)
        self.analysis = make_analysis(session_key=_session_key(self.client), data=self.data)
        self.url = reverse("analyzer:audio", args=[self.analysis.pk])

    def test_it_serves_a_byte_range(self) -> None:
        response = self.client.get(self.url, headers={"range": "bytes=100-199"})

        self.assertEqual(response.status_code, 206)
        self.assertEqual(b"".join(response.streaming_content), self.data[100:200])
        self.assertEqual(response["Content-Range"], f"bytes 100-199/{len(self.data)}")
        self.assertEqual(response["Content-Length"], "100")

    def test_it_serves_an_open_ended_and_a_suffix_range(self) -> None:
        tail = self.client.get(self.url, headers={"range": "bytes=-10"})
        rest = self.client.get(self.url, headers={"range": f"bytes={len(self.data) - 5}-"})

        self.assertEqual(b"".join(tail.streaming_content), self.data[-10:])
        self.assertEqual(b"".join(rest.streaming_content), self.data[-5:])

    def test_it_refuses_a_range_past_the_end(self) -> None:
        response = self.client.get(self.url, headers={"range": f"bytes={len(self.data)}-"})

        self.assertEqual(response.status_code, 416)
        self.assertEqual(response["Content-Range"], f"bytes */{len(self.data)}")
