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


def test_the_analysed_frames_appear_with_overlays_where_the_worker_found_them(logged_in, sample_model, shot):
    """Pictures of an uploaded-video session: the scaled JPEG, the pose skeleton and hand landmarks
    drawn at the positions in the worker's message (captured off the page's own websocket), the
    predicted task as a caption, and the toggles."""
    import json

    page = logged_in
    received: dict[int, dict] = {}

    def on_socket(ws):
        def on_frame(payload):
            if isinstance(payload, str) and '"stage": "frame"' in payload:
                message = json.loads(payload)
                received[message["frame_index"]] = message

        ws.on("framereceived", on_frame)

    page.on("websocket", on_socket)
    page.goto("/live/")
    form = page.locator("form#live-form")
    expect(form.locator(f"select[name=model] option[value='{sample_model.model_pk}']")).to_be_attached()
    form.locator("select[name=model]").select_option(str(sample_model.model_pk))
    expect(form.locator(f"select[name=video] option[value='{sample_model.video_pk}']")).to_be_attached()
    form.locator("select[name=video]").select_option(str(sample_model.video_pk))
    page.click("button#start")
    stage = page.locator("#live-picture-stage")
    expect(stage).to_be_visible(timeout=60_000)
    expect(page.locator("#live-overlay .pose circle").first).to_be_attached(timeout=30_000)

    def check_one_picture():
        shown = page.evaluate(
            """() => {
              const img = document.getElementById("live-frame"), svg = document.getElementById("live-overlay");
              const box = img.getBoundingClientRect();
              const dots = [...svg.querySelectorAll(".pose circle, .hand circle")].map((c) => {
                const r = c.getBoundingClientRect(), g = c.parentNode.classList;
                const hand = g.contains("hand") ? (g.contains("left") ? "left_hand" : "right_hand") : null;
                return {hand, index: Number(c.dataset.index), x: r.x + r.width / 2, y: r.y + r.height / 2};
              });
              return {frame: Number(svg.dataset.frameIndex), img: {x: box.x, y: box.y, w: box.width, h: box.height},
                      natural: [img.naturalWidth, img.naturalHeight], dots};
            }"""
        )
        message = received.get(shown["frame"])
        assert message is not None, f"frame {shown['frame']} not among the {len(received)} captured"
        assert shown["natural"] == [message["width"], message["height"]]
        assert message["width"] <= 480
        img = shown["img"]
        assert shown["dots"], "no landmark drawn"
        for dot in shown["dots"]:
            point = message[dot["hand"]][dot["index"]] if dot["hand"] else message["pose"][dot["index"]]
            assert abs(dot["x"] - (img["x"] + point[0] * img["w"])) <= 1.5, (dot, point, img)
            assert abs(dot["y"] - (img["y"] + point[1] * img["h"])) <= 1.5, (dot, point, img)
        drawn = sum(1 for p in message["pose"] or [] if p[2] >= 0.5)
        assert sum(1 for d in shown["dots"] if d["hand"] is None) == drawn
        return message

    message = eventually(check_one_picture, timeout=20, what="a picture whose overlay matches its message")
    caption = page.locator("#live-frame-caption")
    if message["task_prediction"]:
        expect(caption).to_contain_text(message["task_prediction"])
    shot("picture-with-overlays")

    # The overlays and the picture can be turned off.
    page.locator("#show-pose").uncheck()
    expect(page.locator("#live-overlay .pose").first).to_be_hidden()
    page.locator("#show-picture").uncheck()
    expect(stage).to_be_hidden()
    count = len(received)
    page.wait_for_timeout(1500)
    assert len(received) <= count + 1, "pictures kept coming after they were turned off"
    shot("picture-off")
    page.locator("#show-picture").check()
    page.locator("#show-pose").check()
