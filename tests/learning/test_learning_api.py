"""The learning loop on real objects: alice's Megamind model on a real worker suggests spans, she decides
them, closes the round with retraining and gets a new model; an ablation of her dataset compares pose,
hands and fused on identical splits. Bob cannot see or act on any of it.

One test groups the assertions around one real extraction (the slow part), as tests/api does.
"""

from __future__ import annotations

import pytest

from jobs.models import Job
from learning.models import Ablation, LabellingRound, SuggestedSpan
from models_app.models import TrainedModel
from tests.conftest import MEGAMIND_LABELS
from tests.platform import wait_for
from videos.models import LabelSpan, Video

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def finished(api, job_id: int, timeout: float = 300) -> dict:
    job = wait_for(
        lambda: (j := api.get(f"/api/v1/jobs/{job_id}/").json())["status"] in Job.TERMINAL and j,
        timeout=timeout,
        what=f"job {job_id}",
    )
    assert job["status"] == "succeeded", job
    return job


def frame_labels(video: Video) -> dict[int, str]:
    labels = {}
    for span in video.label_spans.order_by("start_frame", "id"):
        for frame in range(span.start_frame, span.end_frame + 1):
            labels[frame] = span.label
    return labels


def test_round_decide_retrain_and_ablation_on_a_real_worker(celery_worker, alice, bob, client_for, megamind):
    api = client_for(alice)
    with open(megamind, "rb") as video, open(MEGAMIND_LABELS, "rb") as labels:
        r = api.post(
            "/backend/upload_and_extract_features",
            {"video": video, "labels_csv": labels, "video_id": "mega", "detector_type": "mediapipe", "sample_rate": 2},
            format="multipart",
        )
    assert r.status_code == 200, r.content
    feature_name = r.json()["feature_file"]
    video = Video.objects.get(owner=alice)
    r = api.post(
        "/api/v1/datasets/",
        {"feature_files": [feature_name], "window_sec": 1.0, "step_sec": 0.25,
         "train_ratio": 0.5, "val_ratio": 0.25, "test_ratio": 0.25},
        format="json",
    )  # fmt: skip
    assert r.status_code == 202, r.content
    dataset = r.json()
    finished(api, dataset["job"]["id"])
    r = api.post("/api/v1/models/", {"dataset": dataset["id"], "model_type": "rf", "n_estimators": 30}, format="json")
    assert r.status_code == 202, r.content
    model_id = r.json()["id"]
    finished(api, r.json()["job"]["id"])
    model = TrainedModel.objects.get(pk=model_id)

    # ---- refusals name their field; nothing is written
    bad = api.post("/api/v1/labelling-rounds/", {"model": model_id, "videos": [video.pk], "min_confidence": 3},
                   format="json")  # fmt: skip
    assert bad.status_code == 400 and "min_confidence" in bad.json(), bad.content
    assert api.post("/api/v1/labelling-rounds/", {"model": model_id, "videos": []}, format="json").status_code == 400
    assert LabellingRound.objects.count() == 0

    # ---- a round: every window predicted, uncertain spans ranked
    r = api.post(
        "/api/v1/labelling-rounds/",
        {
            "model": model_id,
            "videos": [video.pk],
            # The model of this 11 s clip is unsure everywhere (its train split holds both shots'
            # classes but few windows): thresholds under its usual confidence leave several spans.
            "min_confidence": 0.75,
            "min_margin": 0.5,
            "max_gap": 0,
            "max_spans": 10,
        },
        format="json",
    )
    assert r.status_code == 202, r.content
    created = r.json()
    assert created["state"] == "suggesting" and created["job"]["kind"] == "suggestions"
    job = finished(api, created["job"]["id"])
    round_id = created["id"]
    got = api.get(f"/api/v1/labelling-rounds/{round_id}/").json()
    assert got["state"] == "open" and got["status"] == "succeeded"
    assert got["accuracy_before"] == pytest.approx(model.accuracy)
    spans = got["spans"]
    assert 3 <= len(spans) <= 10 and got["spans_shown"] == len(spans) == job["outputs"]["spans"]
    assert [s["rank"] for s in spans] == list(range(1, len(spans) + 1))
    uncertainty = [s["uncertainty"] for s in spans]
    assert uncertainty == sorted(uncertainty, reverse=True)
    for s in spans:
        assert s["video"] == video.pk and s["status"] == "open"
        assert 0 <= s["start_frame"] <= s["end_frame"] < video.frame_count
        assert s["start_time"] < s["end_time"]
        assert s["predicted_label"] in {"holding_glass", "talking"}
        assert 0 < s["confidence"] < 0.75 or "small_margin" in s["reasons"] or "unstable" in s["reasons"]
    listed = api.get("/api/v1/suggested-spans/", {"round": round_id, "status": "open"}).json()
    assert [s["id"] for s in listed["results"]] == [s["id"] for s in spans]

    # ---- bob sees none of it and can do nothing with it
    other = client_for(bob)
    assert other.get("/api/v1/labelling-rounds/").json()["count"] == 0
    assert other.get(f"/api/v1/labelling-rounds/{round_id}/").status_code == 404
    assert other.get("/api/v1/suggested-spans/").json()["count"] == 0
    assert other.post(f"/api/v1/suggested-spans/{spans[0]['id']}/accept/").status_code == 404
    assert (
        other.post(f"/api/v1/labelling-rounds/{round_id}/close/", {"retrain": True}, format="json").status_code == 404
    )
    r = other.post("/api/v1/labelling-rounds/", {"model": model_id, "videos": [video.pk]}, format="json")
    assert r.status_code == 404 and "model" in r.json()["detail"], r.content
    assert SuggestedSpan.objects.filter(status="open").count() == len(spans)

    # ---- decide: accept the first, correct the second, reject the third
    first, second, third = spans[:3]
    before = frame_labels(video)
    r = api.post(f"/api/v1/suggested-spans/{first['id']}/accept/")
    assert r.status_code == 200, r.content
    assert r.json()["status"] == "accepted" and r.json()["final_label"] == first["predicted_label"]
    assert r.json()["label_span_source"] == "suggestion"
    other_label = "talking" if second["predicted_label"] == "holding_glass" else "holding_glass"
    assert api.post(f"/api/v1/suggested-spans/{second['id']}/correct/", {"label": ""}, format="json").status_code == 400
    r = api.post(f"/api/v1/suggested-spans/{second['id']}/correct/", {"label": other_label}, format="json")
    assert r.status_code == 200 and r.json()["status"] == "corrected" and r.json()["final_label"] == other_label
    r = api.post(f"/api/v1/suggested-spans/{third['id']}/reject/")
    assert r.status_code == 200 and r.json()["status"] == "rejected" and r.json()["label_span"] is None
    assert api.post(f"/api/v1/suggested-spans/{first['id']}/reject/").status_code == 409  # decided already

    suggestion_spans = LabelSpan.objects.filter(video=video, source="suggestion").order_by("id")
    assert [(s.start_frame, s.end_frame, s.label) for s in suggestion_spans] == [
        (first["start_frame"], first["end_frame"], first["predicted_label"]),
        (second["start_frame"], second["end_frame"], other_label),
    ]
    after = frame_labels(video)
    for frame in range(video.frame_count):  # only the decided frames changed; nothing else was lost
        if first["start_frame"] <= frame <= first["end_frame"]:
            assert after[frame] == first["predicted_label"]
        elif second["start_frame"] <= frame <= second["end_frame"]:
            assert after[frame] == other_label
        else:
            assert after.get(frame) == before.get(frame), frame
    assert LabellingRound.objects.get(pk=round_id).labels_added == 2

    # ---- close with retraining: one job relabels, rebuilds, trains the same configuration
    r = api.post(f"/api/v1/labelling-rounds/{round_id}/close/", {"retrain": True}, format="json")
    assert r.status_code == 202, r.content
    assert r.json()["state"] == "retraining" and r.json()["job"]["kind"] == "labelling_round"
    assert api.post(f"/api/v1/suggested-spans/{spans[3]['id']}/accept/").status_code == 409  # round closed
    outputs = finished(api, r.json()["job"]["id"], timeout=600)["outputs"]
    got = api.get(f"/api/v1/labelling-rounds/{round_id}/").json()
    assert got["state"] == "closed" and got["closed_at"]
    retrained = TrainedModel.objects.get(pk=got["retrained_model"])
    assert retrained.status == "succeeded" and retrained.version > model.version
    assert (retrained.model_type, retrained.aggregation, retrained.params) == (
        model.model_type, model.aggregation, model.params,
    )  # fmt: skip
    assert retrained.dataset_id != model.dataset_id and retrained.dataset.status == "succeeded"
    assert retrained.dataset.params == model.dataset.params
    assert list(retrained.dataset.sources.all()) == list(model.dataset.sources.all())
    assert got["accuracy_after"] == pytest.approx(retrained.accuracy) and got["accuracy_after"] is not None
    assert got["accuracy_before"] == pytest.approx(model.accuracy)
    assert outputs["model_id"] == retrained.pk
    assert api.get(f"/api/v1/models/{retrained.pk}/").json()["status"] == "succeeded"
    # the rebuilt dataset learnt the round's labels: the relabelled feature file holds them
    feature_file = model.dataset.sources.get()
    feature_file.refresh_from_db()
    assert sum(feature_file.label_distribution.values()) == feature_file.num_labeled > 0

    # ---- ablation of the same dataset: pose, hands, fused on identical splits
    bad = api.post("/api/v1/ablations/", {"dataset": dataset["id"], "groups": ["feet"]}, format="json")
    assert bad.status_code == 400 and "groups" in bad.json()
    assert other.post("/api/v1/ablations/", {"dataset": dataset["id"]}, format="json").status_code == 404
    r = api.post(
        "/api/v1/ablations/",
        {"dataset": dataset["id"], "model_type": "rf", "n_estimators": 30, "groups": ["pose", "hands", "objects"]},
        format="json",
    )
    assert r.status_code == 202, r.content
    ablation_id = r.json()["id"]
    finished(api, r.json()["job"]["id"], timeout=600)
    results = api.get(f"/api/v1/ablations/{ablation_id}/").json()["results"]
    assert results["order"] == ["pose", "hands", "fused"]
    assert "objects" in results["skipped"]  # MediaPipe only: objects were never looked for
    assert len({g["splits_digest"] for g in results["groups"].values()}) == 1
    fused = results["groups"]["fused"]
    for name in ("pose", "hands"):
        group = results["groups"][name]
        assert 0 <= group["accuracy"] <= 1
        assert group["delta_accuracy"] == pytest.approx(group["accuracy"] - fused["accuracy"])
        # Scored classes only: one the tiny test split lacks (and nobody predicted) has no F1.
        assert group["per_class_f1"] and set(group["per_class_f1"]) <= {"holding_glass", "talking"}
    assert other.get(f"/api/v1/ablations/{ablation_id}/").status_code == 404
    assert other.delete(f"/api/v1/ablations/{ablation_id}/").status_code == 404
    assert other.get("/api/v1/ablations/").json()["count"] == 0
    assert api.delete(f"/api/v1/ablations/{ablation_id}/").status_code == 204
    assert not Ablation.objects.exists()

    # ---- the CLI: a round from the command line prints its ranked spans
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command(
        "suggest_spans", "--model", model.filename, "--video", str(video.pk), "--threshold", "0.99",
        "--min-margin", "0.98", "--max-gap", "0", "--max-spans", "5", stdout=out,
    )  # fmt: skip
    cli_round = LabellingRound.objects.exclude(pk=round_id).get()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith(f"round {cli_round.pk} of {model.filename}")
    ranked = list(cli_round.spans.order_by("rank"))
    assert 1 <= len(ranked) <= 5 and cli_round.state == "open"
    assert [int(line.split()[0]) for line in lines[2:]] == [s.rank for s in ranked]
    assert [int(line.split()[1]) for line in lines[2:]] == [s.pk for s in ranked]
