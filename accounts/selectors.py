"""Reads for accounts: whether attempts of a kind are refused for now."""

from __future__ import annotations

import math
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from accounts.limits import Block
from accounts.models import Attempt


def attempt_block(*, kind: Attempt.Kind, address: str, name: str = "") -> Block | None:
    """A ``Block`` when this address, or this name, has used up its attempts in the window.

    The block lasts until the attempt that reached the limit leaves the window.
    """
    now = timezone.now()
    window = timedelta(seconds=settings.ACCOUNTS_ATTEMPT_WINDOW_SECONDS)
    recent = Attempt.objects.filter(kind=kind, created_at__gt=now - window)
    limits = [(recent.filter(address=address), settings.ACCOUNTS_ATTEMPTS_PER_ADDRESS)]
    if name:
        limits.append((recent.filter(name=name), settings.ACCOUNTS_ATTEMPTS_PER_NAME))
    lifted_at = None
    for attempts, limit in limits:
        newest_first = attempts.order_by("-created_at").values_list("created_at", flat=True)
        # The limit-th newest attempt: once it leaves the window, fewer than the limit remain.
        edge = next(iter(newest_first[limit - 1 : limit]), None)
        if edge is not None and (lifted_at is None or edge + window > lifted_at):
            lifted_at = edge + window
    if lifted_at is None:
        return None
    return Block(kind=kind, retry_after=max(1, math.ceil((lifted_at - now).total_seconds())))
