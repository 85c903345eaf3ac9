"""Live sessions: create and stop them, and run one (in a worker process).

The runner decodes the source, detects, feeds the rolling LivePredictor (the offline
feature, window and model code) and publishes one message per processed frame to the
session's channel-layer group. Publishing happens on its own event-loop thread with a
bounded queue, so a slow channel layer or viewer never stalls detection.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import timedelta

from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import close_old_connections, connection, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from jobs.models import JobStatus
from jobs.quotas import RETRY_AFTER_SECONDS
from jobs.services import broker_send
from models_app.models import TrainedModel
from models_app.selectors import trained_model_detector
from models_app.services import trained_model_load
from streaming.conflation import LIVE_LAYER, Outbox
from streaming.detector_cache import live_detector, trim_heap
from streaming.models import LiveSession
from streaming.registry import POLICY, champion_sources
from taskml import storage
from taskml.domain import Conflict, TooManyRequests, ValidationFailed
from taskml.pipeline.detectors import DetectorConfig
from taskml.pipeline.errors import InputError, PipelineError
from taskml.pipeline.online import LivePredictor, ModelRunner, Smoother, SmoothingSpec, WindowPrediction
from taskml.pipeline.preview import FramePreview, PreviewSpec, overlays
from taskml.pipeline.sources import Timings, capture_frames, check_stream_url, file_frames, pushed_frames
from videos.detectors import detector_config
from videos.models import Video

log = logging.getLogger(__name__)
RUN_TASK = "streaming.run_session"


# ---------------------------------------------------------------- create / stop


def smoothing_check(smoothing: dict | None) -> dict:
    smoothing = dict(smoothing or {})
    unknown = set(smoothing) - {"method", "k", "alpha", "min_duration"}
    if unknown:
        raise ValidationFailed("smoothing", f"unknown keys {sorted(unknown)}; use method, k, alpha, min_duration")
    try:
        return asdict(SmoothingSpec(**smoothing))
    except (InputError, TypeError) as exc:
        raise ValidationFailed("smoothing", str(exc)) from None


def live_sessions_active(owner) -> int:
    return LiveSession.objects.filter(owner=owner, status__in=LiveSession.ACTIVE).count()


def live_sessions_check(owner) -> None:
    """TooManyRequests (429) once ``owner`` runs TASKML_MAX_LIVE_SESSIONS_PER_USER sessions (pending or
    running); in the creating transaction, with the owner's row locked so two at once cannot pass."""
    limit = int(settings.TASKML_MAX_LIVE_SESSIONS_PER_USER)
    if not limit:
        return
    get_user_model().objects.select_for_update().filter(pk=owner.pk).first()  # owner may be a lazy request.user
    active = live_sessions_active(owner)
    if active >= limit:
        raise TooManyRequests(
            "live_sessions",
            f"you have {active} live sessions pending or running, the most one user may have "
            f"(TASKML_MAX_LIVE_SESSIONS_PER_USER={limit}); stop one first",
            retry_after=RETRY_AFTER_SECONDS,
        )


