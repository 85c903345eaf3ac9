"""Fan-out to several viewers of one session: in order for everyone, the newest prediction for a
viewer that falls behind (what it missed counted in ``skipped``), and a viewer that stops reading
or leaves never holds the session or the others back."""

from __future__ import annotations

import json
import socket
import time

import pytest
import redis
from websockets.exceptions import ConnectionClosed

from tests.platform import wait_for
from tests.streaming.conftest import (
    connect,
    create_session,
    ended,
    receive_until,
    receive_until_finished,
    sessions_held,
    wait_row,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


def listening() -> int:
    """Consumers listening on the live channel layer. Redis pub/sub keeps group memberships in the
    web process, so this counts the channels it subscribed in Redis, one per viewer (a test
    compares it with the count before its viewers connected)."""
    from django.conf import settings

    prefix = settings.CHANNEL_LAYERS["live"]["CONFIG"]["prefix"]
    return len(redis.Redis.from_url(settings.REDIS_URL).pubsub_channels(f"{prefix}specific.*"))


def slow_viewer(platform, session_id: int, person):
    """A client that stops reading after its first message: a tiny socket buffer and a one-frame
    queue, so what the server sends piles up on the server's side of the connection."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", platform.port))
    return connect(platform, session_id, person, sock=sock, max_queue=1)


def watch(platform, trained, *, with_slow_viewer: bool) -> dict:
    base = listening()

    def group_size(sid: int) -> int:  # this session's viewers: the only ones connecting meanwhile
        return listening() - base

    with sessions_held(platform):
        r = create_session(platform, trained.alice, model=trained.model_id, source="video", video=trained.video_id,
                           realtime=False)  # fmt: skip
        sid = r.json()["id"]
        fast = [connect(platform, sid, trained.alice), connect(platform, sid, trained.staff)]
        leaver = connect(platform, sid, trained.alice)
        slow = slow_viewer(platform, sid, trained.alice) if with_slow_viewer else None
        viewers = 3 + with_slow_viewer
        wait_for(lambda: group_size(sid) == viewers, timeout=15, what="every viewer in the group")

    # One viewer leaves mid-session: it leaves the group; the session and the others go on.
    with leaver:
        receive_until(leaver, "sample")
        samples = 0
        while samples < 20:
            stage = json.loads(leaver.recv(timeout=30))["stage"]
            assert stage in ("sample", "frame")  # frame: a picture, sent beside the samples
            samples += stage == "sample"
    # (at most: a channel of an earlier session that unsubscribes meanwhile lowers the count too)
    wait_for(lambda: group_size(sid) <= viewers - 1, timeout=15, what="the leaver out of the group")
    assert wait_row(sid, lambda row: True).status == "running"

    got = []
    for ws in fast:
        with ws:
            got.append(receive_until_finished(ws))
    row = wait_row(sid, ended)
    result = {"sid": sid, "fast": got, "row": row, "seconds": (row.finished_at - row.started_at).total_seconds()}
    if slow is not None:
        time.sleep(1)  # the session is over; only now does the slow viewer read
        slow_messages = []
        with slow:
            try:
                slow_messages = receive_until_finished(slow, timeout=60)
            except ConnectionClosed:
                pass  # the server gave up on it: fine, as long as it never held anyone back
        result["slow"] = slow_messages
    wait_for(lambda: group_size(sid) <= 0, timeout=15, what="every viewer out of the group")
    return result


def check_fast(result) -> int:
    frames = result["row"].frames_processed
    assert result["row"].status == "finished" and frames >= 269
    for messages in result["fast"]:
        hello, started, *samples, finished = messages
        assert (hello["stage"], started["stage"], finished["stage"]) == ("hello", "started", "finished")
        indices = [m["frame_index"] for m in samples]
        assert indices == sorted(set(indices)) and indices[-1] == frames - 1  # in order, up to the last
        # Every frame either arrived or is counted (newest wins: on a busy machine a viewer that
        # fell behind for a moment gets the newest sample; nearly all arrive).
        assert len(samples) + sum(m["skipped"] for m in samples) + finished["publish_dropped"] == frames
        assert len(samples) >= 0.8 * frames
    return frames


def test_a_slow_or_leaving_viewer_never_holds_back_the_session_or_the_others(platform, trained):
    baseline = watch(platform, trained, with_slow_viewer=False)
    frames = check_fast(baseline)
    with_slow = watch(platform, trained, with_slow_viewer=True)
    assert check_fast(with_slow) == frames
    # About as fast as without the slow viewer (generous: the machine is shared).
    assert with_slow["seconds"] < 2 * baseline["seconds"] + 3, (with_slow["seconds"], baseline["seconds"])

    # What the slow viewer gets when it finally reads: never a silent gap. Every sample either
    # arrives, in order, or is counted in ``skipped`` (``dropped``: all it skipped).
    slow = with_slow["slow"]
    samples = [m for m in slow if m["stage"] == "sample"]
    indices = [m["frame_index"] for m in samples]
    assert indices == sorted(indices)
    if slow and slow[-1]["stage"] == "finished":
        assert slow[-1]["dropped"] == sum(m["skipped"] for m in samples)
        assert len(samples) + slow[-1]["dropped"] + slow[-1]["publish_dropped"] == frames
    print(
        f"\nslow viewer: {len(samples)} of {frames} samples, dropped={slow[-1]['dropped'] if slow else None}; "
        f"session {with_slow['seconds']:.2f} s vs {baseline['seconds']:.2f} s without it"
    )


def test_a_viewer_whose_connection_blocks_gets_the_newest_sample_and_is_told(settings):
    """Under uvicorn a websocket send waits while the client's buffers are full (back-pressure).
    The consumer's sender is then stuck; samples keep coming from the group and its outbox keeps
    only the newest, counting what it replaced; control messages all wait, in order. (Loopback
    buffers of several MB hide this in an end-to-end run, so the blocked send is simulated here.)"""
    import asyncio

    from streaming.conflation import Outbox
    from streaming.consumers import LiveSessionConsumer

    async def scenario():
        consumer = LiveSessionConsumer()
        consumer.outbox = Outbox()
        release = asyncio.Event()
        sent = []

        async def send(text_data=None, bytes_data=None):
            await release.wait()  # the client's buffer is full until released
            sent.append(json.loads(text_data))

        consumer.send = send
        sender = asyncio.ensure_future(consumer._send_loop())
        for i in range(100):
            await consumer.live_message({"message": {"stage": "sample", "frame_index": i}})
            if i in (50, 60):
                await consumer.live_message({"message": {"stage": "alert", "message": f"at {i}"}})
            await asyncio.sleep(0)
        assert len(consumer.outbox) == 3  # two alerts and the newest sample
        release.set()
        while len(sent) < 4:
            await asyncio.sleep(0.01)
        sender.cancel()
        return sent, consumer.outbox.skipped

    sent, skipped = asyncio.run(scenario())
    # One sample was in the stuck send; then the alerts (they came before the newest sample), then
    # the newest sample with the 98 it replaced (one of them came before the alerts).
    assert skipped == 98
    assert [(m["stage"], m.get("frame_index")) for m in sent] == [("sample", 0), ("alert", None), ("alert", None),
                                                                  ("sample", 99)]  # fmt: skip
    assert sent[-1]["skipped"] == 98 and sent[-1]["dropped"] == 98


@pytest.mark.django_db(transaction=True)
def test_a_viewer_whose_finished_message_was_lost_hears_it_from_the_session_row(settings, alice):
    """channels_redis drops messages past its capacity when a busy server falls behind; a viewer
    that has heard nothing for TASKML_VIEWER_WATCH_SECONDS reads the row, and is told once."""
    import asyncio

    from streaming.conflation import Outbox
    from streaming.consumers import LiveSessionConsumer
    from streaming.models import LiveSession
    from tests.api.factories import ready_dataset, ready_model

    settings.TASKML_VIEWER_WATCH_SECONDS = 0.2
    session = LiveSession.objects.create(
        owner=alice, trained_model=ready_model(alice, dataset=ready_dataset(alice)), source_kind="video"
    )

    async def scenario():
        consumer = LiveSessionConsumer()
        consumer.session = session
        consumer.outbox = Outbox()
        sent = []

        async def send(text_data=None, bytes_data=None):
            sent.append(json.loads(text_data))

        consumer.send = send
        sender = asyncio.ensure_future(consumer._send_loop())
        await asyncio.sleep(0.6)  # still pending: silence alone says nothing
        quiet = list(sent)
        await asyncio.to_thread(
            LiveSession.objects.filter(pk=session.pk).update, status="failed", error="lost the live channel"
        )
        for _ in range(50):
            if sent:
                break
            await asyncio.sleep(0.1)
        await consumer.live_message({"message": {"stage": "finished", "session": session.pk, "status": "failed"}})
        await asyncio.sleep(0.6)
        sender.cancel()
        return quiet, sent

    quiet, sent = asyncio.run(scenario())
    assert quiet == []
    assert [m["stage"] for m in sent] == ["finished"]  # the late published copy is not sent again
    assert (sent[0]["status"], sent[0]["error"], sent[0]["from"]) == ("failed", "lost the live channel", "session_row")


def test_a_viewer_whose_connection_blocks_gets_fewer_pictures_never_late_predictions(settings):
    """Pictures (stage "frame") never queue: a blocked viewer keeps only the newest one and gets
    it after the newest prediction; a viewer that turned pictures off gets none."""
    import asyncio

    from streaming.conflation import Outbox
    from streaming.consumers import LiveSessionConsumer

    async def scenario(pictures_on: bool):
        consumer = LiveSessionConsumer()
        consumer.outbox = Outbox()
        consumer.pictures_on = pictures_on
        release = asyncio.Event()
        sent = []

        async def send(text_data=None, bytes_data=None):
            await release.wait()
            sent.append(json.loads(text_data))

        consumer.send = send
        sender = asyncio.ensure_future(consumer._send_loop())
        for i in range(40):
            await consumer.live_message({"message": {"stage": "sample", "frame_index": i}})
            if i % 5 == 0:  # a picture every fifth frame, as a bounded preview rate gives
                await consumer.live_message({"message": {"stage": "frame", "frame_index": i, "jpeg_base64": "x"}})
            await asyncio.sleep(0)
        release.set()
        while len(sent) < 2 + pictures_on:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        sender.cancel()
        return sent

    sent = asyncio.run(scenario(True))
    # The first sample was stuck in the blocked send; then the newest sample (38 skipped), then
    # the one picture kept (the newest), with the 7 older ones counted as skipped.
    assert [(m["stage"], m["frame_index"]) for m in sent] == [("sample", 0), ("sample", 39), ("frame", 35)]
    assert sent[1]["skipped"] == 38 and sent[2]["pictures_skipped"] == 7
    assert [m["stage"] for m in asyncio.run(scenario(False))].count("frame") == 0
