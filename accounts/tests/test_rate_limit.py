"""Floods of sign-in, sign-up and password-reset attempts get a 429 that says why.

The limits are counted in the database, so every web process sees the same attempts."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.core import mail
from django.test import Client, RequestFactory, SimpleTestCase, TestCase, override_settings
from django.urls import reverse
from django.utils import timezone

from accounts.limits import client_address
from accounts.models import Attempt
from analyzer.tests.factories import make_user

PASSWORD = "correct horse 42"
TOO_MANY_SIGN_INS = "Too many failed sign-in attempts. Please try again in 15 minutes"


def _minutes_ago(minutes: int) -> datetime:
    return timezone.now() - timedelta(minutes=minutes)


def _sign_in(client: Client, username: str, password: str = "wrong", **extra: str):
    return client.post(reverse("login"), {"username": username, "password": password}, **extra)


@override_settings(
    ACCOUNTS_ATTEMPTS_PER_NAME=3,
    ACCOUNTS_ATTEMPTS_PER_ADDRESS=5,
    ACCOUNTS_ATTEMPT_WINDOW_SECONDS=900,
)
class SignInLimitTests(TestCase):
    def setUp(self) -> None:
        self.user = make_user("ada", password=PASSWORD)

    def test_it_answers_429_after_failed_sign_ins_even_to_the_right_password(self) -> None:
        for _ in range(3):
            self.assertContains(
                _sign_in(self.client, "ada"), "Please enter a correct username and password."
            )

        response = _sign_in(self.client, "ada", PASSWORD)

        self.assertContains(response, TOO_MANY_SIGN_INS, status_code=429)
        self.assertContains(response, 'role="alert"', status_code=429)
        # Until the third failure is 15 minutes old (the requests take a moment).
        self.assertIn(int(response["Retry-After"]), range(880, 901))
        self.assertNotIn("_auth_user_id", self.client.session)
        # Other people still sign in.
        make_user("bob", password=PASSWORD)
        other = Client(REMOTE_ADDR="192.0.2.9")
        self.assertEqual(_sign_in(other, "bob", PASSWORD).status_code, 302)

    def test_it_limits_a_name_tried_from_many_addresses(self) -> None:
        for number in range(3):
            _sign_in(Client(REMOTE_ADDR=f"198.51.100.{number}"), "ADA ")

        response = _sign_in(Client(REMOTE_ADDR="198.51.100.99"), "ada", PASSWORD)

        self.assertContains(response, TOO_MANY_SIGN_INS, status_code=429)

    def test_it_limits_an_address_trying_many_names(self) -> None:
        for number in range(5):
            _sign_in(self.client, f"guess{number}")

        response = _sign_in(self.client, "ada", PASSWORD)

        self.assertContains(response, TOO_MANY_SIGN_INS, status_code=429)

    def test_it_lets_the_attempts_expire(self) -> None:
        for _ in range(3):
            _sign_in(self.client, "ada")
        self.assertEqual(_sign_in(self.client, "ada", PASSWORD).status_code, 429)
        # Ten minutes on, the block has five minutes to go; at sixteen it is gone.
        Attempt.objects.update(created_at=_minutes_ago(10))
        self.assertContains(
            _sign_in(self.client, "ada", PASSWORD),
            "Please try again in 5 minutes",
            status_code=429,
        )
        Attempt.objects.update(created_at=_minutes_ago(16))

        self.assertEqual(_sign_in(self.client, "ada", PASSWORD).status_code, 302)

    def test_it_forgives_a_typo_once_the_user_is_in(self) -> None:
        _sign_in(self.client, "ada")
        _sign_in(self.client, "ada")
        self.assertEqual(_sign_in(self.client, "ada", PASSWORD).status_code, 302)
        self.client.logout()

        self.assertFalse(Attempt.objects.filter(name="ada").exists())
        self.assertEqual(_sign_in(self.client, "ada").status_code, 200)

    def test_it_counts_the_admins_sign_in_too(self) -> None:
        admin_login = reverse("admin:login")
        for _ in range(3):
            self.client.post(admin_login, {"username": "ada", "password": "wrong"})

        response = self.client.post(admin_login, {"username": "ada", "password": PASSWORD})

        self.assertContains(response, TOO_MANY_SIGN_INS, status_code=429)
        self.assertEqual(_sign_in(self.client, "ada", PASSWORD).status_code, 429)


@override_settings(ACCOUNTS_ATTEMPTS_PER_NAME=3, ACCOUNTS_ATTEMPTS_PER_ADDRESS=4)
class SignUpAndResetLimitTests(TestCase):
    def test_it_limits_sign_ups_from_one_address(self) -> None:
        for number in range(4):
            self.client.post(reverse("signup"), {"username": f"bot{number}"})

        response = self.client.post(
            reverse("signup"),
            {
                "username": "grace",
                "email": "grace@example.org",
                "password1": PASSWORD,
                "password2": PASSWORD,
            },
        )

        self.assertContains(
            response, "Too many sign-ups from your network. Please try again in", status_code=429
        )
        self.assertFalse(Attempt.objects.filter(name="grace").exists())
        self.assertEqual(Client(REMOTE_ADDR="192.0.2.1").get(reverse("signup")).status_code, 200)

    def test_it_limits_password_reset_emails_to_one_address(self) -> None:
        make_user("ada")
        for _ in range(3):
            self.client.post(reverse("password_reset"), {"email": "ada@example.com"})

        response = self.client.post(reverse("password_reset"), {"email": "Ada@Example.com"})

        self.assertContains(
            response, "Too many password-reset requests. Please try again in", status_code=429
        )
        self.assertEqual(len(mail.outbox), 3)


class ClientAddressTests(SimpleTestCase):
    def _address(self, remote: str, forwarded: str | None = None) -> str:
        headers = {"X-Forwarded-For": forwarded} if forwarded else {}
        request = RequestFactory().get("/", REMOTE_ADDR=remote, headers=headers)
        return client_address(request)

    def test_it_counts_an_ipv6_network_as_one_client(self) -> None:
        self.assertEqual(self._address("2001:db8:1:2::7"), "2001:db8:1:2::/64")
        self.assertEqual(self._address("2001:db8:1:2:ffff::1"), "2001:db8:1:2::/64")
        self.assertEqual(self._address("::ffff:192.0.2.4"), "192.0.2.4")
        self.assertEqual(self._address("192.0.2.4"), "192.0.2.4")

    def test_it_ignores_forwarded_for_unless_behind_the_proxy(self) -> None:
        self.assertEqual(self._address("10.0.0.2", "203.0.113.5"), "10.0.0.2")
        with override_settings(ACCOUNTS_TRUST_X_FORWARDED_FOR=True):
            # The proxy appends the address it saw; what the client sent before it is not
            # to be trusted.
            self.assertEqual(self._address("10.0.0.2", "1.2.3.4, 203.0.113.5"), "203.0.113.5")
            self.assertEqual(self._address("10.0.0.2"), "10.0.0.2")