def live_session_create(
    *,
    owner,
    trained_model: TrainedModel | None = None,
    source_kind: str,
    video: Video | None = None,
    url: str = "",
    camera_index: int = 0,
    realtime: bool = True,
    smoothing: dict | None = None,
    start: bool = True,
    policy=None,
) -> LiveSession:
    """A pending session; its runner is queued once the transaction commits (``start``).

    With a retraining ``policy`` (as ``champion_sources`` gets it) the session follows the
    policy's champion (its model when no ``trained_model`` is given) and switches to each newly
    promoted one while it runs.
    """
    if policy is not None and policy.owner_id != owner.pk:
        raise ValidationFailed("policy", f"no policy {policy.pk} of yours")
    if trained_model is None:
        if policy is None:
            raise ValidationFailed("model", "name a trained model, or a retraining policy whose champion to use")
        if policy.champion is None:
            raise ValidationFailed("policy", f"{policy.name} has no champion yet; run it first or name a model")
        trained_model = policy.champion
    if trained_model.status != JobStatus.SUCCEEDED or not trained_model.sha256:
        raise ValidationFailed("model", f"{trained_model} is not a trained model ({trained_model.status})")
    if source_kind not in LiveSession.Source.values:
        raise ValidationFailed("source", f"{source_kind!r} unknown; use one of {', '.join(LiveSession.Source.values)}")
    if source_kind == LiveSession.Source.VIDEO and video is None:
        raise ValidationFailed("video", "name an uploaded video for a video source")
    if source_kind == LiveSession.Source.URL:
        try:
            url = check_stream_url(url)
        except InputError as exc:
            raise ValidationFailed("url", str(exc)) from None
    with transaction.atomic():
        live_sessions_check(owner)
        session = LiveSession.objects.create(
            owner=owner,
            trained_model=trained_model,
            policy=policy,
            source_kind=source_kind,
            video=video if source_kind == LiveSession.Source.VIDEO else None,
            url=url if source_kind == LiveSession.Source.URL else "",
            camera_index=camera_index,
            realtime=realtime,
            smoothing=smoothing_check(smoothing),
        )
        if start:
            live_session_start(session=session)
    return session


def live_session_start(*, session: LiveSession) -> None:
    def send() -> None:
        try:
            result = broker_send(RUN_TASK, args=[session.pk], queue="live")
            LiveSession.objects.filter(pk=session.pk).update(celery_task_id=result.id)
        except Exception as exc:
            log.exception("could not queue live session %s", session.pk)
            _end(session.pk, LiveSession.Status.FAILED, f"could not reach the job queue: {exc}")

    transaction.on_commit(send)


def live_session_stop(*, session: LiveSession, by=None) -> LiveSession:
    """Ask a session to stop; one that never started ends at once.

    ``by``: the user asking on the session's websocket, where only the session's owner may.
    """
    if by is not None and session.owner_id != by.pk:
        raise ValidationFailed(None, "only the session's owner can stop it")
    session.refresh_from_db(fields=["status"])  # callers may hold it from long ago (a websocket's connect)
    if not session.is_active:
        raise Conflict("session", f"session {session.pk} has already {session.status}")
    LiveSession.objects.filter(pk=session.pk).update(stop_requested=True)
    ended = LiveSession.objects.filter(pk=session.pk, status=LiveSession.Status.PENDING).update(
        status=LiveSession.Status.STOPPED, finished_at=timezone.now()
    )
    session.refresh_from_db()
    if ended:
        publish_now(session.group, {"stage": "finished", "session": session.pk, "status": session.status})
    return session


def live_frame_channel(*, session_id: int, user, jpeg: bytes, t=None) -> str:
    """Where a frame pushed by ``user`` to a push session goes (the runner's channel); a refusal
    (ValidationFailed or Conflict, without a field) says why the frame cannot be taken."""
    session = LiveSession.objects.filter(pk=session_id).first()
    if session is None or session.owner_id != user.pk:
        raise ValidationFailed(None, "only the session's owner can push frames")
    if session.source_kind != LiveSession.Source.PUSH:
        raise Conflict(None, "this session reads its own source; frames cannot be pushed to it")
    if not session.push_channel:
        raise Conflict(None, "the session is not ready for frames yet" if session.is_active else "the session ended")
    if len(jpeg) > settings.TASKML_MAX_FRAME_BYTES or not jpeg.startswith(b"\xff\xd8"):
        raise ValidationFailed(None, "frames must be JPEG images under TASKML_MAX_FRAME_BYTES")
    if t is not None and (isinstance(t, bool) or not isinstance(t, int | float) or not 0 <= t < math.inf):
        # NaN or Infinity (json.loads takes both) would keep the predictor filling windows forever
        raise ValidationFailed(None, "t must be a finite number of seconds, at least 0")
    return session.push_channel


