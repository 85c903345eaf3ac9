"""CSRF: a browser session's POST without the token is refused on every route (pages, admin,
sign-in, /backend/ and /api/v1/ through DRF's session auth); with the token, or with an API token
instead of a session, it goes through."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from rest_framework.test import APIClient

from tests.security.test_routes import example_url, http_routes
from videos.models import LabelSpan

pytestmark = pytest.mark.django_db


def test_every_route_refuses_a_session_post_without_the_csrf_token(alice):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    failures = []
    for route in sorted(set(http_routes())):
        if route.startswith(settings.STATIC_URL.lstrip("/")):
            continue
        url = example_url(route)
        r = browser.post(url, {"x": "1"})
        if route.startswith("ls-backend/"):
            # The Label Studio ML backend takes no browser session at all (Basic user + API token,
            # or a Token header): a session-only POST is not authenticated.
            if r.status_code != 401:
                failures.append(f"POST {url} ({route}) → {r.status_code}, want 401")
            continue
        html_docs = url in ("/api/v1/docs/", "/api/v1/redoc/")  # their 403 page carries no reason
        if r.status_code != 403 or (b"CSRF" not in r.content and not html_docs):
            failures.append(f"POST {url} ({route}) → {r.status_code}")
    assert not failures, "\n".join(failures)
    assert browser.get("/videos/").status_code == 200  # the session itself is fine


def test_a_session_post_with_the_token_goes_through(alice, settings):
    from tests.api.factories import video_row

    video = video_row(alice)
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(alice)
    page = browser.get("/videos/")  # a page sets the csrftoken cookie
    token = page.cookies["csrftoken"].value
    body = {"video": video.pk, "start_frame": 0, "end_frame": 3, "label": "reach"}
    r = browser.post("/api/v1/label-spans/", body, format="json")
    assert r.status_code == 403 and "CSRF" in r.json()["detail"]
    r = browser.post("/api/v1/label-spans/", body, format="json", HTTP_X_CSRFTOKEN=token)
    assert r.status_code == 201, r.content
    assert LabelSpan.objects.filter(video=video).count() == 1
    r = browser.post("/accounts/logout/", {"csrfmiddlewaretoken": token})
    assert r.status_code == 302 and "_auth_user_id" not in browser.session


def test_the_login_form_needs_its_token_too(alice):
    browser = Client(enforce_csrf_checks=True)
    r = browser.post("/accounts/login/", {"username": "alice", "password": "alice-password-1"})
    assert r.status_code == 403
    token = browser.get("/accounts/login/").cookies["csrftoken"].value
    r = browser.post(
        "/accounts/login/", {"username": "alice", "password": "alice-password-1", "csrfmiddlewaretoken": token}
    )
    assert r.status_code == 302


def test_api_token_clients_need_no_csrf_token(alice, client_for):
    from tests.api.factories import video_row

    video = video_row(alice)
    api = client_for(alice)
    api.handler.enforce_csrf_checks = True
    r = api.post(
        "/api/v1/label-spans/", {"video": video.pk, "start_frame": 0, "end_frame": 1, "label": "x"}, format="json"
    )
    assert r.status_code == 201, r.content


def test_cookies_are_http_only_and_pages_cannot_be_framed(alice):
    browser = Client()
    browser.force_login(alice)
    r = browser.get("/videos/")
    assert r["X-Frame-Options"] == "DENY" and r["X-Content-Type-Options"] == "nosniff"
    assert r["Referrer-Policy"] == "same-origin"
    assert settings.SESSION_COOKIE_HTTPONLY
