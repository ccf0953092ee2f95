"""``python manage.py ensure_superuser``: the optional admin account named in the environment.

``make run`` calls it after migrating. When DJANGO_SUPERUSER_USERNAME and
DJANGO_SUPERUSER_PASSWORD are set and no such user exists, it creates a superuser with them
(and DJANGO_SUPERUSER_EMAIL, optional). A value it cannot use is reported with the name of
its variable and the account is skipped, never the start of the site: the exit status is 0.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand

USERNAME = "DJANGO_SUPERUSER_USERNAME"
PASSWORD = "DJANGO_SUPERUSER_PASSWORD"
EMAIL = "DJANGO_SUPERUSER_EMAIL"


class Command(BaseCommand):
    help = (
        f"Create the admin account from {USERNAME}, {PASSWORD} and {EMAIL} if it does not "
        "exist; report a value that cannot be used (by its variable) and go on."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        # Read from the environment by settings.py, under the variables' own names.
        username, password, email = (getattr(settings, n) for n in (USERNAME, PASSWORD, EMAIL))
        if not username and not password:
            return  # no admin account wanted
        if not username or not password:
            self._skip(f"{PASSWORD if username else USERNAME} is not set.")
            return
        user_model = get_user_model()
        manager = user_model._default_manager
        if manager.filter(**{user_model.USERNAME_FIELD: username}).exists():
            self.stdout.write(f"The admin account {username!r} already exists.")
            return
        problems = []
        checks = [(USERNAME, user_model.USERNAME_FIELD, username)]
        if email:
            checks.append((EMAIL, user_model.get_email_field_name(), email))
        for variable, field_name, value in checks:
            try:
                user_model._meta.get_field(field_name).clean(value, None)
            except ValidationError as err:
                problems.append(f"{variable}={value!r}: {' '.join(err.messages)}")
        if problems:
            self._skip(*problems)
            return

        user = manager.create_superuser(username, email, password)
        self.stdout.write(self.style.SUCCESS(f"Created the admin account {username!r}."))
        try:
            validate_password(password, user)
        except ValidationError as err:
            self.stderr.write(
                self.style.WARNING(
                    f"{PASSWORD} is weak ({' '.join(err.messages)}); fine on your own "
                    "machine, change it anywhere else."
                )
            )

    def _skip(self, *problems: str) -> None:
        lines = [
            "The admin account was not created:",
            *(f"  {problem}" for problem in problems),
            f"Fix or unset {USERNAME}, {PASSWORD} and {EMAIL}; the site runs without it.",
        ]
        self.stderr.write(self.style.WARNING("\n".join(lines)))