def live_session_fail_stale() -> list[int]:
    """Running sessions whose worker went silent (killed): failed, and their viewers told so."""
    cutoff = timezone.now() - timedelta(seconds=settings.TASKML_JOB_STALE_SECONDS)
    failed = []
    for session in LiveSession.objects.filter(status=LiveSession.Status.RUNNING, heartbeat_at__lt=cutoff):
        message = "the worker running this session stopped"
        if LiveSession.objects.filter(pk=session.pk, status=LiveSession.Status.RUNNING, heartbeat_at__lt=cutoff).update(
            status=LiveSession.Status.FAILED, error=message, finished_at=timezone.now()
        ):
            publish_now(session.group, {"stage": "alert", "session": session.pk, "message": message})
            publish_now(
                session.group, {"stage": "finished", "session": session.pk, "status": LiveSession.Status.FAILED}
            )
            failed.append(session.pk)
    return failed


def live_session_requeue_pending() -> list[int]:
    """Send every pending session's message again (the broker lost its queues); returns their ids.

    A message that did survive only makes a second delivery, which the runner's claim ignores.
    """
    from taskml.celery import app

    pending = list(
        LiveSession.objects.filter(status=LiveSession.Status.PENDING, stop_requested=False).values_list("pk", flat=True)
    )
    for pk in pending:
        app.send_task(RUN_TASK, args=[pk], queue="live")
    return pending


@transaction.atomic
def live_session_delete(*, session: LiveSession) -> None:
    """The session's row. A running session's runner finds its row gone at its next check and ends."""
    session.delete()


def _end(session_id: int, status: str, error: str = "") -> None:
    LiveSession.objects.filter(pk=session_id).update(status=status, error=error, finished_at=timezone.now())


def publish_now(group: str, message: dict) -> None:
    """One message from synchronous code (outside a running session)."""
    from asgiref.sync import async_to_sync

    try:
        async_to_sync(get_channel_layer(LIVE_LAYER).group_send)(group, {"type": "live.message", "message": message})
    except Exception:
        log.exception("could not publish to %s", group)


# ---------------------------------------------------------------- running


def _connection_lost(exc: BaseException) -> bool:
    """The channel layer's server went away (rather than one message being refused)."""
    if isinstance(exc, OSError):
        return True
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError
    except ImportError:
        return False
    return isinstance(exc, RedisConnectionError | RedisTimeoutError)


