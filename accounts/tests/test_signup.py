"""Sign-up: on by default, it creates the account, signs it in and hands over the browser's
analyses; ALLOW_SIGNUP=0 takes the page and its links away."""

from __future__ import annotations

from unittest import mock

from django.contrib.auth import get_user_model
from django.db import IntegrityError
from django.test import TestCase, override_settings
from django.urls import reverse

from analyzer.ownership import ANONYMOUS_KEY_SESSION_FIELD
from analyzer.tests.factories import TempMediaMixin, make_analysis, make_user

SIGNUP = reverse("signup")
PASSWORD = "a long passphrase 7"


def _form(username: str = "grace", **fields: str) -> dict[str, str]:
    return {
        "username": username,
        "email": f"{username}@example.org",
        "password1": PASSWORD,
        "password2": PASSWORD,
        **fields,
    }


class SignUpTests(TempMediaMixin, TestCase):
    def test_it_creates_the_account_signs_in_and_keeps_the_browsers_analyses(self) -> None:
        key = self.client.session.session_key
        anonymous = make_analysis(session_key=key, original_name="before.wav")
        session = self.client.session
        session[ANONYMOUS_KEY_SESSION_FIELD] = key
        session.save()
        page = self.client.get(SIGNUP)
        self.assertContains(page, "<h1>Create an account</h1>", html=True)

        response = self.client.post(SIGNUP, _form(), follow=True)

        self.assertRedirects(response, reverse("analyzer:history"))
        self.assertContains(response, "Welcome, grace! Your account is ready.")
        self.assertContains(response, "before.wav")
        self.assertContains(response, "Sign out")
        user = get_user_model().objects.get(username="grace")
        self.assertEqual(user.email, "grace@example.org")
        self.assertTrue(user.check_password(PASSWORD))
        self.assertFalse(user.is_staff)
        anonymous.refresh_from_db()
        self.assertEqual(anonymous.owner, user)
        # The analyses are the account's now, in any browser.
        self.client.logout()
        self.assertTrue(self.client.login(username="grace", password=PASSWORD))
        self.assertContains(self.client.get(reverse("analyzer:history")), "before.wav")

    def test_it_says_what_is_wrong_and_creates_nothing(self) -> None:
        make_user("taken")
        cases = {
            "taken": (_form("taken"), "A user with that username already exists."),
            "mismatch": (_form(password2="something else 8"), "fields didn’t match"),
            "common": (
                _form(password1="password123", password2="password123"),
                "This password is too common.",
            ),
            "email": (_form(email="not an address"), "Enter a valid email address."),
        }
        for case, (data, message) in cases.items():
            with self.subTest(case=case):
                response = self.client.post(SIGNUP, data)
                self.assertContains(response, message, status_code=400)
        self.assertEqual(get_user_model().objects.count(), 1)
        self.assertNotIn("_auth_user_id", self.client.session)

    def test_it_says_so_when_the_name_was_taken_a_moment_ago(self) -> None:
        with mock.patch("accounts.services.user_create", side_effect=IntegrityError):
            response = self.client.post(SIGNUP, _form())

        self.assertContains(response, "A user with that username already exists.", status_code=400)
        self.assertNotIn("_auth_user_id", self.client.session)

    def test_it_returns_to_the_page_that_asked_and_only_to_this_site(self) -> None:
        model_card = reverse("analyzer:model_card")
        response = self.client.post(f"{SIGNUP}?next={model_card}", _form("ada", next=model_card))
        self.assertRedirects(response, model_card, fetch_redirect_response=False)

        self.client.logout()
        response = self.client.post(SIGNUP, _form("bob", next="https://evil.example/"))
        self.assertRedirects(response, reverse("analyzer:history"))

    def test_it_is_offered_to_visitors_only(self) -> None:
        for url in (reverse("analyzer:upload"), reverse("login"), reverse("analyzer:history")):
            with self.subTest(url=url):
                self.assertContains(self.client.get(url), f'href="{SIGNUP}')

        self.client.force_login(make_user("ada"))
        self.assertNotContains(self.client.get(reverse("analyzer:upload")), f'href="{SIGNUP}')


@override_settings(ALLOW_SIGNUP=False)
class ClosedSignUpTests(TestCase):
    def test_it_answers_404(self) -> None:
        self.assertEqual(self.client.get(SIGNUP).status_code, 404)
        self.assertEqual(self.client.post(SIGNUP, _form()).status_code, 404)
        self.assertFalse(get_user_model().objects.exists())

    def test_it_hides_the_links(self) -> None:
        for url in (reverse("analyzer:upload"), reverse("login"), reverse("analyzer:history")):
            with self.subTest(url=url):
                page = self.client.get(url)
                self.assertContains(page, "Sign in")
                self.assertNotContains(page, SIGNUP)
                self.assertNotContains(page, "Sign up")
