"""Every route refuses anonymous callers: walked from the URL resolver and the websocket router, so a
route added later is covered without touching this file. Only the sign-in pages (and Django's
password-reset pages, which act only on an emailed token), the admin's JavaScript catalogue and
static files are open.
"""

from __future__ import annotations

import asyncio
import re
from urllib.parse import urlparse

import pytest
from django.conf import settings
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from taskml.routing import websocket_urlpatterns
from tests.security.ws import handshake

pytestmark = pytest.mark.django_db

# Open on purpose. Each is matched against the route's pattern text, not a sampled URL.
PUBLIC_ROUTES = {
    "accounts/login/",
    "accounts/logout/",  # logging out when not logged in changes nothing
    "accounts/password_reset/",
    "accounts/password_reset/done/",
    "accounts/reset/<uidb64>/<token>/",
    "accounts/reset/done/",
    "admin/login/",
    "admin/logout/",
    "admin/jsi18n/",  # the admin's translation catalogue (static text)
    "api-auth/login/",
    "api-auth/logout/",
}
LOGIN_PATHS = {"/accounts/login/", "/admin/login/", "/api-auth/login/"}


def http_routes(patterns=None, prefix: str = ""):
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            yield from http_routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern)


def example_url(route: str) -> str:
    """A URL the route matches: every captured value becomes "1" (a format suffix "json")."""
    route = re.sub(r"\(\?P<format>[^)]*\)", "json", route).replace("<drf_format_suffix:format>", ".json")
    route = re.sub(r"\(\?P<\w+>(?:[^()]|\([^)]*\))*\)", "1", route)
    route = re.sub(r"<(?:\w+:)?\w+>", "1", route)
    route = route.replace("^", "").replace("$", "").replace("/?", "/").replace("\\", "")
    return "/" + route.lstrip("/")


def refused(response) -> bool:
    if response.status_code in (401, 403, 405):
        return True
    if response.status_code in (301, 302):
        return urlparse(response["Location"]).path in LOGIN_PATHS
    return False


def test_the_walk_finds_every_kind_of_route():
    routes = set(http_routes())
    for expected in (
        "backend/^features/(?P<filename>.+?)/?$",
        "api/v1/schema/",
        "admin/",
        "videos/<int:pk>/",
        "live/",
        "accounts/login/",
    ):
        assert expected in routes, expected
    assert any(r.startswith("api/v1/^videos/") for r in routes)
    assert len(routes) > 80  # the admin alone has dozens


def test_every_http_route_refuses_anonymous_callers():
    client = Client()
    failures, checked = [], 0
    for route in sorted(set(http_routes())):
        if route in PUBLIC_ROUTES or route.startswith(settings.STATIC_URL.lstrip("/")):
            continue
        url = example_url(route)
        for method in ("get", "post", "put", "patch", "delete"):
            response = getattr(client, method)(url)
            checked += 1
            if not refused(response):
                failures.append(f"{method.upper()} {url} ({route}) → {response.status_code}")
    assert checked > 300
    assert not failures, "\n".join(failures)


def test_the_public_routes_are_only_sign_in_pages():
    client = Client()
    for route in PUBLIC_ROUTES:
        assert route in set(http_routes()), f"{route} no longer exists: drop it from PUBLIC_ROUTES"
    assert client.get("/accounts/login/").status_code == 200
    assert client.get("/static/web/app.js").status_code in (200, 404)  # static files are public by design


def ws_example(pattern) -> str:
    return example_url(str(pattern.pattern)).lstrip("/")


@pytest.mark.django_db(transaction=True)
def test_every_websocket_route_refuses_anonymous_callers():
    paths = [ws_example(p) for p in websocket_urlpatterns]
    assert {"ws/streams/1/", "ws/jobs/"} <= set(paths)
    for path in paths:
        for headers in (
            [(b"origin", b"http://localhost")],  # a page of this site, no cookie
            [(b"origin", b"http://localhost"), (b"cookie", b"sessionid=forged")],
            [],  # a script without Origin or token
        ):
            assert asyncio.run(handshake(path, headers)) is False, (path, headers)
        query = f"{path}?token={'0' * 40}"  # a wrong token
        assert asyncio.run(handshake(query, [])) is False, query
