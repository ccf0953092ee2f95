"""Clients that send an API key, for the API's tests."""

from __future__ import annotations

from io import StringIO
from typing import Any

from django.core.management import call_command
from django.test import Client


def new_key(username: str, name: str = "") -> str:
    """A key made the way a script gets one: ``manage.py apikey create USERNAME``."""
    out = StringIO()
    call_command("apikey", "create", username, *(["--name", name] if name else []), stdout=out)
    return out.getvalue().strip()


def bearer(key: str) -> dict[str, Any]:
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


class KeyClient(Client):
    """A test client that sends ``Authorization: Bearer <key>`` with every request."""

    def __init__(self, key: str, **defaults: Any) -> None:
        super().__init__(**bearer(key), **defaults)
