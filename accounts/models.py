from __future__ import annotations

from django.db import models
from django.utils import timezone


class Attempt(models.Model):
    """One sign-in that failed, one sign-up or one password-reset request.

    Counted per address and per name within a window (``accounts.selectors.attempt_block``)
    to refuse floods with a 429. In the database rather than a per-process cache, so that
    every gunicorn worker and machine counts the same attempts.
    """

    class Kind(models.TextChoices):
        SIGN_IN = "sign-in", "Failed sign-in"
        SIGN_UP = "sign-up", "Sign-up"
        PASSWORD_RESET = "password-reset", "Password reset"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    # An IPv4 address or an IPv6 /64 network (one household or one server's range).
    address = models.CharField(max_length=64)
    # The user name or e-mail address tried, lower-cased; blank when none was given.
    name = models.CharField(max_length=254, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("-created_at",)
        indexes = [
            models.Index(fields=["kind", "address", "created_at"], name="attempt_by_address"),
            models.Index(fields=["kind", "name", "created_at"], name="attempt_by_name"),
            models.Index(fields=["created_at"], name="attempt_created"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} from {self.address} at {self.created_at:%Y-%m-%d %H:%M}"
