"""``GET /backend/stream_pose`` (Server-Sent Events) and ``POST /backend/stop_webcam``.

stream_pose starts a live session — the server's camera by default, or an uploaded video
named by ``filename`` (the ``video_file`` an upload returned) — with the model named by
``task_model`` (a model file name of the caller's), and relays the session's messages as
``data: {json}`` events until it finishes. Closing the connection stops the session.
A request that cannot start a session answers one ``alert`` event to EventSource clients
(``Accept: text/event-stream``) and a JSON 4xx to others.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.http import JsonResponse, StreamingHttpResponse
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.request import Request
from rest_framework.response import Response

from backend.schema import stop_webcam_schema
from backend.views import BackendView
from models_app.selectors import trained_model_by_filename
from streaming.conflation import LIVE_LAYER
from streaming.models import LiveSession
from streaming.selectors import live_session_list
from streaming.services import live_session_create, live_session_start, live_session_stop
from taskml.domain import ServiceError, ValidationFailed
from videos.selectors import video_get

KEEPALIVE_SECONDS = 15


def _user(request):
    drf = Request(request, authenticators=[TokenAuthentication(), SessionAuthentication()])
    try:
        user = drf.user
    except Exception:  # an invalid token: treated as not logged in
        return None
    return user if user.is_authenticated else None


def _start_session(user, params) -> LiveSession:
    model_name = (params.get("task_model") or "").strip()
    if not model_name:
        raise ValidationFailed("task_model", "name a trained model file, e.g. task_classifier_lgbm_1.pkl")
    model = trained_model_by_filename(user=user, filename=model_name)
    filename = (params.get("filename") or "").strip()
    smoothing = {}
    if params.get("smoothing"):
        smoothing["method"] = params["smoothing"]
    if filename:
        video = video_get(user=user, stored_name=filename, field="filename")
        realtime = (params.get("realtime") or "true").lower() not in ("0", "false", "no")
        return live_session_create(
            owner=user,
            trained_model=model,
            source_kind="video",
            video=video,
            realtime=realtime,
            smoothing=smoothing,
            start=False,
        )
    return live_session_create(owner=user, trained_model=model, source_kind="camera", smoothing=smoothing, start=False)


def _event(message: dict) -> str:
    return f"data: {json.dumps(message)}\n\n"


async def stream_pose(request):
    user = await sync_to_async(_user)(request)
    sse = "text/event-stream" in request.headers.get("Accept", "")
    if user is None:
        return JsonResponse({"status": "error", "alert": "Authentication credentials were not provided."}, status=401)
    try:
        session = await sync_to_async(_start_session)(user, request.GET)
    except ServiceError as exc:
        if sse:
            return StreamingHttpResponse(
                iter([_event({"stage": "alert", "message": str(exc)})]), content_type="text/event-stream"
            )
        response = JsonResponse({"status": "error", "alert": str(exc)}, status=exc.status_code)
        if getattr(exc, "retry_after", None):  # too many live sessions of yours: when to try again
            response["Retry-After"] = str(exc.retry_after)
        return response

    layer = get_channel_layer(LIVE_LAYER)
    channel = await layer.new_channel()
    await layer.group_add(session.group, channel)  # before the session starts: no message is missed
    await sync_to_async(live_session_start)(session=session)

    async def events():
        finished = False
        try:
            while True:
                try:
                    event = await asyncio.wait_for(layer.receive(channel), timeout=KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                message = event.get("message") or {}
                if message.get("stage") == "frame":  # pictures are for the live page, not this stream's clients
                    continue
                yield _event(message)
                if message.get("stage") == "finished":
                    finished = True
                    return
        finally:
            await layer.group_discard(session.group, channel)
            if not finished:  # the client went away: nobody watches this session any more
                with contextlib.suppress(ServiceError, LiveSession.DoesNotExist):
                    fresh = await sync_to_async(LiveSession.objects.get)(pk=session.pk)
                    if fresh.is_active:
                        await sync_to_async(live_session_stop)(session=fresh)

    response = StreamingHttpResponse(events(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    response["X-Session-Id"] = str(session.pk)
    return response


class StopWebcam(BackendView):
    """Stop the caller's running camera sessions."""

    @stop_webcam_schema
    def post(self, request):
        stopped = []
        for session in live_session_list(user=request.user).filter(
            owner=request.user, source_kind=LiveSession.Source.CAMERA, status__in=LiveSession.ACTIVE
        ):
            with contextlib.suppress(ServiceError):
                live_session_stop(session=session)
                stopped.append(session.pk)
        return Response(
            {"status": "success", "stopped": stopped, "message": f"stopped {len(stopped)} camera stream(s)"}
        )
