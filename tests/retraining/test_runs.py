"""Runs on a real worker, real PostgreSQL and real MediaPipe features: promote, keep, margin, holdout, history."""

from __future__ import annotations

import json

import pytest

from tests.retraining.conftest import policy_body, swap_labels, wait_run

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _run(client, policy_id: int):
    r = client.post(f"/api/v1/retrain-policies/{policy_id}/run/")
    assert r.status_code == 202, r.content
    return wait_run(r.json()["id"])


def test_champion_challenger_lifecycle(celery_worker, alice, client_for, make_video):
    from datasets.models import Dataset
    from retraining.models import Promotion, RetrainPolicy
    from taskml import storage

    client = client_for(alice)
    a, b, c, held = (make_video(alice, name) for name in ("mega_a", "mega_b", "mega_c", "mega_h"))
    r = client.post("/api/v1/retrain-policies/", policy_body([a, b, c], [held], margin=0.02), format="json")
    assert r.status_code == 201, r.content
    policy_id = r.json()["id"]
    assert r.json()["champion"] is None

    # 1. The first run promotes its challenger: there is no champion yet.
    first = _run(client, policy_id)
    assert first.decision == "promoted", first.reason
    assert "no champion yet" in first.reason
    policy = RetrainPolicy.objects.get(pk=policy_id)
    assert policy.champion_id == first.challenger_id
    assert first.challenger.status == "succeeded" and len(first.challenger.sha256) == 64
    assert first.challenger.dataset_id == first.dataset_id
    assert first.challenger_metrics["windows"] > 20 and first.challenger_metrics["f1_macro"] > 0.9
    assert first.champion_metrics == {}
    # The dataset is a normal one (listed, built, on disk) and never saw the held-out video.
    metadata = json.loads((storage.absolute(first.dataset.path) / "metadata.json").read_text())
    in_splits = {v for members in metadata["splits"].values() for v in members}
    assert in_splits == {"mega_a", "mega_b", "mega_c"}
    assert "mega_h" not in {s["video_id"] for s in metadata["sources"]}
    listed = client.get("/api/v1/datasets/").json()["results"]
    assert first.dataset_id in [d["id"] for d in listed]
    assert Dataset.objects.get(pk=first.dataset_id).status == "succeeded"
    # The labels came from the spans: the run relabelled the feature files first.
    assert a.feature_files.get().label_distribution == {"holding_glass": 143, "talking": 126}

    # 2. Same data again: the challenger equals the champion, short of the margin → kept.
    second = _run(client, policy_id)
    assert second.decision == "kept", second.reason
    assert second.champion_before_id == first.challenger_id
    gain = second.challenger_metrics["f1_macro"] - second.champion_metrics["f1_macro"]
    assert gain < 0.02 and "champion kept" in second.reason
    assert RetrainPolicy.objects.get(pk=policy_id).champion_id == first.challenger_id

    # 3. Poisoned labels on the training videos: a worse challenger on the same holdout → kept.
    for video in (a, b, c):
        swap_labels(video)
    third = _run(client, policy_id)
    assert third.decision == "kept", third.reason
    assert third.new_labels == 12  # 4 spans × 3 videos changed since the last run
    assert third.challenger_metrics["f1_macro"] < third.champion_metrics["f1_macro"] - 0.5
    assert third.champion_metrics["windows"] == third.challenger_metrics["windows"]  # the same frozen windows
    assert RetrainPolicy.objects.get(pk=policy_id).champion_id == first.challenger_id

    # 4. Promotion by hand (an older or worse model too), rollback, and rollback of the rollback's base.
    r = client.post(f"/api/v1/retrain-policies/{policy_id}/promote/", {"model": third.challenger_id}, format="json")
    assert r.status_code == 200, r.content
    assert r.json()["action"] == "manual" and r.json()["previous"] == first.challenger_id
    assert RetrainPolicy.objects.get(pk=policy_id).champion_id == third.challenger_id
    r = client.post(f"/api/v1/retrain-policies/{policy_id}/rollback/", {"reason": "bad labels"}, format="json")
    assert r.status_code == 200, r.content
    assert r.json()["model"] == first.challenger_id and r.json()["previous"] == third.challenger_id
    assert RetrainPolicy.objects.get(pk=policy_id).champion_id == first.challenger_id
    # The first champion replaced nothing: there is nothing further back.
    r = client.post(f"/api/v1/retrain-policies/{policy_id}/rollback/")
    assert r.status_code == 409 and "first champion" in r.json()["detail"]
    # Undo the rollback: promote the rolled-back model again.
    r = client.post(f"/api/v1/retrain-policies/{policy_id}/promote/", {"model": third.challenger_id}, format="json")
    assert r.status_code == 200
    actions = list(Promotion.objects.filter(policy_id=policy_id).order_by("at", "id").values_list("action", "model"))
    assert actions == [
        ("promote", first.challenger_id),
        ("manual", third.challenger_id),
        ("rollback", first.challenger_id),
        ("manual", third.challenger_id),
    ]
    history = client.get(f"/api/v1/promotions/?policy={policy_id}").json()
    assert history["count"] == 4 and history["results"][0]["user"] == "alice"
    runs = client.get(f"/api/v1/retrain-runs/?policy={policy_id}").json()
    assert [run["decision"] for run in runs["results"]] == ["kept", "kept", "promoted"]


