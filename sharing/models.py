from __future__ import annotations

from django.db import models
from django.utils import timezone

from analyzer.models import Analysis


class ShareLink(models.Model):
    """A link that shows one analysis to whoever holds it, until it expires or is revoked.

    Only the SHA-256 of the link's token is kept: the token is 256 random bits, shown
    once to the owner, so the table alone opens no analysis.
    """

    analysis = models.ForeignKey(Analysis, on_delete=models.CASCADE, related_name="share_links")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"Share link to {self.analysis.original_name} ({self.state})"

    @property
    def state(self) -> str:
        """One of "active", "expired" or "revoked"."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "active"
