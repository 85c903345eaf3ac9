"""Bounded admission for CPU-heavy requests, so the web process stays free for live fan-out.

One server process sends every live viewer its predictions from one event loop. Requests that
burn CPU (an upload is parsed, hashed and probed; a labeller frame is decoded and encoded as
JPEG) compete with it for the GIL. Under a burst of them the loop's sends fall seconds behind,
and a live dashboard that shows what happened seconds ago is wrong, not slow. So, per process:

- uploads (POST /api/v1/videos/, /backend/upload_and_extract_features): at most
  TASKML_UPLOAD_CONCURRENCY at a time; one more is shed at once with **503**, a JSON message
  saying why and ``Retry-After: TASKML_ADMISSION_RETRY_AFTER`` (an upload can be retried; a late
  prediction cannot be made on time again). Its body is read and thrown away first, so the
  client gets the answer on a connection it can keep using;
- labeller frames (GET /api/v1/videos/<id>/frames/<n>/): at most TASKML_FRAME_CONCURRENCY
  decoding at a time; the next waits up to TASKML_FRAME_WAIT_SECONDS (a player asks for frames in
  quick bursts), then 503 with Retry-After.

0 as a limit: no limit. Counts are per server process (``--workers`` processes admit that many
times as much), held on the process's event loop.
"""

from __future__ import annotations

import asyncio
import json
import re
import weakref

from django.conf import settings

UPLOAD_PATHS = re.compile(r"^/(api/v1/videos|backend/upload_and_extract_features)/?$")
FRAME_PATHS = re.compile(r"^/api/v1/videos/[^/]+/frames/\d+/?$")


RELEASE_KEY = "taskml.admission.release"


def admission_release(request) -> None:
    """Give up the request's admission place now: its upload is stored, and what is left is
    waiting (``/backend/upload_and_extract_features`` waits for its extraction job), which must
    not keep other uploads out. A no-op outside the ASGI server (tests' client, WSGI)."""
    release = getattr(request, "scope", {}).get(RELEASE_KEY)
    if release is not None:
        release()


class Gate:
    """At most ``limit`` holders at a time on each event loop; others wait up to ``wait`` seconds."""

    def __init__(self, limit: int, wait: float = 0.0):
        self.limit = limit
        self.wait = wait
        self._semaphores: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        semaphore = self._semaphores.get(loop)
        if semaphore is None:
            semaphore = self._semaphores[loop] = asyncio.Semaphore(self.limit)
        return semaphore

    async def enter(self) -> bool:
        """True once admitted (then call :meth:`leave`), False when refused."""
        semaphore = self._semaphore()
        if self.wait <= 0:
            if semaphore.locked():
                return False
            await semaphore.acquire()  # free: returns at once
            return True
        try:
            await asyncio.wait_for(semaphore.acquire(), timeout=self.wait)
        except TimeoutError:
            return False
        return True

    def leave(self) -> None:
        self._semaphore().release()


class AdmissionMiddleware:
    """ASGI middleware in front of Django's HTTP handler (see the module docstring)."""

    def __init__(self, app):
        self.app = app
        self.uploads = Gate(settings.TASKML_UPLOAD_CONCURRENCY)
        self.frames = Gate(settings.TASKML_FRAME_CONCURRENCY, settings.TASKML_FRAME_WAIT_SECONDS)

    def _gate(self, scope) -> tuple[Gate | None, str]:
        method, path = scope.get("method", ""), scope.get("path", "")
        if method == "POST" and self.uploads.limit > 0 and UPLOAD_PATHS.match(path):
            return self.uploads, (
                f"the server is busy: {self.uploads.limit} uploads are being stored at once "
                "(TASKML_UPLOAD_CONCURRENCY), and live viewers come first; try again after Retry-After seconds"
            )
        if method == "GET" and self.frames.limit > 0 and FRAME_PATHS.match(path):
            return self.frames, (
                f"the server is busy: {self.frames.limit} frames are being decoded at once "
                "(TASKML_FRAME_CONCURRENCY); try again after Retry-After seconds"
            )
        return None, ""

    async def __call__(self, scope, receive, send):
        gate, why = self._gate(scope) if scope["type"] == "http" else (None, "")
        if gate is None:
            await self.app(scope, receive, send)
            return
        if not await gate.enter():
            await self._shed(scope, receive, send, why)
            return
        loop = asyncio.get_running_loop()
        held = [True]

        def leave_once() -> None:  # on the loop's thread only, so no two calls race
            if held[0]:
                held[0] = False
                gate.leave()

        # A view whose CPU-heavy part is over (the upload stored) hands its place on from its thread.
        scope = {**scope, RELEASE_KEY: lambda: loop.call_soon_threadsafe(leave_once)}
        try:
            await self.app(scope, receive, send)
        finally:
            leave_once()

    async def _shed(self, scope, receive, send, why: str) -> None:
        while True:  # read the body (no copy kept): the connection stays usable
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body"):
                break
        if scope.get("path", "").startswith("/backend/"):
            body = {"status": "error", "alert": why}
        else:
            body = {"detail": why}
        retry_after = str(settings.TASKML_ADMISSION_RETRY_AFTER).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [(b"content-type", b"application/json"), (b"retry-after", retry_after)],
            }
        )
        await send({"type": "http.response.body", "body": json.dumps(body).encode()})
