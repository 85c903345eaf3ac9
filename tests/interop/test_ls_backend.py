"""/ls-backend/ as Label Studio calls it (the real server is in test_label_studio.py): the two
ways to authenticate, the project's frame rate, a policy's champion, webhooks, refusals."""

from __future__ import annotations

import base64
import json

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from models_app.predictions import video_predicted_spans
from retraining.models import RetrainPolicy, RetrainRun
from tests.interop.conftest import trained_on_megamind
from videos.models import LabelSpan, Video

pytestmark = pytest.mark.slow

CONFIG = (
    '<View><Video name="clip" value="$video"{rate}/><TimelineLabels name="task" toName="clip">'
    '<Label value="holding_glass"/><Label value="talking"/></TimelineLabels></View>'
)


def basic(username: str, password: str) -> APIClient:
    client = APIClient()
    raw = base64.b64encode(f"{username}:{password}".encode()).decode()
    client.credentials(HTTP_AUTHORIZATION=f"Basic {raw}")
    return client


@pytest.fixture
def trained(alice, client_for, megamind, mega_features):
    video, model = trained_on_megamind(alice, client_for(alice), megamind=megamind, mega_features=mega_features)
    return video, model, Token.objects.get_or_create(user=alice)[0].key


def post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


def test_authentication_and_ownership(trained, bob, client_for):
    video, model, token = trained
    assert basic("alice", token).get(f"/ls-backend/{model.pk}/health").json()["status"] == "UP"
    assert client_for(model.owner).get(f"/ls-backend/{model.pk}/health/").status_code == 200
    assert basic("alice", "0" * 40).get(f"/ls-backend/{model.pk}/health").status_code == 401
    assert basic("bob", token).get(f"/ls-backend/{model.pk}/health").status_code == 401  # alice's token, bob's name
    assert basic("alice", "alice-password-1").get(f"/ls-backend/{model.pk}/health").status_code == 401  # no passwords
    assert APIClient().get(f"/ls-backend/{model.pk}/health").status_code in (401, 403)
    assert client_for(bob).get(f"/ls-backend/{model.pk}/health").status_code == 404
    setup = post(basic("alice", token), f"/ls-backend/{model.pk}/setup", {"project": "1.1", "schema": CONFIG})
    assert setup.json() == {"model_version": f"{model.filename}@v{model.version}"}


def test_predict_counts_frames_at_the_projects_frame_rate(trained):
    video, model, token = trained
    client = basic("alice", token)
    spans = video_predicted_spans(model=model, video=Video.objects.get(pk=video["id"]))
    tasks = [{"id": 1, "data": {"video": "/data/upload/4/8a7b6c5d-Megamind.avi"}},
             {"id": 2, "data": {"video": "/data/upload/4/other.mp4"}}]  # fmt: skip
    # frameRate="23.976" (the video's): Label Studio frame n is taskml frame n - 1
    answer = post(client, f"/ls-backend/{model.pk}/predict", {"tasks": tasks, "label_config": CONFIG.format(
        rate=' frameRate="23.976"')}).json()  # fmt: skip
    first, second = answer["results"]
    assert [(r["value"]["ranges"][0]["start"], r["value"]["ranges"][0]["end"]) for r in first["result"]] == [
        (s.start + 1, s.end + 1) for s in spans]  # fmt: skip
    assert {r["from_name"] for r in first["result"]} == {"task"} and {r["to_name"] for r in first["result"]} == {"clip"}
    assert second["result"] == [] and "no uploaded video" in second["error"]
    # no frameRate: Label Studio counts at 24 fps, so frame numbers move by 24 / 23.976 (through time)
    answer = post(client, f"/ls-backend/{model.pk}/predict", {"tasks": tasks[:1], "label_config": CONFIG.format(
        rate="")}).json()  # fmt: skip
    last = answer["results"][0]["result"][-1]["value"]["ranges"][0]
    assert last["end"] == round(270 * 125 / 2997 * 24) == 270
    assert post(client, f"/ls-backend/{model.pk}/predict", {"tasks": "x"}).status_code == 400
    bad = post(client, f"/ls-backend/{model.pk}/predict", {"tasks": tasks, "label_config": "<View><!ENTITY"})
    assert bad.status_code == 400 and "label_config" in bad.json()


def test_policy_champion_webhooks_and_training(trained, alice):
    video, model, token = trained
    client = basic("alice", token)
    policy = RetrainPolicy.objects.create(owner=alice, name="p", labels_since=timezone.now())
    assert client.get(f"/ls-backend/policy/{policy.pk}/health").status_code == 409  # no champion yet
    RetrainPolicy.objects.filter(pk=policy.pk).update(champion=model)
    assert client.get(f"/ls-backend/policy/{policy.pk}/versions").json() == {
        "versions": [f"{model.filename}@v{model.version}"]}  # fmt: skip

    annotation = {"id": 9, "result": [{"type": "timelinelabels", "from_name": "task", "to_name": "clip",
                  "value": {"ranges": [{"start": 11, "end": 60}], "timelinelabels": ["talking"]}}]}  # fmt: skip
    task = {"id": 1, "data": {"video": "/data/upload/4/ab-Megamind.avi"}}
    project = {"label_config": CONFIG.format(rate=' frameRate="23.976"')}
    event = {"action": "ANNOTATION_CREATED", "task": task, "annotation": annotation, "project": project}
    answer = post(client, f"/ls-backend/policy/{policy.pk}/webhook", event)
    assert answer.status_code == 200, answer.content
    assert list(LabelSpan.objects.filter(video_id=video["id"]).values_list("start_frame", "end_frame", "label",
                "source")) == [(10, 59, "talking", "import:label_studio")]  # fmt: skip
    assert post(client, f"/ls-backend/{model.pk}/webhook", {"action": "PROJECT_UPDATED"}).json()["status"] == "ignored"

    started = post(client, f"/ls-backend/policy/{policy.pk}/webhook", {"action": "START_TRAINING"}).json()
    assert started["status"] == "started" and RetrainRun.objects.filter(pk=started["run"], policy=policy).exists()
    assert "no retraining policy" in post(client, f"/ls-backend/{model.pk}/train", {}).json()["status"]
