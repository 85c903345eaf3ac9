"""A live session that follows a policy switches to the newly promoted champion while it runs.

Real web server (uvicorn), a real worker on every queue (training and live), the Redis channel
layer and a real websocket viewer; the champion changes through the API while the session plays
the video in real time.
"""

from __future__ import annotations

import socket
import time
import uuid

import pytest
import requests

from tests.retraining.conftest import DATASET, MODEL

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


@pytest.fixture(scope="module")
def live(django_db_setup, django_db_blocker, tmp_path_factory, mega_parquet, megamind):
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from tests.platform import worker_env
    from tests.retraining.conftest import create_video
    from tests.streaming.conftest import Person, Platform, serving

    call_command("collectstatic", interactive=False, verbosity=0)  # the page's script, served as make run does
    name = f"retrain-live-{uuid.uuid4().hex[:6]}"
    env = worker_env(TASKML_LIVE_POLICY_CHECK_SECONDS="1")
    with serving(django_db_blocker, tmp_path_factory.mktemp("retrain-live"), env, worker_name=name) as (
        server,
        worker,
        port,
    ):
        with django_db_blocker.unblock():
            user = User.objects.create_user("live-retrainer", password="live-retrainer-password-1")
            person = Person(user=user, token=Token.objects.create(user=user).key)
            videos = [create_video(user, n, mega_parquet=mega_parquet, megamind=megamind) for n in ("lv_a", "lv_h")]
        platform = Platform(server=server, worker=worker, worker_node=f"{name}@{socket.gethostname()}", port=port)
        yield platform, person, videos


def _wait(url: str, person, predicate, *, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = requests.get(url, headers=person.headers, timeout=30).json()
        if predicate(body):
            return body
        assert time.monotonic() < deadline, f"timed out waiting on {url}: {body}"
        time.sleep(0.5)


def test_a_following_session_switches_model_on_promotion(live):
    from tests.streaming.conftest import connect, receive_until, receive_until_finished, session_row

    platform, person, (video, held) = live
    api = f"{platform.http}/api/v1"
    body = {
        "name": "live", "training_videos": [video.pk], "holdout_videos": [held.pk], "detector": "mediapipe",
        "dataset_params": DATASET, "model_type": "rf", "model_params": {"n_estimators": 30},
    }  # fmt: skip
    policy = requests.post(f"{api}/retrain-policies/", json=body, headers=person.headers, timeout=30).json()
    run = requests.post(f"{api}/retrain-policies/{policy['id']}/run/", headers=person.headers, timeout=30).json()
    run = _wait(f"{api}/retrain-runs/{run['id']}/", person, lambda r: r["status"] in ("succeeded", "failed"))
    assert run["decision"] == "promoted", run
    first = run["challenger"]
    # Another model of the same features: a LightGBM on the run's dataset.
    r = requests.post(
        f"{api}/models/", json={"dataset": run["dataset"], "model_type": "lgbm", **MODEL}, headers=person.headers
    )
    assert r.status_code == 202, r.text
    second = _wait(f"{api}/models/{r.json()['id']}/", person, lambda m: m["status"] in ("succeeded", "failed"))
    assert second["status"] == "succeeded", second

    # A session naming only the policy runs its champion.
    r = requests.post(
        f"{api}/live-sessions/",
        json={"policy": policy["id"], "source": "video", "video": video.pk, "realtime": True},
        headers=person.headers,
        timeout=30,
    )
    assert r.status_code == 201, r.text
    session = r.json()
    assert session["model"] == first and session["policy"] == policy["id"]
    with connect(platform, session["id"], person) as ws:
        sample, _ = receive_until(ws, "sample", timeout=120)
        before = sample["model_version"]
        assert before == run["challenger_version"]
        r = requests.post(
            f"{api}/retrain-policies/{policy['id']}/promote/", json={"model": second["id"]}, headers=person.headers
        )
        assert r.status_code == 200, r.text
        changed, _ = receive_until(ws, "model_changed", timeout=30)
        assert changed["previous_model_version"] == before
        assert changed["model_version"] == second["version_label"]
        rest = receive_until_finished(ws, timeout=120)
    samples = [m for m in rest if m["stage"] == "sample"]
    assert samples and {m["model_version"] for m in samples} == {second["version_label"]}
    assert any(m["task_prediction"] is not None for m in samples)  # the buffer carried on: windows keep coming
    assert rest[-1]["status"] == "finished"
    assert session_row(session["id"]).trained_model_id == second["id"]


@pytest.fixture(scope="module")
def browser(live):
    from tests.web.conftest import launched_chromium

    with launched_chromium() as chromium:
        yield chromium


def test_the_page_creates_runs_and_rolls_back(live, browser):
    platform, person, (video, held) = live
    context = browser.new_context(viewport={"width": 1280, "height": 800}, base_url=platform.http)
    context.set_default_timeout(15_000)
    page = context.new_page()
    problems = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    try:
        page.goto("/accounts/login/")
        page.fill("#id_username", "live-retrainer")
        page.fill("#id_password", "live-retrainer-password-1")
        with page.expect_navigation():
            page.locator("form:has(#id_password) [type=submit]").click()
        page.goto("/retraining/")
        assert page.locator('nav a[aria-current="page"]').inner_text() == "Retraining"
        form = page.locator("#policy-form")
        form.locator("#name").fill("from the page")
        form.locator(f'input[name="training_videos"][value="{video.pk}"]').check()
        # No held-out video: refused, and the message stands next to that field.
        form.locator("#create-policy").click()
        page.locator('[data-error-for="holdout_videos"]:not(:empty)').wait_for()
        form.locator(f'input[name="holdout_videos"][value="{held.pk}"]').check()
        form.locator("#window_sec").fill("1")
        form.locator("#step_sec").fill("0.1")
        for name, value in (("train", "0.5"), ("val", "0.25"), ("test", "0.25")):  # one training video: time blocks
            form.locator(f"#{name}_ratio").fill(value)
        form.locator("#model_type").select_option("rf")
        form.locator("#n_estimators").fill("20")
        form.locator("#create-policy").click()
        row = page.locator("#policy-list tr", has_text="from the page")
        row.wait_for()
        assert "none yet" in row.locator(".champion").inner_text()
        row.locator("button.run-now").click()
        run = page.locator("#run-list tr", has_text="from the page")
        run.locator(".badge.succeeded, .badge.failed").wait_for(timeout=240_000)
        assert run.locator(".decision").inner_text() == "promoted", run.inner_text()
        page.locator("#promotion-list tr", has_text="from the page").wait_for()
        row = page.locator("#policy-list tr", has_text="from the page")
        assert row.locator(".champion").inner_text().startswith("v")
        row.locator("button.rollback").click()  # the first champion replaced nothing
        note = page.locator("#policy-action-error")
        note.filter(has_text="nothing to roll back").wait_for()
        page.set_viewport_size({"width": 400, "height": 800})  # narrow windows: tables scroll, the page does not
        assert page.evaluate("document.documentElement.scrollWidth") <= 400
        assert not problems, problems
    finally:
        context.close()
