"""ASGI entry point (served by uvicorn, `manage.py serve`): HTTP through Django behind a request-size guard, and
websockets (live sessions) with session/token auth and an origin check."""

import json
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskml.settings")
django_app = get_asgi_application()

from django.conf import settings  # noqa: E402  (after Django is set up)


class RequestSizeLimit:
    """Refuse a request whose declared body is over the upload limit before reading any of it.

    Bodies without a Content-Length are still cut off by the upload handler as they stream.
    """

    SLACK = 1024 * 1024  # multipart boundaries and form fields around the file

    def __init__(self, app, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            declared = dict(scope.get("headers") or []).get(b"content-length")
            if declared and declared.isdigit() and int(declared) > self.limit + self.SLACK:
                await self._refuse(scope, send, int(declared))
                return
        await self.app(scope, receive, send)

    async def _refuse(self, scope, send, size: int) -> None:
        message = (
            f"the upload ({size // (1024 * 1024)} MB) is larger than the limit of "
            f"{self.limit // (1024 * 1024)} MB (TASKML_MAX_UPLOAD_MB)"
        )
        path = scope.get("path", "")
        if path.startswith("/backend/"):
            body = {"status": "error", "alert": f"video: {message}"}
        else:
            body = {"video": [message]} if path.startswith("/api/v1/videos") else {"detail": message}
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"connection", b"close")],
            }
        )
        await send({"type": "http.response.body", "body": json.dumps(body).encode()})


from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from streaming.auth import OriginCheck, TokenOrSessionAuthStack  # noqa: E402
from taskml.admission import AdmissionMiddleware  # noqa: E402
from taskml.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        # Uploads and frame decodes beyond a few at once get 503 + Retry-After (taskml.admission).
        "http": RequestSizeLimit(AdmissionMiddleware(django_app), settings.TASKML_MAX_UPLOAD_BYTES),
        "websocket": OriginCheck(TokenOrSessionAuthStack(URLRouter(websocket_urlpatterns))),
    }
)
