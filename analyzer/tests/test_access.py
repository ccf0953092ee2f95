"""Only the owner (user, or else browser session) can see, hear, delete or retry an analysis;
only staff get into the admin; every change needs the CSRF token."""

from __future__ import annotations

import re

from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.test import Client, TestCase
from django.urls import reverse

from analyzer.models import Analysis
from analyzer.ownership import ANONYMOUS_KEY_SESSION_FIELD
from analyzer.tests.factories import (
    TempMediaMixin,
    make_analysis,
    make_user,
    queued_jobs,
    speech_wav,
    tone_wav,
    upload,
)


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
            for name in ("result", "status", "audio", "delete")
        }
        self.retry_url = reverse("analyzer:retry", args=[self.analysis.pk])

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
        self.assertEqual(self.client.post(self.retry_url).status_code, 404)
        self.assertNotContains(self.client.get(reverse("analyzer:history")), "mine.wav")
        self.assertTrue(Analysis.objects.filter(pk=self.analysis.pk).exists())
        self.assertTrue((self.media_root / self.analysis.file.name).is_file())
        self.assertEqual(queued_jobs(), [])

    def test_it_answers_404_to_an_anonymous_visitor(self) -> None:
        _session_key(self.client)

        for url in self.urls.values():
            with self.subTest(url=url):
                self.assertEqual(self.client.get(url).status_code, 404)
        self.assertEqual(self.client.post(self.urls["delete"]).status_code, 404)
        self.assertEqual(self.client.post(self.retry_url).status_code, 404)
        self.assertNotContains(self.client.get(reverse("analyzer:history")), "mine.wav")
        self.assertTrue(Analysis.objects.filter(pk=self.analysis.pk).exists())

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

        for name in ("result", "status", "audio", "delete"):
            with self.subTest(view=name):
                url = reverse(f"analyzer:{name}", args=[self.analysis.pk])
                self.assertEqual(stranger.get(url).status_code, 404)
        for name in ("delete", "retry"):
            with self.subTest(post=name):
                url = reverse(f"analyzer:{name}", args=[self.analysis.pk])
                self.assertEqual(stranger.post(url).status_code, 404)
        self.assertNotContains(stranger.get(reverse("analyzer:history")), "anon.wav")
        self.assertTrue(Analysis.objects.filter(pk=self.analysis.pk).exists())

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


class AnonymousUploadTests(TempMediaMixin, TestCase):
    def test_it_shows_each_browser_only_its_own_uploads(self) -> None:
        speech = speech_wav()
        browsers = {"first.wav": Client(), "second.wav": Client()}
        pages = {}
        for name, browser in browsers.items():
            response = browser.post(reverse("analyzer:upload"), {"file": upload(speech, name)})
            self.assertEqual(response.status_code, 302)
            pages[name] = response["Location"]

        for name, browser in browsers.items():
            other = next(n for n in browsers if n != name)
            with self.subTest(browser=name):
                history = browser.get(reverse("analyzer:history"))
                self.assertContains(history, name)
                self.assertNotContains(history, other)
                self.assertContains(browser.get(pages[name]), name)
                self.assertEqual(browser.get(pages[other]).status_code, 404)
                self.assertEqual(browser.get(f"{pages[other]}audio/").status_code, 404)
        # A browser without a session sees nothing at all.
        self.assertNotContains(Client().get(reverse("analyzer:history")), ".wav")


class AdminAccessTests(TempMediaMixin, TestCase):
    """The admin shows every analysis, so only staff get in; the rest go to its login."""

    def setUp(self) -> None:
        super().setUp()
        self.analysis = make_analysis(
            owner=make_user("owner"), emotion=None, status=Analysis.Status.FAILED
        )
        pk = self.analysis.pk
        self.urls = [
            reverse("admin:index"),
            reverse("admin:analyzer_analysis_changelist"),
            reverse("admin:analyzer_analysis_change", args=[pk]),
            reverse("admin:analyzer_analysis_audio", args=[pk]),
            reverse("admin:analyzer_analysis_delete", args=[pk]),
        ]

    def assertSentToAdminLogin(self, response) -> None:
        self.assertEqual(response.status_code, 302)
        self.assertTrue(response["Location"].startswith(reverse("admin:login")))

    def test_it_sends_visitors_and_plain_users_to_the_admin_login(self) -> None:
        plain = Client()
        plain.force_login(make_user("plain"))
        for who, client in (("anonymous", Client()), ("plain user", plain)):
            for url in self.urls:
                with self.subTest(who=who, url=url):
                    self.assertSentToAdminLogin(client.get(url))
            with self.subTest(who=who, action="analyse again"):
                response = client.post(
                    reverse("admin:analyzer_analysis_changelist"),
                    {"action": "analyse_again", ACTION_CHECKBOX_NAME: [self.analysis.pk]},
                )
                self.assertSentToAdminLogin(response)
            with self.subTest(who=who, action="delete"):
                response = client.post(self.urls[-1], {"post": "yes"})
                self.assertSentToAdminLogin(response)

        self.analysis.refresh_from_db()
        self.assertEqual(self.analysis.status, Analysis.Status.FAILED)
        self.assertEqual(queued_jobs(), [])
        self.assertEqual(len(self.stored_files()), 1)

    def test_it_refuses_staff_without_permissions_on_analyses(self) -> None:
        staff = make_user("intern")
        staff.is_staff = True
        staff.save()
        self.client.force_login(staff)

        self.assertEqual(self.client.get(self.urls[1]).status_code, 403)
        self.assertEqual(self.client.get(self.urls[2]).status_code, 403)
        self.assertEqual(self.client.get(self.urls[3]).status_code, 404)


class CsrfTests(TempMediaMixin, TestCase):
    """Every form that changes something needs the CSRF token of the page it came from."""

    def setUp(self) -> None:
        super().setUp()
        self.client = Client(enforce_csrf_checks=True)
        self.owner = make_user("owner")
        self.client.force_login(self.owner)
        self.analysis = make_analysis(
            owner=self.owner, emotion=None, status=Analysis.Status.FAILED, data=speech_wav()
        )

    def token(self) -> str:
        page = self.client.get(reverse("analyzer:upload")).content.decode()
        return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1]

    def posts(self) -> dict[str, tuple[str, dict]]:
        return {
            "upload": (reverse("analyzer:upload"), {"file": upload(speech_wav(), "new.wav")}),
            "retry": (reverse("analyzer:retry", args=[self.analysis.pk]), {}),
            "delete": (reverse("analyzer:delete", args=[self.analysis.pk]), {}),
        }

    def test_it_refuses_posts_without_the_token(self) -> None:
        for name, (url, data) in self.posts().items():
            with self.subTest(post=name):
                self.assertEqual(self.client.post(url, data).status_code, 403)
                forged = {**data, "csrfmiddlewaretoken": "x" * 64}
                self.assertEqual(self.client.post(url, forged).status_code, 403)

        self.assertEqual(list(Analysis.objects.all()), [self.analysis])
        self.analysis.refresh_from_db()
        self.assertEqual(self.analysis.status, Analysis.Status.FAILED)
        self.assertEqual(queued_jobs(), [])

    def test_it_accepts_posts_with_the_token(self) -> None:
        for name, (url, data) in self.posts().items():
            with self.subTest(post=name):
                response = self.client.post(url, {**data, "csrfmiddlewaretoken": self.token()})
                self.assertEqual(response.status_code, 302)

        self.assertEqual(Analysis.objects.get().original_name, "new.wav")


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
