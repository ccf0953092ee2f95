"""Requests per API key (or per signed-in user, or per client address) per period.

DRF's throttles keep their history in a cache. The default cache is local to each
process, so every gunicorn worker would count on its own; this one counts in the
``api`` cache, a table in PostgreSQL (``settings.CACHES``) that every worker and machine
shares. Its read-then-write is not atomic: a burst may pass the limit by a request or
two, which is fine for a limit that protects the service rather than bills anyone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.core.cache import caches
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from accounts.limits import client_address
from api.models import ApiKey

if TYPE_CHECKING:
    from rest_framework.views import APIView


class ApiKeyRateThrottle(SimpleRateThrottle):
    scope = "api"

    def __init__(self) -> None:
        # Read when used, not when the class is defined, so that settings can change it.
        self.cache = caches["api"]
        super().__init__()

    def get_rate(self) -> str | None:
        return settings.API_THROTTLE_RATE

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        if isinstance(request.auth, ApiKey):
            ident = f"key-{request.auth.pk}"
        elif request.user is not None and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = f"address-{client_address(request._request)}"
        return f"throttle-{self.scope}-{ident}"
