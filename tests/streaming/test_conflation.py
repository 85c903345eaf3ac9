"""The per-viewer outbox (streaming.conflation): newest wins for samples and pictures, control
messages (hello, started, model_changed, alert, finished) never dropped and in order."""

from __future__ import annotations

from streaming.conflation import Outbox


def sample(i: int) -> dict:
    return {"stage": "sample", "frame_index": i, "seq": i}


def drain(outbox: Outbox) -> list[dict]:
    out = []
    while (message := outbox.pop()) is not None:
        out.append(message)
    return out


def test_newest_sample_wins_and_counts_what_it_replaced():
    outbox = Outbox()
    for i in range(10):
        outbox.put(sample(i))
    assert len(outbox) == 1
    (sent,) = drain(outbox)
    assert (sent["frame_index"], sent["skipped"]) == (9, 9)
    assert outbox.skipped == 9 and not outbox
    outbox.put(sample(10))  # the count is per sent sample: a fresh one replaced nothing
    assert drain(outbox)[0]["skipped"] == 0 and outbox.skipped == 9


def test_a_viewer_that_keeps_up_gets_every_sample():
    outbox = Outbox()
    got = []
    for i in range(50):
        outbox.put(sample(i))
        got += drain(outbox)
    assert [m["frame_index"] for m in got] == list(range(50))
    assert all(m["skipped"] == 0 for m in got) and outbox.skipped == 0


def test_control_messages_are_never_dropped_and_keep_their_order():
    outbox = Outbox()
    outbox.put({"stage": "hello"})
    outbox.put({"stage": "started"})
    for i in range(5):
        outbox.put(sample(i))
    for n in range(3):
        outbox.put({"stage": "alert", "message": f"alert {n}"})
    outbox.put({"stage": "model_changed", "model_version": "v2"})
    outbox.put(sample(5))
    outbox.put({"stage": "finished", "status": "finished"})
    sent = drain(outbox)
    assert [m["stage"] for m in sent] == [
        "hello", "started", "alert", "alert", "alert", "model_changed", "sample", "finished",
    ]  # fmt: skip
    # The newest sample goes where it came (after the model change), with the 5 it replaced.
    assert sent[6]["frame_index"] == 5 and sent[6]["skipped"] == 5
    assert [m["message"] for m in sent if m["stage"] == "alert"] == ["alert 0", "alert 1", "alert 2"]


def test_many_control_messages_all_wait():
    outbox = Outbox()
    for n in range(1000):
        outbox.put({"stage": "alert", "message": str(n)})
        outbox.put(sample(n))
    sent = drain(outbox)
    assert [m["message"] for m in sent if m["stage"] == "alert"] == [str(n) for n in range(1000)]
    samples = [m for m in sent if m["stage"] == "sample"]
    assert len(samples) == 1 and samples[0]["frame_index"] == 999 and samples[0]["skipped"] == 999


def test_pictures_go_last_newest_only_and_can_be_discarded():
    outbox = Outbox()
    for i in range(10):
        outbox.put({"stage": "frame", "frame_index": i})
        outbox.put(sample(i))
    outbox.put({"stage": "alert", "message": "x"})
    sent = drain(outbox)
    assert [m["stage"] for m in sent] == ["sample", "alert", "frame"]
    assert sent[-1]["frame_index"] == 9 and sent[-1]["pictures_skipped"] == 9
    assert sent[0]["frame_index"] == 9
    outbox.put({"stage": "frame", "frame_index": 10})
    outbox.discard("frame")
    assert outbox.pop() is None


def test_without_conflation_every_sample_is_kept_in_order():
    outbox = Outbox(conflate=False)
    for i in range(20):
        outbox.put(sample(i))
        outbox.put({"stage": "frame", "frame_index": i})
    sent = drain(outbox)
    assert [m["frame_index"] for m in sent if m["stage"] == "sample"] == list(range(20))
    assert all(m["skipped"] == 0 for m in sent if m["stage"] == "sample")
    assert [m["frame_index"] for m in sent if m["stage"] == "frame"] == [19]


def test_the_redis_pubsub_layer_lets_a_newer_sample_replace_a_waiting_one():
    """streaming.layers.NewestWinsPubSubChannelLayer over the real Redis: while a viewer's consumer
    is busy, samples waiting for it in the web process give way to newer ones (counted); control
    messages and a publisher's ``conflate: False`` messages all arrive, in order."""
    import asyncio
    import uuid

    from django.conf import settings

    from streaming.layers import NewestWinsPubSubChannelLayer

    layer = NewestWinsPubSubChannelLayer(hosts=[settings.REDIS_URL], prefix=f"t{uuid.uuid4().hex[:8]}")

    def event(stage: str, i: int, **extra) -> dict:
        return {"type": "live.message", "message": {"stage": stage, "frame_index": i}, **extra}

    async def scenario():
        channel = await layer.new_channel()
        await layer.group_add("live_1", channel)
        for i in range(10):
            await layer.group_send("live_1", event("sample", i))
            if i == 5:
                await layer.group_send("live_1", event("alert", i))
        for i in range(10, 13):
            await layer.group_send("live_1", event("sample", i, conflate=False))
        await layer.group_send("live_1", event("finished", 13))
        await asyncio.sleep(0.5)  # all of it arrived in this process while nobody read
        got = []
        while not got or got[-1][0] != "finished":
            message = await asyncio.wait_for(layer.receive(channel), 5)
            got.append((message["message"]["stage"], message["message"]["frame_index"]))
        replaced = layer.take_replaced(channel)
        await layer.flush()
        return got, replaced

    got, replaced = asyncio.run(scenario())
    assert got == [("alert", 5), ("sample", 9), ("sample", 10), ("sample", 11), ("sample", 12), ("finished", 13)]
    assert replaced == 9
