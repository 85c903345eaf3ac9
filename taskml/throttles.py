"""Throttles: uploads per user, and failed sign-ins (passwords and API tokens) per address and per name.

Rates are ``N/period`` (period ``s``, ``min``, ``h`` or ``day``), read from settings when a
request arrives (``TASKML_THROTTLE_UPLOADS``, ``TASKML_THROTTLE_AUTH``; see settings.py), so
they can be changed per deployment and per test. An exceeded rate answers 429 with
``Retry-After`` (seconds). Counts live in Django's cache: per web process with the default
local-memory cache.

- Uploads: POSTs to views that declare ``throttle_scope = "uploads"`` (video uploads and
  extraction starts, /backend/upload_and_extract_features), counted per user.
- Sign-in: every failed password check (``user_login_failed``: the login pages, the admin's,
  DRF's) and every unknown API token counts against the client's address and, for passwords,
  the username tried. Once a key has used its rate, further attempts are refused with 429
  before any password is checked (a lockout that lifts as old failures age out of the
  window); successful sign-ins are never counted.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.signals import user_login_failed
from django.core.cache import cache
from django.dispatch import receiver
from django.http import JsonResponse
from django.shortcuts import render
from django.urls import Resolver404, resolve
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication
from rest_framework.throttling import BaseThrottle

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str | None) -> tuple[int, int] | None:
    """``"10/min"`` → (10, 60); empty or ``"off"`` → None (no limit)."""
    if not rate or rate.strip().lower() in ("off", "none", "0"):
        return None
    count, _, period = rate.strip().partition("/")
    return int(count), _PERIODS[period.strip().lower()[:1]]


def client_address(request) -> str:
    """REMOTE_ADDR; the first X-Forwarded-For hop only behind a proxy we were told about."""
    if getattr(settings, "TASKML_BEHIND_PROXY", False):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.META.get("REMOTE_ADDR", "") or "unknown"


class Window:
    """A sliding window of event times in the cache under one key."""

    def __init__(self, key: str, rate: tuple[int, int]):
        self.key, (self.limit, self.period) = f"taskml-throttle:{key}", rate

    def _recent(self, now: float) -> list[float]:
        return [t for t in cache.get(self.key, []) if t > now - self.period]

    def wait(self) -> float:
        """Seconds until one more event is allowed (0: allowed now)."""
        now = time.time()
        recent = self._recent(now)
        if len(recent) < self.limit:
            return 0.0
        return max(1.0, recent[-self.limit] + self.period - now)

    def add(self) -> None:
        now = time.time()
        cache.set(self.key, [*self._recent(now), now][-self.limit :], self.period)


# ---------------------------------------------------------------- uploads


class UploadThrottle(BaseThrottle):
    """POSTs to views with ``throttle_scope = "uploads"``, per user (or address when anonymous)."""

    scope = "uploads"

    def allow_request(self, request, view) -> bool:
        rate = parse_rate(settings.TASKML_THROTTLE_UPLOADS)
        if rate is None or request.method != "POST" or getattr(view, "throttle_scope", None) != self.scope:
            return True
        user = request.user
        who = f"user:{user.pk}" if user and user.is_authenticated else f"addr:{client_address(request)}"
        self.window = Window(f"{self.scope}:{who}", rate)
        self._wait = self.window.wait()
        if self._wait:
            return False
        self.window.add()
        return True

    def wait(self) -> float | None:
        return self._wait


# ---------------------------------------------------------------- sign-in failures


def _auth_windows(address: str, username: str | None) -> list[Window]:
    rate = parse_rate(settings.TASKML_THROTTLE_AUTH)
    if rate is None:
        return []
    windows = [Window(f"auth:addr:{address}", rate)]
    if username:
        windows.append(Window(f"auth:user:{username.strip().lower()[:150]}", rate))
    return windows


def sign_in_wait(request, username: str | None = None) -> float:
    """Seconds this client (and username) must wait before trying again; 0 when it may."""
    return max((w.wait() for w in _auth_windows(client_address(request), username)), default=0.0)


def sign_in_failed(request, username: str | None = None) -> None:
    for window in _auth_windows(client_address(request), username):
        window.add()


@receiver(user_login_failed, dispatch_uid="taskml-throttle-login-failed")
def _count_failed_login(sender, credentials, request=None, **kwargs):
    if request is not None:
        sign_in_failed(request, credentials.get("username"))


class ThrottledTokenAuthentication(TokenAuthentication):
    """DRF token auth where unknown tokens count as failed sign-ins from that address."""

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header.lower().startswith(f"{self.keyword.lower()} "):
            return None
        wait = sign_in_wait(request)
        if wait:
            raise exceptions.Throttled(wait, detail="too many failed sign-in attempts")
        try:
            return super().authenticate(request)
        except exceptions.AuthenticationFailed:
            sign_in_failed(request)
            raise


def _is_login_view(path: str) -> bool:
    try:
        match = resolve(path)
    except Resolver404:
        return False
    view_class = getattr(match.func, "view_class", None)
    # Django's and DRF's login pages are LoginViews; the admin's is AdminSite.login, named "login" too
    return match.url_name == "login" or (view_class is not None and issubclass(view_class, auth_views.LoginView))


class LoginThrottleMiddleware:
    """Refuse sign-in POSTs (any LoginView: pages, admin, DRF) while the address or name is locked out."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method == "POST" and _is_login_view(request.path_info):
            wait = sign_in_wait(request, request.POST.get("username"))
            if wait:
                return self._refuse(request, wait)
        return self.get_response(request)

    @staticmethod
    def _refuse(request, wait: float):
        message = f"too many failed sign-in attempts; try again in {int(wait)} s"
        if "text/html" in request.headers.get("Accept", ""):
            response = render(request, "registration/login.html", {"throttled": message}, status=429)
        else:
            response = JsonResponse({"detail": message}, status=429)
        response["Retry-After"] = str(int(wait))
        return response