class Publisher:
    """An event loop in a thread that owns all channel-layer traffic of one session.

    Newest wins here too (streaming.conflation): when the channel layer is slower than the
    session, a sample waiting to go out is replaced by the next one (counted in ``dropped``),
    and at most one picture waits; control messages (started, alert, model_changed, finished)
    always go, in order. Every message gets ``seq``, rising, so a client can ignore an older one.
    ``conflate=False`` (a video read faster than real time: its clients want every frame) keeps
    every sample.
    """

    def __init__(self, group: str, *, conflate: bool = True):
        self.group = group
        self.conflate = conflate
        self.layer = get_channel_layer(LIVE_LAYER)
        self.inbox: queue.Queue = queue.Queue(maxsize=2)  # pushed frames waiting for detection
        self.frames_dropped = 0
        self._seq = itertools.count(1)
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"publisher-{group}", daemon=True)
        self.push_channel = ""
        # Why the channel layer failed (Redis went away): the session then ends failed, since
        # a restarted Redis has also forgotten which viewers were in the group.
        self.interrupted = ""

    @property
    def dropped(self) -> int:
        """Samples replaced by a newer one before they could be published."""
        return self.outbox.skipped

    @property
    def pictures_skipped(self) -> int:
        return self.outbox.pictures_skipped

    def start(self, *, receive_frames: bool) -> None:
        self._receive_frames = receive_frames
        self.outbox = Outbox(conflate=self.conflate)
        self._closing = False
        self._thread.start()
        self._ready.wait(10)

    def _run(self) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.wake = asyncio.Event()
        self.loop.run_until_complete(self._main())
        self.loop.close()

    async def _main(self) -> None:
        tasks = [asyncio.ensure_future(self._send_loop())]
        if self._receive_frames:
            self.push_channel = await self.layer.new_channel()
            tasks.append(asyncio.ensure_future(self._receive_loop()))
        self._ready.set()
        await tasks[0]  # ends once closing and nothing waits
        for task in tasks[1:]:
            task.cancel()
        close = getattr(self.layer, "close_pools", None) or getattr(self.layer, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):  # connections bound to this loop; it ends now
                await close()

    async def _send_loop(self) -> None:
        while True:
            message = self.outbox.pop()
            if message is None:
                if self._closing:
                    return
                self.wake.clear()
                await self.wake.wait()
                continue
            message.pop("skipped", None)  # the viewers' outboxes count their own skips
            try:
                await self.layer.group_send(
                    self.group, {"type": "live.message", "message": message, "conflate": self.conflate}
                )
            except Exception as exc:
                if self.interrupted:  # logged once: a session publishes 25 messages a second
                    continue
                log.exception("publishing to %s failed", self.group)
                if _connection_lost(exc):
                    self.interrupted = f"lost the live channel (Redis): {type(exc).__name__}: {exc}"

    async def _receive_loop(self) -> None:
        while True:
            event = await self.layer.receive(self.push_channel)
            if event.get("type") != "live.frame":
                continue
            item = (event.get("jpeg") or b"", event.get("t"))
            try:
                self.inbox.put_nowait(item)
            except queue.Full:  # detection is behind: drop the oldest waiting frame, keep the newest
                try:
                    self.inbox.get_nowait()
                except queue.Empty:
                    pass
                self.frames_dropped += 1
                self.inbox.put_nowait(item)

    def publish(self, message: dict) -> None:
        message = {**message, "seq": next(self._seq)}

        def put() -> None:
            self.outbox.put(message)
            self.wake.set()

        self.loop.call_soon_threadsafe(put)

    def close(self) -> None:
        if self._thread.is_alive():

            def closing() -> None:
                self._closing = True
                self.wake.set()

            self.loop.call_soon_threadsafe(closing)
            self._thread.join(timeout=10)


def _caption_provider():
    path = getattr(settings, "TASKML_CAPTION_PROVIDER", "")
    return import_string(path) if path else None


def _detector_config(model: TrainedModel) -> DetectorConfig:
    """The detectors the model's training features came from (fusion when unknown)."""
    kind, yolo_model = trained_model_detector(model)
    return detector_config(kind=kind or "fusion", yolo_model=yolo_model)


class ChampionWatch:
    """For a session that follows a retraining policy: the policy's champion, looked up every few seconds."""

    def __init__(self, session: LiveSession):
        self.policy_id = session.policy_id
        self.current = session.trained_model_id
        self.interval = settings.TASKML_LIVE_POLICY_CHECK_SECONDS
        self._next = time.monotonic() + self.interval

    def promoted(self) -> TrainedModel | None:
        """The new champion once it differs from the model in use, else None."""
        if self.policy_id is None or time.monotonic() < self._next:
            return None
        self._next = time.monotonic() + self.interval
        champion_id = champion_sources.get(POLICY).champion_id(self.policy_id)
        if not champion_id or champion_id == self.current:
            return None
        self.current = champion_id  # tried once: a model that cannot be used is not retried every check
        return TrainedModel.objects.select_related("dataset").filter(pk=champion_id, status=JobStatus.SUCCEEDED).first()


