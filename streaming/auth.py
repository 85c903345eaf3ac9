"""Websocket authentication: the session cookie (pages) or a DRF token (clients).

Browsers cannot set headers on a websocket, so a token may also come as ``?token=<key>``;
other clients can send ``Authorization: Token <key>``.

The Origin check guards the cookie: a page from another site must not ride on it. Browsers
always send Origin on a websocket handshake; scripts (``python -m websockets``) send none, so
a handshake without Origin is let through when it carries a token, which a browser never
attaches on its own.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.security.websocket import AllowedHostsOriginValidator
from django.contrib.auth.models import AnonymousUser


@database_sync_to_async
def _user_for_token(key: str):
    from rest_framework.authtoken.models import Token

    token = Token.objects.select_related("user").filter(key=key).first()
    return token.user if token is not None and token.user.is_active else AnonymousUser()


def _token_key(scope) -> str | None:
    headers = dict(scope.get("headers") or [])
    auth = headers.get(b"authorization", b"").decode("latin-1")
    if auth.lower().startswith("token "):
        return auth[6:].strip() or None
    return (parse_qs(scope.get("query_string", b"").decode()).get("token") or [None])[0]


class TokenAuthMiddleware:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        key = _token_key(scope)
        if key:
            scope = {**scope, "user": await _user_for_token(key)}
        return await self.app(scope, receive, send)


class OriginCheck:
    """Origin must be an allowed host, except for a script's handshake (no Origin) with a token."""

    def __init__(self, app):
        self.app = app
        self.checked = AllowedHostsOriginValidator(app)

    async def __call__(self, scope, receive, send):
        has_origin = any(name == b"origin" for name, _ in scope.get("headers") or [])
        if not has_origin and _token_key(scope):
            return await self.app(scope, receive, send)
        return await self.checked(scope, receive, send)


def TokenOrSessionAuthStack(app):  # noqa: N802 - reads like the Channels stacks it wraps
    """Session auth first; a valid token (header or query) overrides it."""
    return AuthMiddlewareStack(TokenAuthMiddleware(app))
