"""Who owns what: a signed-in user, or else the browser session."""

from __future__ import annotations

from django.http import HttpRequest

# Kept in the session data, which (unlike the session key) survives signing in, so the
# analyses made just before signing in can be handed to the user (see analyzer.signals).
ANONYMOUS_KEY_SESSION_FIELD = "analyzer_anonymous_session_key"


def session_key(request: HttpRequest, *, create: bool = False) -> str:
    """The browser session's key; with ``create`` a session is started if there is none."""
    if create and not request.session.session_key:
        request.session.save()
    return request.session.session_key or ""


def remember_anonymous_key(request: HttpRequest, key: str) -> None:
    request.session[ANONYMOUS_KEY_SESSION_FIELD] = key


def pop_anonymous_key(request: HttpRequest) -> str:
    return request.session.pop(ANONYMOUS_KEY_SESSION_FIELD, "")


def anonymous_owner_key(request: HttpRequest) -> str:
    """The session key that will own an anonymous visitor's upload, saved right now.

    Saved before the upload is stored, so that a database failure shows up while nothing
    is kept yet rather than after the recording was stored under a session nobody holds.
    """
    key = session_key(request, create=True)
    if request.session.get(ANONYMOUS_KEY_SESSION_FIELD) != key:
        remember_anonymous_key(request, key)
        request.session.save()
    return key