def _switch_model(session: LiveSession, model: TrainedModel, runner: ModelRunner, predictor, config, publisher):
    """(runner, predictor) after moving the session to ``model``, announced to its viewers.

    The rolling buffer carries on when the features and window are the same; otherwise the
    next window starts afresh. A model that needs other detectors is refused (with an alert).
    """
    previous = session.trained_model.version_label
    if _detector_config(model) != config:
        message = f"champion {model.version_label} uses other detectors; staying on {previous}"
        publisher.publish({"stage": "alert", "session": session.pk, "message": message})
        return runner, predictor
    try:
        new_runner = ModelRunner(trained_model_load(trained_model=model))
    except (PipelineError, ValidationFailed) as exc:
        publisher.publish({"stage": "alert", "session": session.pk, "message": f"cannot switch model: {exc}"})
        return runner, predictor
    session.trained_model = model
    LiveSession.objects.filter(pk=session.pk).update(trained_model=model)
    if predictor is not None:
        if new_runner.feature_names == runner.feature_names and new_runner.spec == runner.spec:
            predictor.runner = new_runner
            if new_runner.labels != runner.labels:
                predictor.smoother = Smoother(predictor.smoother.spec, len(new_runner.labels))
        else:
            predictor = None  # rebuilt for the new model at the next frame
    publisher.publish(
        {
            "stage": "model_changed",
            "session": session.pk,
            "model_version": model.version_label,
            "previous_model_version": previous,
            "labels": new_runner.labels,
            "window_sec": new_runner.spec.window_sec,
            "step_sec": new_runner.spec.step_sec,
        }
    )
    return new_runner, predictor


def sample_message(
    session: LiveSession, labels: list[str], index: int, t: float, prediction: WindowPrediction | None, **extra
) -> dict:
    """The per-frame message existing clients read (``stage: sample``)."""
    message = {
        "stage": "sample",
        "session": session.pk,
        "frame_index": index,
        "t": round(t, 4),
        "task_prediction": None,
        "task_confidence": None,
        "probabilities": {},
        "smoothed": False,
        "model_version": session.trained_model.version_label,
        "caption": None,
    }
    if prediction is not None:
        probabilities = prediction.smoothed_probabilities
        message.update(
            task_prediction=prediction.smoothed_label,
            task_confidence=round(float(probabilities[labels.index(prediction.smoothed_label)]), 4),
            probabilities={label: round(float(p), 4) for label, p in zip(labels, probabilities, strict=True)},
            smoothed=session.smoothing.get("method", "none") != "none",
            window={"start": round(prediction.start, 4), "end": round(prediction.end, 4), "label": prediction.label},
        )
    message.update(extra)
    return message


def live_session_run(*, session_id: int, worker: str = "") -> LiveSession | None:
    """Run a session to its end in this process: source → detectors → predictor → group."""
    close_old_connections()
    claimed = LiveSession.objects.filter(pk=session_id, status=LiveSession.Status.PENDING, stop_requested=False).update(
        status=LiveSession.Status.RUNNING, started_at=timezone.now(), heartbeat_at=timezone.now(), worker=worker
    )
    if not claimed:
        return None
    session = LiveSession.objects.select_related("trained_model", "trained_model__dataset", "video").get(pk=session_id)
    # A video read as fast as it decodes is an analysis whose clients want every frame; anything
    # real time (a camera, a stream, pushed frames, a video at its own speed) wants the newest.
    publisher = Publisher(session.group, conflate=session.realtime or session.source_kind != LiveSession.Source.VIDEO)
    publisher.start(receive_frames=session.source_kind == LiveSession.Source.PUSH)
    if publisher.push_channel:
        LiveSession.objects.filter(pk=session.pk).update(push_channel=publisher.push_channel)
    stop = threading.Event()
    beating = threading.Event()

    def heartbeat() -> None:  # proves this worker is alive while models load or no frame comes
        try:
            while not beating.wait(settings.TASKML_JOB_HEARTBEAT_SECONDS):
                LiveSession.objects.filter(pk=session.pk).update(heartbeat_at=timezone.now())
        finally:
            connection.close()

    beat = threading.Thread(target=heartbeat, name=f"live-{session.pk}-heartbeat", daemon=True)
    beat.start()
    status, error = LiveSession.Status.FINISHED, ""
    counters = {"frames": 0, "windows": 0, "skipped": 0}
    try:
        status, error = _run(session, publisher, stop, counters)
    except (PipelineError, ValidationFailed) as exc:
        status, error = LiveSession.Status.FAILED, str(exc)
    except Exception as exc:
        log.exception("live session %s failed", session.pk)
        status, error = LiveSession.Status.FAILED, f"internal error: {type(exc).__name__}: {exc}"
    finally:
        beating.set()
        beat.join(timeout=5)
        if error:
            publisher.publish({"stage": "alert", "session": session.pk, "message": error})
        LiveSession.objects.filter(pk=session.pk).update(
            status=status,
            error=error,
            finished_at=timezone.now(),
            frames_processed=counters["frames"],
            windows_predicted=counters["windows"],
            frames_dropped=publisher.frames_dropped + counters["skipped"],
            push_channel="",
        )
        publisher.publish(
            {
                "stage": "finished",
                "session": session.pk,
                "status": status,
                "frames": counters["frames"],
                "windows": counters["windows"],
                "publish_dropped": publisher.dropped,
                "frames_dropped": publisher.frames_dropped + counters["skipped"],
            }
        )
        publisher.close()
        del publisher
        gc.collect()  # the session's frames, buffers and predictor, before the heap is trimmed
        trim_heap()
    session.refresh_from_db()
    return session


