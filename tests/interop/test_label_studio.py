"""The Label Studio ML backend against a REAL Label Studio 1.23.2 server.

Label Studio needs numpy >= 2 (taskml's MediaPipe needs < 2), so scripts/label_studio.sh installs
it into its own cached virtual environment outside .venv/; the test starts the server on a free
port, creates a project with a <Video> + <TimelineLabels> config, imports a task for Megamind.avi,
connects /ls-backend/<model id>/ with Basic auth (user name + API token), asks Label Studio for
predictions through its own API and checks that the ranges Label Studio stored are the frames
taskml predicted. Then an annotation made in Label Studio reaches taskml through a Label Studio
webhook and lands on the video's frames. Skipped, saying why, only when the package cannot be had.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time

import pytest
import requests
from rest_framework.authtoken.models import Token

from models_app.predictions import video_predicted_spans
from tests.conftest import ROOT
from tests.interop.conftest import trained_on_megamind
from videos.models import LabelSpan, Video

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

LS_TOKEN = "0123456789abcdef0123456789abcdef01234567"  # the throw-away server's admin token
CONFIG = (
    '<View><Video name="video" value="$video" frameRate="{rate}"/>'
    '<TimelineLabels name="videoLabels" toName="video">'
    '<Label value="holding_glass"/><Label value="talking"/></TimelineLabels></View>'
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def label_studio(tmp_path_factory):
    installed = subprocess.run(["bash", str(ROOT / "scripts" / "label_studio.sh")], capture_output=True, text=True)
    if installed.returncode != 0:
        pytest.skip(f"label-studio 1.23.2 could not be installed: {installed.stderr.strip()[-300:]}")
    venv = installed.stdout.strip().splitlines()[-1]
    port, data = free_port(), tmp_path_factory.mktemp("label-studio")
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",  # the "Authorization: Token" header for this test's calls
        # taskml runs on this machine (127.0.0.1), which Label Studio refuses to call unless told
        "SSRF_PROTECTION_ENABLED": "false",
        "ML_BLOCK_LOCAL_IP": "false",
        "LABEL_STUDIO_BASE_DATA_DIR": str(data),
    }
    for name in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG"):
        env.pop(name, None)  # taskml's settings are not Label Studio's
    log = open(data / "server.log", "w")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        [f"{venv}/bin/label-studio", "start", "--no-browser", "--port", str(port), "--host", url,
         "--data-dir", str(data), "--username", "admin@example.com", "--password", "not-a-secret-42",
         "--user-token", LS_TOKEN, "--enable-legacy-api-token"],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 300  # first start migrates a new SQLite database
        while True:
            try:
                if requests.get(f"{url}/health", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"Label Studio did not start: {(data / 'server.log').read_text()[-2000:]}")
            time.sleep(1)
        session = requests.Session()
        session.headers["Authorization"] = f"Token {LS_TOKEN}"
        yield url, session
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the server and its workers: the session this test started
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def ls(session, method: str, url: str, **kwargs):
    response = session.request(method, url, timeout=300, **kwargs)
    assert response.status_code < 300, f"{method} {url}: {response.status_code} {response.text[:500]}"
    return response.json() if response.content else None


def test_label_studio_gets_taskml_predictions_and_sends_annotations(
    label_studio, live_server, celery_worker, alice, client_for, megamind, mega_features
):
    ls_url, session = label_studio
    video, model = trained_on_megamind(alice, client_for(alice), megamind=megamind, mega_features=mega_features)
    token = Token.objects.get_or_create(user=alice)[0].key

    project = ls(session, "POST", f"{ls_url}/api/projects/", json={"title": "taskml megamind",
                 "label_config": CONFIG.format(rate="23.976")})  # fmt: skip
    pid = project["id"]
    # The task names the video by URL; its file name is what matches it to the upload in taskml.
    ls(session, "POST", f"{ls_url}/api/projects/{pid}/import",
       json=[{"data": {"video": f"{live_server.url}/media/videos/Megamind.avi"}}])  # fmt: skip
    task = ls(session, "GET", f"{ls_url}/api/tasks/", params={"project": pid})["tasks"][0]

    # A wrong API token is refused (Label Studio reports the connection as failing) ...
    bad = session.post(f"{ls_url}/api/ml/", json={"project": pid, "url": f"{live_server.url}/ls-backend/{model.pk}",
                       "title": "taskml", "auth_method": "BASIC_AUTH", "basic_auth_user": "alice",
                       "basic_auth_pass": "0" * 40}, timeout=120)  # fmt: skip
    assert bad.status_code >= 400 or bad.json().get("state") != "CO", bad.text[:300]
    if bad.status_code < 300:
        session.delete(f"{ls_url}/api/ml/{bad.json()['id']}", timeout=60)
    # ... the user name with the API token connects.
    backend = ls(session, "POST", f"{ls_url}/api/ml/", json={
        "project": pid, "url": f"{live_server.url}/ls-backend/{model.pk}", "title": "taskml",
        "auth_method": "BASIC_AUTH", "basic_auth_user": "alice", "basic_auth_pass": token})  # fmt: skip
    assert backend["state"] == "CO", backend  # connected: health and setup answered

    ls(session, "POST", f"{ls_url}/api/dm/actions", params={"id": "retrieve_tasks_predictions", "project": pid},
       json={"selectedItems": {"all": True, "excluded": []}})  # fmt: skip
    predictions = ls(session, "GET", f"{ls_url}/api/predictions/", params={"task": task["id"]})
    assert len(predictions) == 1, predictions
    prediction = predictions[0]
    assert prediction["model_version"] == f"{model.filename}@v{model.version}"
    stored = sorted(
        (r["value"]["ranges"][0]["start"], r["value"]["ranges"][0]["end"], r["value"]["timelinelabels"][0])
        for r in prediction["result"]
    )
    expected = [(s.start + 1, s.end + 1, s.label) for s in video_predicted_spans(
        model=model, video=Video.objects.get(pk=video["id"]))]  # fmt: skip
    assert stored == expected and len(expected) >= 2  # Label Studio frame n = taskml frame n - 1
    assert 0 < prediction["score"] <= 1

    # An annotation made in Label Studio comes back through its webhook and replaces the labels.
    ls(session, "POST", f"{ls_url}/api/webhooks/", json={
        "project": pid, "url": f"{live_server.url}/ls-backend/{model.pk}/webhook", "send_payload": True,
        "send_for_all_actions": False, "actions": ["ANNOTATION_CREATED"],
        "headers": {"Authorization": f"Token {token}"},
    })  # fmt: skip
    result = [{"id": "a1", "type": "timelinelabels", "from_name": "videoLabels", "to_name": "video", "origin": "manual",
               "value": {"ranges": [{"start": 11, "end": 60}], "timelinelabels": ["talking"]}}]  # fmt: skip
    ls(session, "POST", f"{ls_url}/api/tasks/{task['id']}/annotations/", json={"result": result})
    deadline = time.monotonic() + 60
    while not LabelSpan.objects.filter(video_id=video["id"], source="import:label_studio").exists():
        assert time.monotonic() < deadline, "the webhook never imported the annotation"
        time.sleep(0.5)
    spans = list(LabelSpan.objects.filter(video_id=video["id"]).values_list("start_frame", "end_frame", "label"))
    assert spans == [(10, 59, "talking")]
