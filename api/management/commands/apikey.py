"""``manage.py apikey create USERNAME [--name NAME]``: print a new key for scripts and tests."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from api import services


class Command(BaseCommand):
    help = "Create an API key for a user and print it (alone, on standard output)."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="Create a key and print it.")
        create.add_argument("username")
        create.add_argument("--name", default="", help="What the key is for (shown on its page).")

    def handle(self, *args: Any, **options: Any) -> None:
        model = get_user_model()
        try:
            user = model.objects.get(**{model.USERNAME_FIELD: options["username"]})
        except model.DoesNotExist:
            raise CommandError(f"There is no user {options['username']!r}.") from None
        new = services.apikey_create(owner=user, name=options["name"])
        self.stdout.write(new.key)