def _run(session: LiveSession, publisher: Publisher, stop: threading.Event, counters: dict) -> tuple[str, str]:
    """The session's loop: open its source, run the detectors and the model on every frame,
    publish each sample (and, at a bounded rate, a picture), follow a promoted champion, save
    progress once a second; returns the final (status, error)."""
    runner = ModelRunner(trained_model_load(trained_model=session.trained_model))
    config = _detector_config(session.trained_model)
    smoothing = SmoothingSpec(**session.smoothing) if session.smoothing else SmoothingSpec()
    caption = _caption_provider()
    timings = Timings()
    frames, source = _open_source(session, publisher, timings, _stop_check(session, publisher, stop))
    publisher.publish(_started_message(session, runner, source))
    predictor: LivePredictor | None = None
    watch = ChampionWatch(session)
    last_saved = time.monotonic()
    pictures = _Pictures(PreviewSpec(fps=settings.TASKML_LIVE_FRAME_FPS, width=settings.TASKML_LIVE_FRAME_WIDTH))
    with live_detector(config) as detector:
        # Short queues: a live frame waits behind at most two others (latency over throughput).
        for index, t, detections in detector.process_stream(pictures.tap(frames), queue_size=2):
            began = time.perf_counter()
            if predictor is None:
                height, width = pictures.shape
                predictor = LivePredictor(
                    runner, width=width, height=height, with_objects=config.uses_yolo, smoothing=smoothing
                )
            completed = predictor.push(t, detections)
            counters["frames"] += 1
            counters["windows"] += len(completed)
            extra = {"decoded_at": timings.pop(index), "sent_at": time.time()}
            if caption is not None and completed:
                extra["caption"] = caption(session=session, prediction=completed[-1])
            counters["skipped"] = timings.skipped
            message = sample_message(session, runner.labels, index, t, predictor.latest, **extra)
            message["overhead_ms"] = round((time.perf_counter() - began) * 1000, 3)
            publisher.publish(message)
            pictures.publish(session, index, message, detections, publisher)
            promoted = watch.promoted()
            if promoted is not None:
                runner, predictor = _switch_model(session, promoted, runner, predictor, config, publisher)
            if time.monotonic() - last_saved >= 1.0:
                last_saved = time.monotonic()
                _save_progress(session, counters, publisher.frames_dropped + timings.skipped, message)
    if predictor is not None:
        counters["windows"] += len(predictor.finish())
    return _outcome(session, publisher, stop, counters)


def _stop_check(session: LiveSession, publisher: Publisher, stop: threading.Event) -> Callable[[], bool]:
    """``should_stop()`` for the frame sources: set by the worker, a lost channel, or the
    session's row (stop requested, or the row deleted), read at most twice a second."""
    last_check = [0.0]

    def should_stop() -> bool:
        if stop.is_set() or publisher.interrupted:
            stop.set()
            return True
        now = time.monotonic()
        if now - last_check[0] >= 0.5:
            last_check[0] = now
            fresh = LiveSession.objects.filter(pk=session.pk).values("stop_requested").first()
            if fresh is None or fresh["stop_requested"]:
                stop.set()
        return stop.is_set()

    return should_stop


