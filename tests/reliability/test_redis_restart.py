"""Redis (broker and channel layer) killed and started again, empty, while jobs and live sessions run.

Private Redis and PostgreSQL (tests/reliability/stack.py); real web server, workers and MediaPipe.
"""

from __future__ import annotations

import pytest

from tests.platform import wait_for

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def app(stack):
    stack.start_server()
    stack.start_worker("redis-a")
    return stack


def _running(app, job_id: int, progress: float = 0.05) -> bool:
    job = app.job(job_id)
    assert job["status"] not in ("failed", "cancelled"), job
    return job["status"] == "running" and job["progress"] > progress


def test_a_job_running_and_a_job_waiting_when_redis_restarts_both_succeed(app, megamind):
    alice = app.user("redis-alice")
    video = app.upload(alice, megamind)
    first = app.extract(alice, video, sample_rate=1)  # every frame: long enough to restart Redis under it
    wait_for(lambda: _running(app, first["job"]["id"]), timeout=120, what="the first extraction to run")
    second = app.extract(alice, video, sample_rate=3)  # waits in the queue: the one worker is busy
    assert app.job(second["job"]["id"])["status"] == "pending"

    app.redis.restart(down=2.0)  # the queued message and the running one's delivery are gone with it
    assert app.job(first["job"]["id"])["status"] == "running"

    for feature_file in (first, second):
        job = app.wait_job(feature_file["job"]["id"], timeout=180)
        assert job["status"] == "succeeded", job
    rows = app.sql("SELECT status, sha256 FROM videos_featurefile WHERE video_id = %s ORDER BY id", (video["id"],))
    assert [r[0] for r in rows] == ["succeeded", "succeeded"] and all(r[1] for r in rows)
    # The web server's broker connection recovers too: a job created now runs.
    third = app.extract(alice, video, sample_rate=5)
    assert app.wait_job(third["job"]["id"], timeout=300)["status"] == "succeeded"
