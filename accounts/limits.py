"""Who is attempting: the client's address and the name tried, as attempts are counted.

Sign-in failures, sign-ups and password-reset requests are each limited per address and
per name (``settings.ACCOUNTS_ATTEMPTS_PER_ADDRESS`` and ``_PER_NAME`` within
``ACCOUNTS_ATTEMPT_WINDOW_SECONDS``); see ``accounts.selectors.attempt_block``.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest

from accounts.models import Attempt

_ADDRESS_MAX_LENGTH = Attempt._meta.get_field("address").max_length
_NAME_MAX_LENGTH = Attempt._meta.get_field("name").max_length

_REFUSALS = {
    Attempt.Kind.SIGN_IN: (
        "Too many failed sign-in attempts. Please try again in {wait}, or reset your password."
    ),
    Attempt.Kind.SIGN_UP: "Too many sign-ups from your network. Please try again in {wait}.",
    Attempt.Kind.PASSWORD_RESET: "Too many password-reset requests. Please try again in {wait}.",
}


@dataclass(frozen=True)
class Block:
    """Attempts of this kind are refused for ``retry_after`` more seconds."""

    kind: Attempt.Kind
    retry_after: int

    @property
    def message(self) -> str:
        minutes = math.ceil(self.retry_after / 60)
        wait = "a minute" if minutes <= 1 else f"{minutes} minutes"
        return _REFUSALS[self.kind].format(wait=wait)


def client_address(request: HttpRequest) -> str:
    """The client's IP address, or its IPv6 /64 network (one subscriber's usual share).

    Behind a TLS proxy (``BEHIND_TLS_PROXY=1``) the address the proxy appended to
    X-Forwarded-For: REMOTE_ADDR is the proxy's own.
    """
    raw = request.META.get("REMOTE_ADDR", "")
    if settings.ACCOUNTS_TRUST_X_FORWARDED_FOR:
        hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        hops = [hop for hop in hops if hop]
        if hops:
            raw = hops[-1]
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return raw[:_ADDRESS_MAX_LENGTH] or "unknown"
    if address.version == 6:
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def attempt_name(value: object) -> str:
    """A user name or e-mail address as counted: trimmed and lower-cased."""
    return str(value or "").strip().lower()[:_NAME_MAX_LENGTH]
