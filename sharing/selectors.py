"""Reads of share links: by token (for anyone holding it) and by analysis (for its owner)."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone

from analyzer.models import Analysis
from sharing.models import ShareLink
from sharing.services import token_hash

# secrets.token_urlsafe(32) is 43 characters; anything much longer is not one of ours.
_MAX_TOKEN_LENGTH = 100


def sharelink_get_active(*, token: str) -> ShareLink | None:
    """The link with this token if it still works (not expired, not revoked, the analysis
    finished), with its analysis; else None."""
    if not token or len(token) > _MAX_TOKEN_LENGTH:
        return None
    return (
        ShareLink.objects.select_related("analysis")
        .filter(
            token_hash=token_hash(token),
            revoked_at__isnull=True,
            expires_at__gt=timezone.now(),
            analysis__status=Analysis.Status.DONE,
        )
        .first()
    )


def sharelink_list_active(*, analysis: Analysis) -> QuerySet[ShareLink]:
    """The analysis's links that still work, newest first."""
    return analysis.share_links.filter(revoked_at__isnull=True, expires_at__gt=timezone.now())


def sharelink_get(*, pk: int, analysis: Analysis) -> ShareLink | None:
    """The analysis's link with this id (the caller checked that the analysis is theirs)."""
    return analysis.share_links.filter(pk=pk).first()
