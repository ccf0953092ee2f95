from __future__ import annotations

from django.conf import settings
from django.db import models


class ApiKey(models.Model):
    """A user's key for the API. Only the SHA-256 of the key is kept, and its first
    characters (``prefix``) so that the owner can tell their keys apart."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16)
    # SHA-256 of the whole key, hex. The key is 256 random bits, so no salt or slow hash
    # is needed: nothing short enough to guess hides behind it.
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None
