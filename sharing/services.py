"""Writes of share links: create (the token is returned once) and revoke."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from analyzer.models import Analysis
from sharing.models import ShareLink

# What the owner may choose; a week unless they say otherwise.
EXPIRY_DAYS = (1, 7, 30)
DEFAULT_EXPIRY_DAYS = 7


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class NewShareLink:
    link: ShareLink
    token: str  # The only time the token exists outside the link itself.


def sharelink_create(*, analysis: Analysis, days: int = DEFAULT_EXPIRY_DAYS) -> NewShareLink:
    """A new link to ``analysis`` that works for ``days`` days (one of :data:`EXPIRY_DAYS`)."""
    if days not in EXPIRY_DAYS:
        raise ValueError(f"A share link lasts one of {EXPIRY_DAYS} days, not {days}.")
    # 32 random bytes: nothing to guess, so a plain SHA-256 of it is enough to store.
    token = secrets.token_urlsafe(32)
    link = ShareLink.objects.create(
        analysis=analysis,
        token_hash=token_hash(token),
        expires_at=timezone.now() + timedelta(days=days),
    )
    return NewShareLink(link=link, token=token)


def sharelink_revoke(*, link: ShareLink) -> ShareLink:
    """Stop the link from working (at once; a revoked link stays listed in the admin)."""
    if link.revoked_at is None:
        link.revoked_at = timezone.now()
        link.save(update_fields=["revoked_at"])
    return link
