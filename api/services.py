"""Writes of API keys: create (the key is returned once), rename, revoke, note a use."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from django.db.models import Q
from django.utils import timezone

from api.models import ApiKey

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

KEY_PREFIX = "se_"
# The part of the key shown in lists: "se_" and 8 random characters.
_SHOWN_LENGTH = len(KEY_PREFIX) + 8
DEFAULT_NAME = "API key"
# A key's last use is written at most this often (one tiny UPDATE, not one per request).
_LAST_USED_RESOLUTION = timedelta(minutes=1)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class NewKey:
    api_key: ApiKey
    key: str  # The only time the whole key exists outside the client.


def apikey_create(*, owner: AbstractBaseUser, name: str = "") -> NewKey:
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey.objects.create(
        owner=owner,
        name=name.strip()[:100] or DEFAULT_NAME,
        prefix=key[:_SHOWN_LENGTH],
        key_hash=key_hash(key),
    )
    return NewKey(api_key=api_key, key=key)


def apikey_rename(*, api_key: ApiKey, name: str) -> ApiKey:
    api_key.name = name.strip()[:100] or DEFAULT_NAME
    api_key.save(update_fields=["name"])
    return api_key


def apikey_revoke(*, api_key: ApiKey) -> ApiKey:
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
    return api_key


def apikey_touch(*, api_key: ApiKey) -> None:
    """Note that the key was used now (at most once a minute)."""
    now = timezone.now()
    ApiKey.objects.filter(pk=api_key.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - _LAST_USED_RESOLUTION)
    ).update(last_used_at=now)
