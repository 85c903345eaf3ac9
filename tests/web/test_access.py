"""Who sees the pages: anonymous people are sent to the login page, and come back after logging in."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from tests.web.conftest import log_in

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

PAGES = ["/", "/videos/", "/videos/1/", "/datasets/", "/datasets/1/", "/models/", "/models/1/", "/live/"]


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_people_are_sent_to_the_login_page(page, path, shot):
    response = page.goto(path)
    assert response.ok, response.status
    url = urlparse(page.url)
    assert url.path == "/accounts/login/", page.url
    assert parse_qs(url.query).get("next") == [path]
    assert page.locator("#id_username").is_visible() and page.locator("#id_password").is_visible()
    assert page.locator("nav[aria-label=Main]").count() == 0  # no way into the pages before logging in
    shot("login-page")


def test_logging_in_returns_to_the_page_asked_for(page, web_user, shot):
    page.goto("/models/")
    shot("login-form")
    log_in(page, path=page.url)
    assert urlparse(page.url).path == "/models/"
    assert page.locator("nav[aria-label=Main] a[aria-current=page]").inner_text().strip() == "Models"
    shot("models-after-login")


def test_a_wrong_password_stays_on_the_login_page_with_a_message(page, web_user, shot):
    page.goto("/accounts/login/")
    page.fill("#id_username", "web-alice")
    page.fill("#id_password", "not-the-password")
    page.locator("form:has(#id_password) [type=submit]").click()
    page.wait_for_load_state()
    assert urlparse(page.url).path == "/accounts/login/"
    assert "didn't match" in page.locator("[role=alert]").inner_text()
    shot("wrong-password")
