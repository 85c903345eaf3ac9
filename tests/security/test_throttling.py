"""Throttles: uploads per user, failed sign-ins (login pages, API tokens) per address and username.

The rates are set low here (settings TASKML_THROTTLE_*, read per request); the defaults are high
enough that the rest of the suite never meets them.
"""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.test import APIClient

from taskml.throttles import parse_rate
from videos.models import Video

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_counts():
    cache.clear()
    yield
    cache.clear()


def not_a_video():
    return SimpleUploadedFile("clip.mp4", b"not a video" * 10, content_type="video/mp4")


def assert_throttled(r) -> int:
    assert r.status_code == 429, (r.status_code, r.content[:300])
    wait = int(r["Retry-After"])
    assert 1 <= wait <= 60
    return wait


def test_the_rates_parse_and_default_high(settings):
    assert parse_rate("10/min") == (10, 60) and parse_rate("3/s") == (3, 1) and parse_rate("100/day") == (100, 86400)
    assert parse_rate("off") is None and parse_rate("") is None
    assert parse_rate(settings.TASKML_THROTTLE_UPLOADS)[0] >= 60 and parse_rate(settings.TASKML_THROTTLE_AUTH)[0] >= 10


@pytest.mark.parametrize("url", ["/api/v1/videos/", "/backend/upload_and_extract_features"])
def test_uploads_are_throttled_per_user(url, alice, bob, client_for, settings):
    settings.TASKML_THROTTLE_UPLOADS = "2/min"
    api = client_for(alice)
    for _ in range(2):
        assert api.post(url, {"video": not_a_video()}, format="multipart").status_code == 400
    r = api.post(url, {"video": not_a_video()}, format="multipart")
    assert_throttled(r)
    body = r.json()
    assert ("throttled" in body["alert"]) if url.startswith("/backend/") else ("throttled" in body["detail"])
    # reads go on; other users are not affected; nothing was stored
    assert api.get("/api/v1/videos/").status_code == 200
    assert client_for(bob).post(url, {"video": not_a_video()}, format="multipart").status_code == 400
    assert not Video.objects.exists()


def test_throttling_can_be_switched_off(alice, client_for, settings):
    settings.TASKML_THROTTLE_UPLOADS = "off"
    api = client_for(alice)
    for _ in range(5):
        assert api.post("/api/v1/videos/", {"video": not_a_video()}, format="multipart").status_code == 400


@pytest.mark.parametrize("login_url", ["/accounts/login/", "/admin/login/", "/api-auth/login/"])
def test_failed_logins_lock_the_login_pages_out(login_url, alice, settings):
    settings.TASKML_THROTTLE_AUTH = "3/min"
    browser = Client(HTTP_ACCEPT="text/html")
    for _ in range(3):
        r = browser.post(login_url, {"username": "alice", "password": "wrong"})
        assert r.status_code == 200 and "_auth_user_id" not in browser.session
    # now even the right password is refused, with the time to wait, on every login page
    for url in ("/accounts/login/", "/admin/login/", "/api-auth/login/"):
        r = browser.post(url, {"username": "alice", "password": "alice-password-1"})
        assert_throttled(r)
        assert "too many failed sign-in attempts" in r.content.decode()
    assert "_auth_user_id" not in browser.session
    # a script asking for JSON gets JSON
    r = Client().post(login_url, {"username": "alice", "password": "x"}, HTTP_ACCEPT="application/json")
    assert_throttled(r)
    assert "too many" in r.json()["detail"]


def test_one_username_is_locked_from_every_address_and_other_users_still_log_in(alice, bob, settings):
    settings.TASKML_THROTTLE_AUTH = "3/min"
    for i in range(3):  # a spread-out guesser: a new address each time
        Client(REMOTE_ADDR=f"10.0.0.{i}").post("/accounts/login/", {"username": "alice", "password": "guess"})
    assert_throttled(
        Client(REMOTE_ADDR="10.0.0.99").post("/accounts/login/", {"username": "alice", "password": "alice-password-1"})
    )
    bob_browser = Client(REMOTE_ADDR="10.0.0.50")
    r = bob_browser.post("/accounts/login/", {"username": "bob", "password": "bob-password-1"})
    assert r.status_code == 302 and bob_browser.session["_auth_user_id"] == str(bob.pk)


def test_successful_logins_are_not_counted(alice, settings):
    settings.TASKML_THROTTLE_AUTH = "2/min"
    for _ in range(5):
        r = Client().post("/accounts/login/", {"username": "alice", "password": "alice-password-1"})
        assert r.status_code == 302


def test_unknown_tokens_are_throttled_per_address(alice, client_for, settings):
    settings.TASKML_THROTTLE_AUTH = "3/min"
    guesser = APIClient(REMOTE_ADDR="10.1.1.1")
    for i in range(3):
        guesser.credentials(HTTP_AUTHORIZATION=f"Token {i:040d}")
        assert guesser.get("/api/v1/videos/").status_code == 401
    r = guesser.get("/api/v1/videos/")
    assert_throttled(r)
    assert "too many failed sign-in attempts" in r.json()["detail"]
    r = guesser.get("/backend/features")
    assert_throttled(r)
    assert "too many" in r.json()["alert"]
    # alice's real token from her own address works; no token at all is a plain 401, not a lockout
    assert client_for(alice).get("/api/v1/videos/").status_code == 200
    assert APIClient(REMOTE_ADDR="10.1.1.1").get("/api/v1/videos/").status_code in (401, 403)
