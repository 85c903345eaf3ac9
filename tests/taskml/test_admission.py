"""Bounded admission (taskml.admission): beyond TASKML_UPLOAD_CONCURRENCY uploads at once a web
process answers 503 with Retry-After and a message naming why, so live viewers keep the CPU."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid

import pytest
import requests


async def _call(app, scope: dict, body: bytes = b"x" * 1000) -> tuple[int, dict, dict]:
    chunks = [body[i : i + 100] for i in range(0, len(body), 100)]
    sent: list[dict] = []

    async def receive():
        chunk = chunks.pop(0) if chunks else b""
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message):
        sent.append(message)

    await app({"type": "http", **scope}, receive, send)
    start = sent[0]
    return start["status"], dict(start["headers"]), json.loads(sent[1]["body"] or b"{}")


def test_uploads_beyond_the_limit_are_shed_with_retry_after_and_frames_wait(settings):
    from taskml.admission import AdmissionMiddleware

    settings.TASKML_UPLOAD_CONCURRENCY = 2
    settings.TASKML_FRAME_CONCURRENCY = 1
    settings.TASKML_FRAME_WAIT_SECONDS = 0.3
    settings.TASKML_ADMISSION_RETRY_AFTER = 1
    release = asyncio.Event()

    async def slow_app(scope, receive, send):  # busy storing an upload / decoding a frame; a list is quick
        if (scope["method"], scope["path"]) != ("GET", "/api/v1/videos/"):
            await release.wait()
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def scenario():
        app = AdmissionMiddleware(slow_app)
        upload = {"method": "POST", "path": "/api/v1/videos/"}
        busy = [asyncio.ensure_future(_call(app, upload)) for _ in range(2)]
        await asyncio.sleep(0.05)
        shed = await _call(app, upload)
        backend_shed = await _call(app, {"method": "POST", "path": "/backend/upload_and_extract_features"})
        frame = {"method": "GET", "path": "/api/v1/videos/3/frames/10/"}
        decoding = asyncio.ensure_future(_call(app, frame))
        await asyncio.sleep(0.05)
        frame_shed = await _call(app, frame)  # waited TASKML_FRAME_WAIT_SECONDS, then refused
        reads = await _call(app, {"method": "GET", "path": "/api/v1/videos/"})  # not gated: never waits
        release.set()
        done = await asyncio.gather(*busy, decoding)
        after = await _call(app, upload)  # room again
        return shed, backend_shed, frame_shed, reads, done, after

    shed, backend_shed, frame_shed, reads, done, after = asyncio.run(scenario())
    assert reads[0] == 201
    status, headers, body = shed
    assert status == 503 and headers[b"retry-after"] == b"1"
    assert "2 uploads are being stored at once" in body["detail"] and "TASKML_UPLOAD_CONCURRENCY" in body["detail"]
    assert backend_shed[0] == 503 and "TASKML_UPLOAD_CONCURRENCY" in backend_shed[2]["alert"]
    assert frame_shed[0] == 503 and "TASKML_FRAME_CONCURRENCY" in frame_shed[2]["detail"]
    assert [d[0] for d in done] == [201, 201, 201] and after[0] == 201


def test_an_upload_waiting_for_its_job_holds_no_place(settings):
    """/backend/upload_and_extract_features waits for its extraction (minutes): once the upload is
    stored the view gives its place back (from its own thread), so other uploads are not shed."""
    from taskml.admission import RELEASE_KEY, AdmissionMiddleware

    settings.TASKML_UPLOAD_CONCURRENCY = 1
    settings.TASKML_ADMISSION_RETRY_AFTER = 1
    job_done = asyncio.Event()

    async def backend_app(scope, receive, send):
        if scope.get("test-waits-for-its-job"):
            # stored: the sync view thread hands the place on, then waits for the job
            await asyncio.to_thread(scope[RELEASE_KEY])
            await asyncio.to_thread(scope[RELEASE_KEY])  # twice: still one place given back
            await job_done.wait()
        if scope.get("test-stores-slowly"):
            await job_done.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def scenario():
        app = AdmissionMiddleware(backend_app)
        path = {"method": "POST", "path": "/backend/upload_and_extract_features"}
        waiting = asyncio.ensure_future(_call(app, {**path, "test-waits-for-its-job": True}))
        await asyncio.sleep(0.1)
        second = await _call(app, path)  # admitted although the first has not answered yet
        job_done.set()
        first = await waiting
        # The place was given back once, not twice: one upload busy storing still sheds the next.
        job_done.clear()
        storing = asyncio.ensure_future(_call(app, {**path, "test-stores-slowly": True}))
        await asyncio.sleep(0.1)
        third = await _call(app, path)
        job_done.set()
        return first, second, third, await storing

    first, second, third, storing = asyncio.run(scenario())
    assert (first[0], second[0], storing[0]) == (200, 200, 200)
    assert third[0] == 503


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_real_server_sheds_concurrent_uploads_and_each_retry_succeeds(megamind, tmp_path):
    """Eight clients upload at once to a real server (uvicorn) admitting one at a time: the others
    get 503 + Retry-After at once, never an error or a wait behind the busy one; after waiting
    Retry-After each one's upload is stored."""
    from django.contrib.auth.models import User
    from rest_framework.authtoken.models import Token

    from tests.platform import worker_env
    from tests.streaming.conftest import start_server

    user = User.objects.create_user("uploader", password="uploader-password-1")
    headers = {"Authorization": f"Token {Token.objects.create(user=user).key}"}
    env = worker_env(TASKML_UPLOAD_CONCURRENCY="1", TASKML_THROTTLE_UPLOADS="off", TASKML_ADMISSION_RETRY_AFTER="1")
    server, port = start_server(tmp_path, env)
    results: list[list[tuple[int, str, str]]] = []
    lock = threading.Lock()

    def client() -> None:
        answers = []
        for _ in range(30):
            with open(megamind, "rb") as handle:
                r = requests.post(f"http://127.0.0.1:{port}/api/v1/videos/", headers=headers, timeout=120,
                                  files={"video": ("Megamind.avi", handle)},
                                  data={"video_id": f"shed-{uuid.uuid4().hex[:8]}"})  # fmt: skip
            answers.append((r.status_code, r.headers.get("Retry-After", ""), r.text))
            if r.status_code != 503:
                break
            threading.Event().wait(float(r.headers["Retry-After"]))
        with lock:
            results.append(answers)

    try:
        threads = [threading.Thread(target=client) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
    finally:
        server.stop()
    answers = [a for client_answers in results for a in client_answers]
    assert len(results) == 8 and all(client_answers[-1][0] == 201 for client_answers in results), answers
    assert {status for status, _, _ in answers} == {201, 503}
    shed = [(retry, text) for status, retry, text in answers if status == 503]
    assert all(retry == "1" and "TASKML_UPLOAD_CONCURRENCY" in json.loads(text)["detail"] for retry, text in shed)
