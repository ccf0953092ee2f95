"""Reads of API keys."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import QuerySet

from api.models import ApiKey
from api.services import key_hash

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser


def apikey_list(*, owner: AbstractBaseUser) -> QuerySet[ApiKey]:
    """The owner's keys, revoked ones too, newest first."""
    return ApiKey.objects.filter(owner=owner).order_by("-created_at")


def apikey_get(*, pk: int, owner: AbstractBaseUser) -> ApiKey | None:
    return ApiKey.objects.filter(owner=owner, pk=pk).first()


def apikey_for_key(*, key: str) -> ApiKey | None:
    """The live (not revoked) key, with its owner, or None when unknown or revoked."""
    return (
        ApiKey.objects.select_related("owner")
        .filter(key_hash=key_hash(key), revoked_at__isnull=True, owner__is_active=True)
        .first()
    )
