"""The live page's other sources: this browser's camera (Chromium's fake camera, a moving test
pattern, pushed as JPEG over the session's websocket) and a network stream URL (refused under its
field when it is not one)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.web.conftest import eventually

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


def test_a_webcam_session_sends_the_browsers_camera_frames(logged_in, sample_model, web_user, shot):
    from streaming.models import LiveSession

    page = logged_in
    page.goto("/live/")
    form = page.locator("form#live-form")
    expect(form.locator(f"select[name=model] option[value='{sample_model.model_pk}']")).to_be_attached()
    form.locator("select[name=model]").select_option(str(sample_model.model_pk))
    form.locator("select[name=source]").select_option("webcam")
    expect(form.locator("select[name=video]")).to_be_hidden()
    before = set(LiveSession.objects.values_list("pk", flat=True))
    page.click("button#start")
    session = eventually(lambda: LiveSession.objects.exclude(pk__in=before).get(), what="the session row")
    assert session.source_kind == "push" and session.owner_id == web_user.user.pk
    expect(page.locator("#webcam-preview")).to_be_visible()

    def sent_and_received():
        sent = int(page.locator("#health-sent").inner_text().split()[0])
        received = int(page.locator("#health-frames").inner_text())
        assert sent >= 5 and received >= 5, f"sent {sent}, received {received}"

    eventually(sent_and_received, timeout=60, what="camera frames through the session")

    def processed():
        row = LiveSession.objects.get(pk=session.pk)
        assert row.frames_processed > 0, (row.status, row.frames_processed, row.error)

    eventually(processed, timeout=30, what="frames the worker processed")
    shot("webcam-running")
    page.click("button#stop")

    def ended():
        status = LiveSession.objects.get(pk=session.pk).status
        assert status in ("stopped", "finished"), status

    eventually(ended, timeout=30, what="the session ending")
    expect(page.locator("#webcam-preview")).to_be_hidden()
    shot("webcam-stopped")


def test_a_url_that_is_not_a_stream_is_refused_under_the_url_field(logged_in, sample_model, web_user, shot):
    from streaming.models import LiveSession

    page = logged_in
    page.goto("/live/")
    form = page.locator("form#live-form")
    expect(form.locator(f"select[name=model] option[value='{sample_model.model_pk}']")).to_be_attached()
    form.locator("select[name=model]").select_option(str(sample_model.model_pk))
    form.locator("select[name=source]").select_option("url")
    form.locator("input[name=url]").fill("file:///etc/passwd")
    before = LiveSession.objects.count()
    page.click("button#start")
    error = form.locator("[data-error-for=url]")
    expect(error).not_to_be_empty()
    url_box, message = form.locator("input[name=url]").bounding_box(), error.bounding_box()
    assert message["y"] >= url_box["y"] + url_box["height"] - 1, "the message is not under the URL field"
    page.wait_for_timeout(300)
    assert LiveSession.objects.count() == before
    expect(page.locator("button#start")).to_be_enabled()
    shot("url-refused")
