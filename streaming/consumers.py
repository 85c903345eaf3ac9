"""Websocket ``ws/streams/<session id>/``: viewers of a live session (and frame pushers).

The consumer authenticates, joins the session's group and forwards messages; nothing more
(reads and checks are streaming.selectors' and streaming.services').
Each viewer sends from its own newest-wins outbox (streaming.conflation): a viewer that cannot
keep up gets the latest prediction, not a backlog; a sent ``sample`` carries ``skipped``, the
samples it replaced (``dropped``: all skipped so far), and never slows the session or others.
``hello``, ``started``, ``model_changed``, ``alert`` and ``finished`` are never dropped and keep
their order. Pictures (``stage: frame``) go only when no other message is waiting, so a slow
link shows fewer pictures and its predictions are never late behind them (``pictures_skipped``
counts the pictures it missed). A viewer may turn pictures off and on with
``{"action": "frames", "on": false|true}``. Session messages carry ``seq`` (rising per session),
so a client may ignore one older than what it shows.
Live traffic uses the ``live`` channel layer alias (settings.CHANNEL_LAYERS; Redis pub/sub, or
the SQLite layer in newest-wins mode), which keeps no per-viewer backlog either.
A channel layer may also drop messages when a busy server falls behind (channels_redis drops
past its capacity without telling anyone), so a viewer that has heard nothing for a while
reads the session's row: a session that ended is reported as ``finished`` all the same.
The session's owner may send binary JPEG frames (push sources) or ``{"action": "stop"}``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import time

from channels.db import database_sync_to_async
from channels.exceptions import ChannelFull
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from streaming.conflation import LIVE_LAYER, PICTURE, Outbox
from streaming.selectors import live_session_end_message, live_session_get, live_session_hello
from streaming.services import live_frame_channel, live_session_stop
from taskml.domain import ServiceError

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404


class LiveSessionConsumer(AsyncWebsocketConsumer):
    channel_layer_alias = LIVE_LAYER
    finished_sent = False
    pictures_on = True
    _wake: asyncio.Event | None = None

    @property
    def wake(self) -> asyncio.Event:
        """Set whenever a message or a picture is waiting for the sender."""
        if self._wake is None:
            self._wake = asyncio.Event()
        return self._wake

    async def connect(self):
        self.sender = None
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        try:
            self.session = await database_sync_to_async(live_session_get)(
                user=user, pk=int(self.scope["url_route"]["kwargs"]["session_id"])
            )
        except ServiceError:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.group = self.session.group
        # A video read faster than real time is an analysis: every sample is kept for its viewers.
        self.outbox = Outbox(conflate=self.session.realtime or self.session.source_kind != "video")
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        self.sender = asyncio.ensure_future(self._send_loop())
        await self._enqueue(live_session_hello(self.session))

    async def disconnect(self, code):
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)
        if self.sender is not None:
            self.sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.sender

    async def live_message(self, event):
        message = event["message"]
        take_replaced = getattr(getattr(self, "channel_layer", None), "take_replaced", None)
        if take_replaced is not None:  # samples the layer replaced with newer ones before this one
            replaced = take_replaced(self.channel_name)
            if replaced:
                self.outbox.add_skipped(replaced)
        if message.get("stage") == PICTURE and not self.pictures_on:
            return
        await self._enqueue(message)
        # Let the sender run between two messages the layer hands over at once: a viewer that
        # keeps up gets every sample; only one that falls behind has samples replaced.
        await asyncio.sleep(0)

    async def _enqueue(self, message: dict) -> None:
        self.outbox.put(message)
        self.wake.set()

    async def _next(self) -> dict | None:
        """The next message to send (newest wins, see the module docstring); None after a quiet spell."""
        while True:
            message = self.outbox.pop()
            if message is not None:
                return message
            self.wake.clear()
            try:
                await asyncio.wait_for(self.wake.wait(), timeout=settings.TASKML_VIEWER_WATCH_SECONDS)
            except TimeoutError:
                return None

    async def _send_loop(self) -> None:
        while True:
            message = await self._next()
            if message is None:
                message = await self._ended_while_silent()
                if message is None:
                    continue
            if message.get("stage") == "finished":
                if self.finished_sent:
                    continue
                self.finished_sent = True
            await self.send(text_data=json.dumps({**message, "dropped": self.outbox.skipped}))

    async def _ended_while_silent(self) -> dict | None:
        """``finished`` from the session's row when it ended and its message never arrived."""
        if self.finished_sent:
            return None
        return await database_sync_to_async(live_session_end_message)(self.session.pk)

    async def receive(self, text_data=None, bytes_data=None):
        if bytes_data is not None:
            await self._push_frame(bytes_data)
            return
        try:
            command = json.loads(text_data or "")
            action = command.get("action") if isinstance(command, dict) else None
        except ValueError:
            action = None
        if action == "stop":
            await self._stop()
        elif action == "frames" and isinstance(command.get("on"), bool):
            self.pictures_on = command["on"]
            if not self.pictures_on:
                self.outbox.discard(PICTURE)
        elif action == "frame" and isinstance(command.get("jpeg_base64"), str):
            try:
                await self._push_frame(base64.b64decode(command["jpeg_base64"], validate=True), command.get("t"))
            except binascii.Error:
                await self._alert("jpeg_base64 is not valid base64")
        else:
            await self._alert(
                'messages are {"action": "stop"}, {"action": "frames", "on": true|false}, '
                '{"action": "frame", "jpeg_base64": …} or binary JPEG'
            )

    async def _alert(self, message: str) -> None:
        await self._enqueue({"stage": "alert", "session": self.session.pk, "message": message})

    async def _stop(self) -> None:
        try:
            await database_sync_to_async(live_session_stop)(session=self.session, by=self.scope["user"])
        except ServiceError as exc:
            await self._alert(str(exc))

    async def _push_frame(self, jpeg: bytes, t=None) -> None:
        try:
            channel = await database_sync_to_async(live_frame_channel)(
                session_id=self.session.pk, user=self.scope["user"], jpeg=jpeg, t=t
            )
        except ServiceError as exc:
            await self._alert(str(exc))
            return
        try:
            await self.channel_layer.send(
                channel, {"type": "live.frame", "jpeg": jpeg, "t": t, "received_at": time.time()}
            )
        except ChannelFull:
            self.outbox.skipped += 1
