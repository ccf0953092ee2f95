"""The header's account links, and signing out (a POST)."""

from __future__ import annotations

from django.test import TestCase
from django.urls import reverse

from analyzer.tests.factories import TempMediaMixin, make_analysis, make_user


class SignInOutTests(TempMediaMixin, TestCase):
    def test_it_links_sign_in_and_sign_up_for_visitors(self) -> None:
        page = self.client.get(reverse("analyzer:upload"))

        self.assertContains(page, f'<a href="{reverse("login")}">Sign in</a>', html=True)
        self.assertContains(page, f'<a href="{reverse("signup")}">Sign up</a>', html=True)
        self.assertNotContains(page, "Sign out")
        self.assertNotContains(page, "Change password")

    def test_it_links_the_account_pages_when_signed_in(self) -> None:
        self.client.force_login(make_user("ada"))

        page = self.client.get(reverse("analyzer:upload"))

        self.assertContains(page, "ada")
        self.assertContains(
            page, f'<a href="{reverse("password_change")}">Change password</a>', html=True
        )
        self.assertContains(page, '<button class="linkish" type="submit">Sign out</button>')
        self.assertNotContains(page, ">Sign in<")
        self.assertNotContains(page, ">Sign up<")

    def test_it_signs_in_from_the_form_and_links_a_forgotten_password(self) -> None:
        make_user("ada", password="correct horse 42")
        page = self.client.get(reverse("login"))
        self.assertContains(page, f'href="{reverse("password_reset")}"')

        response = self.client.post(
            reverse("login"), {"username": "ada", "password": "correct horse 42"}, follow=True
        )

        self.assertRedirects(response, reverse("analyzer:history"))
        self.assertContains(response, "Sign out")

    def test_it_signs_out_with_a_post_and_says_so(self) -> None:
        user = make_user("ada")
        make_analysis(owner=user, original_name="private.wav")
        self.client.force_login(user)
        self.assertContains(self.client.get(reverse("analyzer:history")), "private.wav")

        # A link or a prefetch (GET) cannot sign anyone out.
        self.assertEqual(self.client.get(reverse("logout")).status_code, 405)
        response = self.client.post(reverse("logout"), follow=True)

        self.assertRedirects(response, reverse("analyzer:upload"))
        self.assertContains(response, "You are signed out.")
        self.assertContains(response, "Sign in")
        self.assertNotContains(self.client.get(reverse("analyzer:history")), "private.wav")
