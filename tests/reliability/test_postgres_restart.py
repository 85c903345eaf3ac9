"""PostgreSQL restarted (a fast shutdown cuts every connection) under the web server and a worker.

Requests during the gap get a clean 503 with a JSON body (never a trace) and succeed once the
database is back; a job running through the restart still succeeds, in the same attempt; jobs
created afterwards run on the same worker.
"""

from __future__ import annotations

import pytest
import requests

from tests.platform import wait_for

pytestmark = [pytest.mark.slow]
UNAVAILABLE = "the database is unavailable; try again in a few seconds"


@pytest.fixture(scope="module")
def app(stack):
    stack.start_server()
    stack.start_worker("pg")
    stack.alice = stack.user("pg-alice")
    return stack


def _login_form(app) -> tuple[requests.Session, dict]:
    browser = requests.Session()
    assert browser.get(f"{app.http}/accounts/login/", timeout=30).status_code == 200
    form = {"username": "pg-alice", "password": "pw-pg-alice-1", "csrfmiddlewaretoken": browser.cookies["csrftoken"]}
    return browser, form


def test_requests_during_the_gap_get_503_json_and_succeed_after(app):
    browser, form = _login_form(app)
    app.pg.stop_fast()
    try:
        for path, body in [
            ("/api/v1/videos/", {"detail": UNAVAILABLE}),
            ("/api/v1/jobs/", {"detail": UNAVAILABLE}),
            ("/backend/models", {"status": "error", "alert": UNAVAILABLE}),
        ]:
            r = requests.get(f"{app.http}{path}", headers=app.alice, timeout=60)
            assert r.status_code == 503, (path, r.status_code, r.text[:500])
            assert r.json() == body and r.headers["Retry-After"] == "5"
        # A page (login: the session and user tables) goes through the middleware instead of DRF.
        r = browser.post(
            f"{app.http}/accounts/login/", data=form, headers={"Referer": f"{app.http}/accounts/login/"}, timeout=60
        )
        assert r.status_code == 503, r.text[:500]
        assert r.json() == {"detail": UNAVAILABLE}
    finally:
        app.pg.start()
    for path in ("/api/v1/videos/", "/api/v1/jobs/", "/backend/models"):
        r = requests.get(f"{app.http}{path}", headers=app.alice, timeout=60)
        assert r.status_code == 200, (path, r.text[:500])
    r = browser.post(
        f"{app.http}/accounts/login/", data=form, headers={"Referer": f"{app.http}/accounts/login/"}, timeout=60
    )
    assert r.status_code == 200 and browser.cookies.get("sessionid")
    assert browser.get(f"{app.http}/api/v1/videos/", timeout=30).status_code == 200


def test_a_job_running_through_a_restart_succeeds_and_the_worker_takes_new_jobs(app, megamind):
    video = app.upload(app.alice, megamind)
    running = app.extract(app.alice, video, sample_rate=1)
    job_id = running["job"]["id"]

    def halfway():
        job = app.job(job_id)
        assert job["status"] in ("pending", "running"), job
        return job["status"] == "running" and job["progress"] > 0.05

    wait_for(halfway, timeout=120, what="the extraction to run")
    app.pg.restart(down=2.0)
    job = app.wait_job(job_id, timeout=180)
    assert job["status"] == "succeeded", job
    assert job["attempts"] == 1, "the restart made the job run again"
    rows = app.sql("SELECT status, sha256 FROM videos_featurefile WHERE video_id = %s", (video["id"],))
    assert rows == [("succeeded", rows[0][1])] and rows[0][1]

    after = app.extract(app.alice, video, sample_rate=5)
    assert app.wait_job(after["job"]["id"], timeout=180)["status"] == "succeeded"
