"""Malformed websocket messages get an alert and the connection stays usable: non-JSON, JSON that is
not an object, unknown actions, huge messages, binary data from a viewer who may not push."""

from __future__ import annotations

import asyncio
import json

import pytest
from rest_framework.authtoken.models import Token

from streaming.models import LiveSession
from tests.api.factories import ready_dataset, ready_model
from tests.security.ws import Socket

pytestmark = pytest.mark.django_db(transaction=True)

MALFORMED_TEXT = [
    "not json",
    "",
    "{",
    "[1, 2, 3]",
    "null",
    json.dumps({"action": "dance"}),
    json.dumps({"action": "frame"}),  # no jpeg
    json.dumps({"action": "frame", "jpeg_base64": 12}),
    json.dumps({"action": ["stop"]}),
    "x" * (2 * 1024 * 1024),  # 2 MB of text
    json.dumps({"action": "frame", "jpeg_base64": "A" * (6 * 1024 * 1024)}),  # decodes past TASKML_MAX_FRAME_BYTES
    "\udcff".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
]


def test_jobs_socket_answers_anything_with_an_alert_and_stays_open(alice):
    from channels.layers import get_channel_layer

    from jobs.services import job_group

    token = Token.objects.create(user=alice).key

    async def main():
        socket = Socket(f"ws/jobs/?token={token}")
        assert await socket.connect()
        try:
            for text in MALFORMED_TEXT:
                await socket.send_text(text)
                answer = await socket.receive()
                assert answer == {"stage": "alert", "message": "this socket only sends job updates"}, text[:40]
            for data in (b"\x00\xff" * 10, b"", bytes(3 * 1024 * 1024)):
                await socket.send_bytes(data)
                assert (await socket.receive())["stage"] == "alert"
            # still subscribed: a job update arrives
            await get_channel_layer().group_send(
                job_group(alice.pk), {"type": "job.update", "job": {"id": 1, "stage": "done", "status": "succeeded"}}
            )
            assert (await socket.receive())["id"] == 1
        finally:
            await socket.close()

    asyncio.run(main())


def test_live_socket_alerts_on_malformed_messages_and_keeps_going(alice, staff_user):
    model = ready_model(alice, dataset=ready_dataset(alice))
    session = LiveSession.objects.create(owner=alice, trained_model=model, source_kind="video", status="running")
    owner_token, staff_token = (Token.objects.create(user=u).key for u in (alice, staff_user))

    async def main():
        owner = Socket(f"ws/streams/{session.pk}/?token={owner_token}")
        viewer = Socket(f"ws/streams/{session.pk}/?token={staff_token}")
        assert await owner.connect() and await viewer.connect()
        try:
            assert (await owner.receive())["stage"] == "hello" and (await viewer.receive())["stage"] == "hello"
            for text in MALFORMED_TEXT:
                await owner.send_text(text)
                alert = await owner.receive()
                assert alert["stage"] == "alert" and alert["message"], text[:40]
            # a viewer who is not the owner may not push frames or stop the session
            await viewer.send_bytes(b"\xff\xd8" + bytes(1000))
            assert (await viewer.receive())["message"] == "only the session's owner can push frames"
            await viewer.send_bytes(bytes(5 * 1024 * 1024))
            assert (await viewer.receive())["message"] == "only the session's owner can push frames"
            await viewer.send_text(json.dumps({"action": "stop"}))
            assert (await viewer.receive())["message"] == "only the session's owner can stop it"
            # the owner's binary to a session that reads its own source: refused, not crashed
            await owner.send_bytes(b"\xff\xd8 not a jpeg")
            assert "cannot be pushed" in (await owner.receive())["message"]
            # both still receive what the session publishes
            from channels.layers import get_channel_layer

            await get_channel_layer("live").group_send(  # live sessions' own layer alias
                session.group, {"type": "live.message", "message": {"stage": "sample", "frame_index": 3}}
            )
            for socket in (owner, viewer):
                assert (await socket.receive())["frame_index"] == 3
        finally:
            await owner.close()
            await viewer.close()

    asyncio.run(main())
    assert LiveSession.objects.get(pk=session.pk).status == "running"  # nothing stopped it
