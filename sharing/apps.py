from __future__ import annotations

from django.apps import AppConfig


class SharingConfig(AppConfig):
    """Read-only share links to one analysis: opt-in, expiring, revocable."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "sharing"
