"""Writes for accounts: new users, and the attempts counted against floods."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from accounts.models import Attempt

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser


def user_create(*, username: str, email: str, password: str) -> AbstractBaseUser:
    """A new, active, non-staff user with this (already validated) password.

    Raises ``IntegrityError`` when the name was taken since the form checked it.
    """
    with transaction.atomic():
        return get_user_model().objects.create_user(
            username=username, email=email, password=password
        )


def attempt_record(*, kind: Attempt.Kind, address: str, name: str = "") -> Attempt:
    now = timezone.now()
    # Attempts out of the window count for nothing: dropping them here keeps the table small.
    window = timedelta(seconds=settings.ACCOUNTS_ATTEMPT_WINDOW_SECONDS)
    Attempt.objects.filter(created_at__lte=now - window).delete()
    return Attempt.objects.create(kind=kind, address=address, name=name, created_at=now)


def attempt_forgive(*, kind: Attempt.Kind, address: str, name: str) -> int:
    """Forget this address's attempts on this name (its user signed in after a typo)."""
    deleted, _ = Attempt.objects.filter(kind=kind, address=address, name=name).delete()
    return deleted