def test_incremental_boosting_is_compared_with_a_full_retrain(celery_worker, alice, client_for, make_video):
    from videos.services import label_span_update

    client = client_for(alice)
    a, b, c, held = (make_video(alice, name) for name in ("inc_a", "inc_b", "inc_c", "inc_h"))
    body = policy_body([a, b, c], [held], incremental=True, name="incremental")
    policy_id = client.post("/api/v1/retrain-policies/", body, format="json").json()["id"]
    first = _run(client, policy_id)
    assert first.decision == "promoted"
    assert first.incremental["used"] is False and "no champion" in first.incremental["reason"]

    span = a.label_spans.order_by("start_frame").first()
    label_span_update(span=span, end_frame=90)  # a corrected span: new labels
    second = _run(client, policy_id)
    comparison = second.incremental
    assert comparison["used"] is True, comparison
    shown = {side: {k: v for k, v in comparison[side].items() if k != "holdout"} for side in ("incremental", "full")}
    print(f"incremental vs full retrain on the holdout: {shown}")  # the README's figures (pytest -s)
    assert "continued boosting" in comparison["reason"]
    for side in ("incremental", "full"):
        assert set(comparison[side]) >= {"model", "accuracy", "f1_macro", "seconds"}
        assert 0 <= comparison[side]["accuracy"] <= 1 and comparison[side]["seconds"] > 0
    assert second.incremental_model_id == comparison["incremental"]["model"] == second.challenger_id
    assert second.incremental_model.params["init_model"] == first.challenger_id
    assert second.incremental_model.status == "succeeded" and second.incremental_model.sha256

    # A policy whose champion is a forest falls back to a full retrain and says why.
    forest = client.post(
        "/api/v1/retrain-policies/", {**body, "name": "forest", "model_type": "rf"}, format="json"
    ).json()["id"]
    _run(client, forest)
    label_span_update(span=span, end_frame=95)
    fallback = _run(client, forest).incremental
    assert fallback["used"] is False and "only LightGBM" in fallback["reason"] and "full retrain" in fallback["reason"]


def test_the_retrain_command_waits_for_the_decision(celery_worker, alice, make_video):
    from io import StringIO

    from django.core.management import call_command

    from retraining.services import retrain_policy_create

    a, b, held = (make_video(alice, name) for name in ("cli_a", "cli_b", "cli_h"))
    body = policy_body([a, b], [held], name="cli policy", model_type="rf")
    body.pop("training_videos"), body.pop("holdout_videos")
    retrain_policy_create(owner=alice, training_videos=[a, b], holdout_videos=[held], **body)
    out = StringIO()
    call_command("retrain", "--policy", "cli policy", "--wait", "--timeout", "300", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("run ") and "queued" in lines[0]
    assert "promoted — no champion yet" in lines[1]


def test_a_run_that_cannot_decide_fails_and_says_why(celery_worker, alice, client_for, make_video):
    from retraining.models import RetrainRun
    from tests.platform import wait_for

    client = client_for(alice)
    a, held = make_video(alice, "fail_a"), make_video(alice, "fail_h")
    held.feature_files.all().delete()  # the held-out video was never extracted
    policy = client.post("/api/v1/retrain-policies/", policy_body([a], [held], name="f"), format="json").json()
    run_id = client.post(f"/api/v1/retrain-policies/{policy['id']}/run/").json()["id"]
    run = wait_for(
        lambda: RetrainRun.objects.filter(pk=run_id, status="failed").select_related("job").first(),
        timeout=120,
        what="the run to fail",
    )
    assert run.job.error_kind == "input" and "no extracted features for held-out video(s) fail_h.avi" in run.job.error
    assert run.decision == "" and run.reason.startswith("no decision") and run.finished_at is not None
    assert client.get(f"/api/v1/retrain-policies/{policy['id']}/").json()["champion"] is None
    # the policy is free again: the next run is accepted (and fails the same way)
    r = client.post(f"/api/v1/retrain-policies/{policy['id']}/run/")
    assert r.status_code == 202
    wait_for(lambda: RetrainRun.objects.filter(pk=r.json()["id"], status="failed").exists(), timeout=120)
