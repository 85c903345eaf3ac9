"""Who may watch and steer a live session over ws/streams/<id>/: credentials, owner, origin, staff."""

from __future__ import annotations

import json

import pytest
import requests

from tests.streaming.conftest import (
    connect,
    create_session,
    ended,
    receive_until,
    receive_until_finished,
    refusal,
    wait_row,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db]
REFUSED_AT_HANDSHAKE = ("http", 403)


def test_only_the_owner_and_staff_watch_from_an_allowed_origin_and_only_the_owner_steers(platform, trained):
    r = create_session(platform, trained.alice, model=trained.model_id, source="video", video=trained.video_id)
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    wait_row(sid, lambda row: row.status == "running", what="session running")

    # Refused: no credentials, a wrong token, another user, another site's page (even with the owner's token).
    assert refusal(platform, sid) in (REFUSED_AT_HANDSHAKE, ("close", 4401))
    assert refusal(platform, sid, query="?token=not-a-token") in (REFUSED_AT_HANDSHAKE, ("close", 4401))
    assert refusal(platform, sid, trained.bob) in (REFUSED_AT_HANDSHAKE, ("close", 4404))
    assert refusal(platform, sid, trained.bob, query=f"?token={trained.bob.token}") in (
        REFUSED_AT_HANDSHAKE,
        ("close", 4404),
    )
    assert refusal(platform, sid, trained.alice, origin="http://evil.example") == REFUSED_AT_HANDSHAKE
    assert refusal(platform, sid, trained.alice, origin="null") == REFUSED_AT_HANDSHAKE  # a sandboxed page
    assert refusal(platform, 10**9, trained.alice) in (REFUSED_AT_HANDSHAKE, ("close", 4404))

    # The owner by token in the query (what a browser page does) and staff by header both watch.
    with (
        connect(platform, sid, query=f"?token={trained.alice.token}") as owner,
        connect(platform, sid, trained.staff) as staff,
    ):
        for ws in (owner, staff):
            hello = json.loads(ws.recv(timeout=30))
            assert hello["stage"] == "hello" and hello["session"] == sid and hello["status"] == "running"
            sample, _ = receive_until(ws, "sample")
            assert sample["session"] == sid

        # Staff may watch but not steer; nobody may push frames to a video session.
        staff.send(json.dumps({"action": "stop"}))
        alert, _ = receive_until(staff, "alert")
        assert alert["message"] == "only the session's owner can stop it"
        owner.send(b"\xff\xd8 not really a jpeg")
        alert, _ = receive_until(owner, "alert")
        assert "cannot be pushed" in alert["message"]

        # Malformed messages get an alert and the connection stays open.
        for text in ("not json", json.dumps({"action": "dance"}), json.dumps([1, 2]), json.dumps({"action": "frame"})):
            owner.send(text)
            alert, _ = receive_until(owner, "alert")
            assert alert["message"].startswith("messages are")
        owner.send(json.dumps({"action": "frame", "jpeg_base64": "%%%"}))
        alert, _ = receive_until(owner, "alert")
        assert alert["message"] == "jpeg_base64 is not valid base64"
        receive_until(owner, "sample")
        assert wait_row(sid, lambda row: True).status == "running"

        # The owner stops it over the websocket; every viewer sees it end.
        owner.send(json.dumps({"action": "stop"}))
        for ws in (owner, staff):
            finished = receive_until_finished(ws)[-1]
            assert finished["status"] == "stopped"
            assert finished["frames"] < 260  # stopped well before the video's end
    row = wait_row(sid, ended)
    assert row.status == "stopped" and row.stop_requested and row.error == ""


def login_cookie(platform, person) -> str:
    """A browser's session cookie, from the login page."""
    browser = requests.Session()
    browser.get(f"{platform.http}/api-auth/login/", timeout=30)
    r = browser.post(
        f"{platform.http}/api-auth/login/",
        data={"username": person.user.username, "password": f"{person.user.username}-password-1",
              "csrfmiddlewaretoken": browser.cookies["csrftoken"], "next": "/api/v1/"},
        timeout=30,
    )  # fmt: skip
    assert r.status_code == 200 and "sessionid" in browser.cookies, r.text[:500]
    return f"sessionid={browser.cookies['sessionid']}"


def test_a_page_watches_with_its_cookie_and_a_script_without_origin_needs_a_token(platform, trained):
    r = create_session(platform, trained.alice, model=trained.model_id, source="push")
    sid = r.json()["id"]
    cookie = {"Cookie": login_cookie(platform, trained.alice)}

    # A page of this site: the session cookie is enough.
    with connect(platform, sid, additional_headers=cookie) as page:
        hello = json.loads(page.recv(timeout=30))
        assert hello["stage"] == "hello" and hello["source"] == "push"
    # The same cookie from another site's page, or with no Origin at all, is refused.
    assert refusal(platform, sid, origin="http://evil.example", additional_headers=cookie) == REFUSED_AT_HANDSHAKE
    assert refusal(platform, sid, origin=None, additional_headers=cookie) == REFUSED_AT_HANDSHAKE
    assert refusal(platform, sid, origin=None) == REFUSED_AT_HANDSHAKE
    assert refusal(platform, sid, origin=None, query="?token=nope") in (REFUSED_AT_HANDSHAKE, ("close", 4401))
    assert refusal(platform, sid, trained.bob, origin=None) in (REFUSED_AT_HANDSHAKE, ("close", 4404))

    # A script (``python -m websockets "ws://…?token=…"``, as the README shows) sends no Origin.
    with connect(platform, sid, origin=None, query=f"?token={trained.alice.token}") as script:
        assert json.loads(script.recv(timeout=30))["stage"] == "hello"
        script.send(json.dumps({"action": "stop"}))
        assert receive_until_finished(script)[-1]["status"] == "stopped"
    assert wait_row(sid, ended).status == "stopped"
