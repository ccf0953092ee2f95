"""`make run`'s optional admin account: made from DJANGO_SUPERUSER_*, and a value that
cannot be used is reported by its variable's name without stopping anything."""

from __future__ import annotations

import io

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import TestCase, override_settings

from analyzer.tests.factories import make_user

_VARIABLES = ("DJANGO_SUPERUSER_USERNAME", "DJANGO_SUPERUSER_PASSWORD", "DJANGO_SUPERUSER_EMAIL")


def _ensure(**env: str) -> tuple[str, str]:
    """Run the command with exactly these DJANGO_SUPERUSER_* values, as settings.py reads
    them from the environment; (stdout, stderr)."""
    values = {name: "" for name in _VARIABLES}
    values |= {f"DJANGO_SUPERUSER_{name.upper()}": value for name, value in env.items()}
    out, err = io.StringIO(), io.StringIO()
    with override_settings(**values):
        call_command("ensure_superuser", stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


class EnsureSuperuserTests(TestCase):
    def test_it_creates_the_admin_account(self) -> None:
        out, err = _ensure(username="root", password="a long passphrase 7", email="ops@example.org")

        self.assertIn("Created the admin account 'root'.", out)
        self.assertEqual(err, "")
        user = get_user_model().objects.get(username="root")
        self.assertTrue(user.is_superuser and user.is_staff)
        self.assertEqual(user.email, "ops@example.org")
        self.assertTrue(user.check_password("a long passphrase 7"))

    def test_it_names_the_variable_it_cannot_use_and_goes_on(self) -> None:
        out, err = _ensure(username="root", password="a long passphrase 7", email="a@b.c")

        self.assertIn("The admin account was not created:", err)
        self.assertIn("DJANGO_SUPERUSER_EMAIL='a@b.c': Enter a valid email address.", err)
        self.assertFalse(get_user_model().objects.exists())

    def test_it_names_a_bad_user_name(self) -> None:
        _, err = _ensure(username="no spaces allowed", password="a long passphrase 7")

        self.assertIn("DJANGO_SUPERUSER_USERNAME='no spaces allowed': Enter a valid username.", err)
        self.assertFalse(get_user_model().objects.exists())

    def test_it_says_which_variable_is_missing(self) -> None:
        _, err = _ensure(username="root")

        self.assertIn("DJANGO_SUPERUSER_PASSWORD is not set.", err)
        self.assertFalse(get_user_model().objects.exists())

    def test_it_leaves_an_existing_account_alone(self) -> None:
        make_user("root", password="first passphrase 1")

        out, err = _ensure(username="root", password="second passphrase 2")

        self.assertIn("The admin account 'root' already exists.", out)
        self.assertEqual(err, "")
        self.assertTrue(get_user_model().objects.get().check_password("first passphrase 1"))

    def test_it_warns_about_a_weak_password_but_creates_the_account(self) -> None:
        _, err = _ensure(username="root", password="admin")

        self.assertIn("DJANGO_SUPERUSER_PASSWORD is weak", err)
        self.assertTrue(get_user_model().objects.filter(username="root").exists())

    def test_it_does_nothing_without_the_variables(self) -> None:
        self.assertEqual(_ensure(), ("", ""))
        self.assertFalse(get_user_model().objects.exists())
