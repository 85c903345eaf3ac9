"""Serve taskml over HTTP and websockets with uvicorn (the ASGI server `make run` uses).

uvicorn rather than daphne: it hands a request body to Django as it arrives (daphne's Twisted
layer parses a multipart body in memory first, many times its size), and a websocket send
waits while a slow client's buffer is full, so each viewer's newest-wins outbox really conflates.
"""

from __future__ import annotations

import os

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Serve the web app, the API and the websockets (uvicorn, ASGI)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("TASKML_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("TASKML_PORT", "8001")))
        parser.add_argument("--log-level", default="info")
        parser.add_argument(
            "--workers",
            type=int,
            default=int(os.environ.get("TASKML_WEB_WORKERS", "1")),
            help="server processes; websockets fan out between them through the channel layer",
        )

    def handle(self, *args, host: str, port: int, log_level: str, workers: int, **opts):
        import uvicorn
        from django.core.management.base import CommandError

        if workers < 1:
            raise CommandError(f"--workers must be at least 1, got {workers}")
        uvicorn.run(
            "taskml.server:application",
            host=host,
            port=port,
            lifespan="off",  # Django's ASGI handler has no lifespan events
            ws="websockets-sansio",  # waits while a slow client's buffer is full (back-pressure)
            ws_max_size=8 * 1024 * 1024,  # pushed JPEG frames; see TASKML_MAX_FRAME_BYTES
            # No permessage-deflate: compressing every viewer's copy of every prediction was about
            # 15 % of the web process's CPU under bench/load.py (py-spy); samples are small anyway.
            ws_per_message_deflate=False,
            log_level=log_level,
            timeout_graceful_shutdown=10,
            workers=workers,
        )
