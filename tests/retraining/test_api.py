"""The policy API's refusals and ownership (no worker: requests that are refused, or queued and left)."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.retraining.conftest import policy_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def videos(alice, make_video):
    return [make_video(alice, name) for name in ("api_a", "api_b", "api_h")]


def _create(client, videos, **extra):
    a, b, held = videos
    return client.post("/api/v1/retrain-policies/", policy_body([a, b], [held], **extra), format="json")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"margin": 2}, "margin"),
        ({"margin": -0.1}, "margin"),
        ({"name": "  "}, "name"),
        ({"schedule_crontab": "every day"}, "schedule_crontab"),
        ({"schedule_crontab": "61 * * * *"}, "schedule_crontab"),
        ({"schedule_interval_seconds": 0}, "schedule_interval_seconds"),
        ({"schedule_interval_seconds": 60, "schedule_crontab": "0 3 * * *"}, "schedule_crontab"),
        ({"min_new_labels": -1}, "min_new_labels"),
        ({"detector": "sonar"}, "detector"),
        ({"model_type": "svm"}, "model_type"),
        ({"aggregation": "median"}, "aggregation"),
        ({"model_params": {"n_estimators": 0}}, "n_estimators"),
        ({"dataset_params": {"window_sec": -1}}, "window_sec"),
        ({"dataset_params": {"train_ratio": 0.9, "val_ratio": 0.5, "test_ratio": 0.1}}, "train_ratio"),
        ({"holdout_videos": []}, "holdout_videos"),
        ({"training_videos": []}, "training_videos"),
        ({"holdout_videos": "x"}, "holdout_videos"),
        ({"margin": "lots"}, "margin"),
    ],
)
def test_bad_input_is_400_naming_the_field(alice, client_for, videos, change, field):
    from retraining.models import RetrainPolicy

    r = _create(client_for(alice), videos, **change)
    assert r.status_code == 400, r.content
    body = r.json()
    assert field in body or field in body.get("dataset_params", {}), body  # dataset fields are checked in place
    assert not RetrainPolicy.objects.exists()  # nothing half-written


def test_holdout_is_disjoint_and_frozen(alice, client_for, videos):
    from django_celery_beat.models import PeriodicTask

    client = client_for(alice)
    a, b, held = videos
    r = client.post("/api/v1/retrain-policies/", policy_body([a, held], [held]), format="json")
    assert r.status_code == 400 and "training_videos" in r.json()
    assert "api_h.avi" in r.json()["training_videos"][0]
    r = _create(client, videos, schedule_interval_seconds=600)
    assert r.status_code == 201, r.content
    policy = r.json()
    assert policy["holdout_videos"] == [held.pk] and policy["training_videos"] == [a.pk, b.pk]
    assert policy["periodic_task"] and PeriodicTask.objects.filter(name=policy["periodic_task"]).exists()
    url = f"/api/v1/retrain-policies/{policy['id']}/"
    r = client.patch(url, {"holdout_videos": [a.pk]}, format="json")
    assert r.status_code == 400 and "holdout_videos" in r.json()
    r = client.patch(url, {"training_videos": [a.pk, held.pk]}, format="json")
    assert r.status_code == 400 and "training_videos" in r.json()
    # Leaving training to "all my labelled videos" still leaves the held-out one out.
    r = client.patch(url, {"training_videos": None, "margin": 0.05, "dataset_params": {"step_sec": 0.2}}, format="json")
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["training_scope"] == "all" and body["margin"] == 0.05
    assert body["dataset_params"]["step_sec"] == 0.2 and body["dataset_params"]["window_sec"] == 1.0  # kept
    from retraining.models import RetrainPolicy
    from retraining.selectors import policy_training_videos

    assert [v.pk for v in policy_training_videos(RetrainPolicy.objects.get(pk=policy["id"]))] == [a.pk, b.pk]
    r = _create(client, videos)
    assert r.status_code == 400 and "name" in r.json()  # one name per owner
    # A held-out video cannot be deleted out from under its policy, not even with cascade.
    for query in ("", "?cascade=true"):
        r = client.delete(f"/api/v1/videos/{held.pk}/{query}")
        assert r.status_code == 409 and "held out by retraining policy" in r.json()["detail"], r.content
    assert RetrainPolicy.objects.get(pk=policy["id"]).holdout_videos.get() == held
    assert client.delete(url).status_code == 204
    assert client.delete(f"/api/v1/videos/{held.pk}/?cascade=true").status_code == 204


def test_another_users_policies_runs_and_videos_are_404(alice, bob, client_for, videos, make_video):
    alice_client, bob_client = client_for(alice), client_for(bob)
    policy = _create(alice_client, videos).json()
    url = f"/api/v1/retrain-policies/{policy['id']}/"
    assert alice_client.post(f"{url}run/").status_code == 202
    for response in (
        bob_client.get(url),
        bob_client.patch(url, {"margin": 0.1}, format="json"),
        bob_client.delete(url),
        bob_client.post(f"{url}run/"),
        bob_client.post(f"{url}rollback/"),
        bob_client.post(f"{url}promote/", {"model": 1}, format="json"),
    ):
        assert response.status_code == 404, response.content
    assert bob_client.get("/api/v1/retrain-policies/").json()["count"] == 0
    assert bob_client.get("/api/v1/retrain-runs/").json()["count"] == 0
    assert bob_client.get("/api/v1/promotions/").json()["count"] == 0
    # bob cannot name alice's videos in his own policy
    bob_video = make_video(bob, "bobs")
    r = bob_client.post("/api/v1/retrain-policies/", policy_body([bob_video], [videos[2]]), format="json")
    assert r.status_code == 404 and r.json()["detail"].startswith("holdout_videos:")
    # nor follow alice's policy in a live session
    r = bob_client.post("/api/v1/live-sessions/", {"policy": policy["id"], "source": "push"}, format="json")
    assert r.status_code == 404 and r.json()["detail"].startswith("policy:")
    assert alice_client.get("/api/v1/retrain-runs/").json()["count"] == 1


def _model(owner):
    """A registry row as a finished training leaves it (promotion never loads the artifact)."""
    from tests.api.factories import ready_dataset, ready_model

    model = ready_model(owner, dataset=ready_dataset(owner))
    model.sha256 = "a" * 64
    model.save(update_fields=["sha256"])
    return model


def test_refusals_on_runs_promotions_and_rollbacks(alice, bob, client_for, videos):

    client = client_for(alice)
    policy = _create(client, videos).json()
    url = f"/api/v1/retrain-policies/{policy['id']}/"
    assert client.post(f"{url}run/").status_code == 202
    r = client.post(f"{url}run/")  # one run at a time (the first is still queued)
    assert r.status_code == 409 and "in progress" in r.json()["detail"]
    r = client.post(f"{url}rollback/")
    assert r.status_code == 409 and "no champion" in r.json()["detail"]
    r = client.post(f"{url}promote/", {}, format="json")
    assert r.status_code == 400 and "model" in r.json()
    bobs = _model(bob)
    assert client.post(f"{url}promote/", {"model": bobs.pk}, format="json").status_code == 404
    mine = _model(alice)
    r = client.post(f"{url}promote/", {"model": mine.pk}, format="json")
    assert r.status_code == 200 and r.json()["action"] == "manual" and r.json()["previous"] is None
    r = client.post(f"{url}promote/", {"model": mine.pk}, format="json")
    assert r.status_code == 409 and "champion already" in r.json()["detail"]
    r = client.post("/api/v1/live-sessions/", {"source": "push"}, format="json")
    assert r.status_code == 400 and "model" in r.json()


def test_commands_print_one_line_errors(alice, videos):
    from retraining.models import Promotion, RetrainPolicy
    from retraining.services import retrain_policy_create

    a, b, held = videos
    body = policy_body([a, b], [held])
    body.pop("training_videos"), body.pop("holdout_videos")
    policy = retrain_policy_create(owner=alice, training_videos=[a, b], holdout_videos=[held], **body)
    with pytest.raises(CommandError, match="policy: no retraining policy 'nope'"):
        call_command("retrain", "--policy", "nope")
    with pytest.raises(CommandError, match="no champion to roll back"):
        call_command("rollback_model", "--policy", "mega")
    with pytest.raises(CommandError, match="model: no model '999'"):
        call_command("promote_model", "--policy", str(policy.pk), "--model", "999")
    first, second = _model(alice), _model(alice)
    call_command("promote_model", "--policy", "mega", "--model", str(first.pk))
    call_command("promote_model", "--policy", "mega", "--model", second.filename, "--reason", "newer")
    call_command("rollback_model", "--policy", "mega")
    assert RetrainPolicy.objects.get(pk=policy.pk).champion_id == first.pk
    assert list(Promotion.objects.order_by("id").values_list("action", flat=True)) == ["manual", "manual", "rollback"]
    call_command("retrain", "--policy", "mega")  # queued (no worker here: it waits in the broker)
    with pytest.raises(CommandError, match="in progress"):
        call_command("retrain", "--policy", "mega")


def test_admin_pages_and_actions(alice, videos):
    from django.contrib.auth.models import User
    from django.test import Client

    from retraining.models import Promotion, RetrainRun
    from retraining.services import retrain_policy_create, retrain_policy_promote

    a, b, held = videos
    body = policy_body([a, b], [held], schedule_interval_seconds=3600)
    body.pop("training_videos"), body.pop("holdout_videos")
    policy = retrain_policy_create(owner=alice, training_videos=[a, b], holdout_videos=[held], **body)
    retrain_policy_promote(policy=policy, model=_model(alice), user=alice)
    admin = Client()
    admin.force_login(User.objects.create_superuser("root", "root@example.com", "root-password-1"))
    for path in (
        "/admin/retraining/retrainpolicy/",
        f"/admin/retraining/retrainpolicy/{policy.pk}/change/",
        "/admin/retraining/promotion/",
    ):
        r = admin.get(path)
        assert r.status_code == 200, path
        assert b"mega" in r.content
    r = admin.get(f"/admin/retraining/retrainpolicy/{policy.pk}/change/")
    assert b"api_h.avi" in r.content and b"every 3600 s" in r.content
    changelist = "/admin/retraining/retrainpolicy/"
    r = admin.post(changelist, {"action": "run_now", "_selected_action": [policy.pk]}, follow=True)
    assert b"queued" in r.content and RetrainRun.objects.filter(policy=policy).count() == 1
    run = RetrainRun.objects.get(policy=policy)
    assert admin.get(f"/admin/retraining/retrainrun/{run.pk}/change/").status_code == 200
    assert b"mega" in admin.get("/admin/retraining/retrainrun/").content
    r = admin.post(changelist, {"action": "roll_back", "_selected_action": [policy.pk]}, follow=True)
    assert b"nothing to roll back" in r.content  # one promotion only: reported, nothing changed
    assert Promotion.objects.filter(policy=policy).count() == 1
    r = admin.post(f"/admin/retraining/retrainpolicy/{policy.pk}/delete/", {"post": "yes"}, follow=True)
    assert r.status_code == 200 and not type(policy).objects.filter(pk=policy.pk).exists()


@pytest.mark.parametrize(
    ("margin", "champion_f1", "challenger_f1", "decision"),
    [
        (0.0, 0.80, 0.80, "kept"),  # equal is not better
        (0.0, 0.80, 0.81, "promoted"),
        (0.05, 0.80, 0.84, "kept"),  # better, but by less than the margin
        (0.05, 0.80, 0.85, "promoted"),
        (0.05, 0.80, 0.60, "kept"),
    ],
)
def test_promotion_needs_the_margin(alice, videos, margin, champion_f1, challenger_f1, decision):
    from retraining.models import Promotion, RetrainPolicy, RetrainRun
    from retraining.services import _decide, retrain_policy_create, retrain_policy_promote

    a, b, held = videos
    body = policy_body([a, b], [held], margin=margin)
    body.pop("training_videos"), body.pop("holdout_videos")
    policy = retrain_policy_create(owner=alice, training_videos=[a, b], holdout_videos=[held], **body)
    champion, challenger = _model(alice), _model(alice)
    retrain_policy_promote(policy=policy, model=champion, user=alice)
    run = RetrainRun.objects.create(policy=policy, owner=alice, trigger="manual", status="running")
    made, reason = _decide(
        policy=policy, run=run, champion=champion, challenger=challenger,
        champion_metrics={"f1_macro": champion_f1}, challenger_metrics={"f1_macro": challenger_f1},
    )  # fmt: skip
    assert made == decision, reason
    expected = challenger if decision == "promoted" else champion
    assert RetrainPolicy.objects.get(pk=policy.pk).champion_id == expected.pk
    assert Promotion.objects.filter(policy=policy, run=run).exists() == (decision == "promoted")


def test_a_policy_without_a_model_trains_the_pipelines_default(alice, videos):
    from retraining.services import _model_config, retrain_policy_create
    from taskml.pipeline import training

    a, b, held = videos
    body = policy_body([a, b], [held], model_type="", aggregation="", model_params={})
    body.pop("training_videos"), body.pop("holdout_videos")
    policy = retrain_policy_create(owner=alice, training_videos=[a, b], holdout_videos=[held], **body)
    model_type, aggregation, _ = _model_config(policy)
    assert (model_type, aggregation) == (
        getattr(training, "DEFAULT_MODEL", "lgbm"),
        getattr(training, "DEFAULT_AGGREGATION", "stats"),
    )
