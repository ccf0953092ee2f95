from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def accounts(request: HttpRequest) -> dict[str, object]:
    """``allow_signup``: whether to offer the sign-up page (``ALLOW_SIGNUP``)."""
    return {"allow_signup": settings.ALLOW_SIGNUP}
