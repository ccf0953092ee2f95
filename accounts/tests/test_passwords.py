"""Changing a password, and resetting a forgotten one by e-mail."""

from __future__ import annotations

import re

from django.contrib.auth import get_user_model
from django.core import mail
from django.test import TestCase
from django.urls import reverse

from analyzer.tests.factories import make_user

OLD = "old passphrase 41"
NEW = "new passphrase 42"
LINK = re.compile(r"http://testserver(/accounts/reset/[^/\s]+/[^/\s]+/)")


class PasswordChangeTests(TestCase):
    def setUp(self) -> None:
        self.user = make_user("ada", password=OLD)
        self.client.force_login(self.user)

    def test_it_changes_the_password_and_keeps_the_user_signed_in(self) -> None:
        page = self.client.get(reverse("password_change"))
        self.assertContains(page, "<h1>Change your password</h1>", html=True)

        response = self.client.post(
            reverse("password_change"),
            {"old_password": OLD, "new_password1": NEW, "new_password2": NEW},
            follow=True,
        )

        self.assertRedirects(response, reverse("password_change_done"))
        self.assertContains(response, "Your password has been changed.")
        self.assertContains(self.client.get(reverse("analyzer:history")), "Sign out")
        self.user.refresh_from_db()
        self.assertTrue(self.user.check_password(NEW))
        self.assertFalse(self.user.check_password(OLD))

    def test_it_refuses_a_wrong_old_password(self) -> None:
        response = self.client.post(
            reverse("password_change"),
            {"old_password": "not it", "new_password1": NEW, "new_password2": NEW},
        )

        self.assertContains(response, "Your old password was entered incorrectly.")
        self.user.refresh_from_db()
        self.assertTrue(self.user.check_password(OLD))

    def test_it_asks_visitors_to_sign_in_first(self) -> None:
        self.client.logout()
        url = reverse("password_change")
        self.assertRedirects(
            self.client.get(url), f"{reverse('login')}?next={url}", fetch_redirect_response=False
        )


class PasswordResetTests(TestCase):
    def setUp(self) -> None:
        self.user = make_user("ada", password=OLD)

    def _request_link(self, email: str = "ada@example.com") -> str:
        response = self.client.post(reverse("password_reset"), {"email": email}, follow=True)
        self.assertRedirects(response, reverse("password_reset_done"))
        self.assertContains(response, "a link to choose a new password is on its way")
        self.assertEqual(len(mail.outbox), 1)
        return LINK.search(mail.outbox[0].body).group(1)

    def test_it_emails_a_link_that_sets_a_new_password(self) -> None:
        self.assertContains(self.client.get(reverse("password_reset")), "Send the link")

        link = self._request_link()

        message = mail.outbox[0]
        self.assertEqual(message.to, ["ada@example.com"])
        self.assertEqual(message.subject, "Reset your speechemotion password")
        self.assertIn('account "ada"', message.body)
        form = self.client.get(link, follow=True)
        self.assertContains(form, "<h1>Choose a new password</h1>", html=True)
        done = self.client.post(
            form.redirect_chain[-1][0], {"new_password1": NEW, "new_password2": NEW}, follow=True
        )
        self.assertRedirects(done, reverse("password_reset_complete"))
        self.assertContains(done, "Your new password is set.")

        signed_in = self.client.post(
            reverse("login"), {"username": "ada", "password": NEW}, follow=True
        )
        self.assertRedirects(signed_in, reverse("analyzer:history"))
        self.client.logout()
        refused = self.client.post(reverse("login"), {"username": "ada", "password": OLD})
        self.assertContains(refused, "Please enter a correct username and password.")

    def test_it_works_once(self) -> None:
        link = self._request_link()
        form = self.client.get(link, follow=True)
        self.client.post(form.redirect_chain[-1][0], {"new_password1": NEW, "new_password2": NEW})

        again = self.client.get(link, follow=True)

        self.assertContains(again, "This link is not valid")
        self.assertNotContains(again, "new_password1")

    def test_it_answers_the_same_for_an_unknown_address(self) -> None:
        response = self.client.post(
            reverse("password_reset"), {"email": "nobody@example.com"}, follow=True
        )

        # The page does not tell whether the address has an account.
        self.assertRedirects(response, reverse("password_reset_done"))
        self.assertEqual(mail.outbox, [])
        self.assertTrue(get_user_model().objects.get(username="ada").check_password(OLD))
