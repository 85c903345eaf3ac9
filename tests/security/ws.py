"""An in-process websocket client for the ASGI application (channels.testing needs daphne, which the
project no longer installs): the real routing, origin check, auth stack and consumers."""

from __future__ import annotations

import contextlib
import json

from asgiref.testing import ApplicationCommunicator


class Socket:
    def __init__(self, path: str, *, headers: list[tuple[bytes, bytes]] | None = None):
        from taskml.asgi import application

        path, _, query = path.partition("?")
        scope = {
            "type": "websocket",
            "path": "/" + path.lstrip("/"),
            "raw_path": ("/" + path.lstrip("/")).encode(),
            "query_string": query.encode(),
            "headers": [(b"host", b"localhost"), *(headers or [])],
            "subprotocols": [],
            "client": ("127.0.0.1", 40000),
            "server": ("localhost", 80),
        }
        self.app = ApplicationCommunicator(application, scope)
        self.closed_code: int | None = None

    async def connect(self, timeout: float = 20) -> bool:
        await self.app.send_input({"type": "websocket.connect"})
        answer = await self.app.receive_output(timeout)
        if answer["type"] == "websocket.close":
            self.closed_code = answer.get("code", 1000)
            return False
        return answer["type"] == "websocket.accept"

    async def send_text(self, text: str) -> None:
        await self.app.send_input({"type": "websocket.receive", "text": text})

    async def send_bytes(self, data: bytes) -> None:
        await self.app.send_input({"type": "websocket.receive", "bytes": data})

    async def receive(self, timeout: float = 20) -> dict:
        """The next message as JSON; ``{"closed": code}`` when the server closed the socket."""
        answer = await self.app.receive_output(timeout)
        if answer["type"] == "websocket.close":
            self.closed_code = answer.get("code", 1000)
            return {"closed": self.closed_code}
        return json.loads(answer["text"])

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.app.send_input({"type": "websocket.disconnect", "code": 1000})
            await self.app.wait(timeout=5)
        with contextlib.suppress(Exception):
            self.app.stop(exceptions=False)


async def handshake(path: str, headers: list[tuple[bytes, bytes]] | None = None) -> bool:
    """True when the server accepts the connection."""
    socket = Socket(path, headers=headers)
    try:
        return await socket.connect()
    finally:
        await socket.close()
