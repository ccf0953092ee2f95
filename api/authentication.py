"""``Authorization: Bearer <key>`` for the API (keys from ``api.services.apikey_create``)."""

from __future__ import annotations

from typing import Any

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from api import selectors, services

INVALID_KEY = "The API key is unknown or has been revoked."


class BearerKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None  # Not ours: the session may still authenticate the request.
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                "Send the key as 'Authorization: Bearer <key>', with no spaces in the key."
            )
        try:
            key = header[1].decode()
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(INVALID_KEY) from None
        api_key = selectors.apikey_for_key(key=key)
        if api_key is None:
            raise exceptions.AuthenticationFailed(INVALID_KEY)
        services.apikey_touch(api_key=api_key)
        return api_key.owner, api_key

    def authenticate_header(self, request: Request) -> str:
        # Makes an unauthenticated request a 401 (not a 403), saying what to send.
        return f'{self.keyword} realm="api"'