def _open_source(session: LiveSession, publisher: Publisher, timings: Timings, should_stop) -> tuple[Iterator, str]:
    """The session's frames (index, t, image) and how the started message names their source."""
    if session.source_kind == LiveSession.Source.VIDEO:
        if session.video is None:
            raise ValidationFailed("video", "the session's video was deleted")
        frames = file_frames(
            storage.absolute(session.video.file), realtime=session.realtime, timings=timings, should_stop=should_stop
        )
        return frames, session.video.stored_name
    if session.source_kind == LiveSession.Source.URL:
        return capture_frames(session.url, timings=timings, should_stop=should_stop), session.url
    if session.source_kind == LiveSession.Source.CAMERA:
        frames = capture_frames(session.camera_index, timings=timings, should_stop=should_stop)
        return frames, f"camera {session.camera_index}"
    return pushed_frames(publisher.inbox, timings=timings, should_stop=should_stop), "pushed frames"


def _started_message(session: LiveSession, runner: ModelRunner, source: str) -> dict:
    return {
        "stage": "started",
        "session": session.pk,
        "source": source,
        "model_version": session.trained_model.version_label,
        "labels": runner.labels,
        "window_sec": runner.spec.window_sec,
        "step_sec": runner.spec.step_sec,
        "smoothing": session.smoothing,
    }


class _Pictures:
    """The live view's pictures: chosen as frames leave the source (before encoding, at a
    bounded rate, so frames that are not shown cost nothing), published after their sample."""

    def __init__(self, spec: PreviewSpec):
        self.preview = FramePreview(spec)
        self.shape: tuple[int, int] | None = None  # (height, width) of the source's frames
        self.waiting: dict[int, dict] = {}  # frame index → its scaled JPEG, until its detections are out

    def tap(self, frames):
        for index, t, frame in frames:
            if self.shape is None:
                self.shape = frame.shape[:2]
            if self.preview.due(time.monotonic()) and len(self.waiting) < 8:
                self.waiting[index] = self.preview.encode(frame)
            yield index, t, frame

    def publish(self, session: LiveSession, index: int, sample: dict, detections, publisher: Publisher) -> None:
        picture = self.waiting.pop(index, None)
        if picture is None:
            return
        height, width = self.shape
        publisher.publish(
            {
                "stage": "frame",
                "session": session.pk,
                "frame_index": index,
                "t": sample["t"],
                **picture,
                **overlays(detections, width, height),
                "task_prediction": sample["task_prediction"],
                "task_confidence": sample["task_confidence"],
                "caption": sample["caption"],
                "model_version": sample["model_version"],
                "pictures_skipped": publisher.pictures_skipped,
            }
        )


def _save_progress(session: LiveSession, counters: dict, frames_dropped: int, sample: dict) -> None:
    """The session row's heartbeat, counters and last prediction (what a page reload shows)."""
    LiveSession.objects.filter(pk=session.pk).update(
        heartbeat_at=timezone.now(),
        frames_processed=counters["frames"],
        windows_predicted=counters["windows"],
        frames_dropped=frames_dropped,
        last_prediction={k: sample[k] for k in ("frame_index", "t", "task_prediction", "task_confidence")},
    )


def _outcome(session: LiveSession, publisher: Publisher, stop: threading.Event, counters: dict) -> tuple[str, str]:
    if publisher.interrupted:
        return LiveSession.Status.FAILED, publisher.interrupted
    if stop.is_set():
        return LiveSession.Status.STOPPED, ""
    if counters["frames"] == 0 and session.source_kind != LiveSession.Source.PUSH:
        return LiveSession.Status.FAILED, "the source gave no frame"
    return LiveSession.Status.FINISHED, ""
