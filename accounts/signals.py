"""Count failed sign-ins (the site's form and the admin's alike); forgive them on success."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver
from django.http import HttpRequest

from accounts import services
from accounts.limits import attempt_name, client_address
from accounts.models import Attempt


@receiver(user_login_failed, dispatch_uid="accounts.record_failed_sign_in")
def _record_failed_sign_in(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    if request is None:  # authenticate() called outside a request: nobody to limit
        return
    services.attempt_record(
        kind=Attempt.Kind.SIGN_IN,
        address=client_address(request),
        name=attempt_name(credentials.get("username")),
    )


@receiver(user_logged_in, dispatch_uid="accounts.forgive_failed_sign_ins")
def _forgive_failed_sign_ins(
    sender: type, request: HttpRequest | None, user: Any, **kwargs: Any
) -> None:
    if request is None:
        return
    services.attempt_forgive(
        kind=Attempt.Kind.SIGN_IN,
        address=client_address(request),
        name=attempt_name(user.get_username()),
    )
