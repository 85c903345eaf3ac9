"""Admin pages of the learning loop: lists, details (the ablation comparison table) and actions that
go through the services (accepting a span writes a LabelSpan; closing a round closes it)."""

from __future__ import annotations

import pytest
from django.test import Client

from learning.models import Ablation, LabellingRound, SuggestedSpan
from tests.api.factories import ready_dataset, ready_feature_file, ready_model
from videos.models import LabelSpan

pytestmark = pytest.mark.django_db

RESULTS = {
    "labels": ["a", "b"],
    "order": ["pose", "fused"],
    "groups": {
        "pose": {"accuracy": 0.5, "f1_macro": 0.4, "per_class_f1": {"a": 0.4, "b": 0.4}, "num_features": 10,
                 "delta_accuracy": -0.25, "delta_f1_macro": -0.3},
        "fused": {"accuracy": 0.75, "f1_macro": 0.7, "per_class_f1": {"a": 0.7, "b": 0.7}, "num_features": 20,
                  "delta_accuracy": 0.0, "delta_f1_macro": 0.0},
    },
    "skipped": {"objects": "the dataset holds no objects columns"},
}  # fmt: skip


@pytest.fixture
def admin_web(db) -> Client:
    from django.contrib.auth.models import User

    client = Client()
    client.force_login(User.objects.create_superuser("root", "root@example.com", "root-password-1"))
    return client


@pytest.fixture
def objects(alice):
    feature_file = ready_feature_file(alice)
    dataset = ready_dataset(alice, feature_file=feature_file)
    model = ready_model(alice, dataset=dataset)
    round_ = LabellingRound.objects.create(owner=alice, model=model, state="open", status="succeeded", spans_shown=1)
    round_.videos.add(feature_file.video)
    span = SuggestedSpan.objects.create(
        round=round_, video=feature_file.video, start_frame=2, end_frame=5, start_time=0.2, end_time=0.6,
        predicted_label="b", confidence=0.55, uncertainty=0.45, rank=1, reasons=["low_confidence"],
    )  # fmt: skip
    ablation = Ablation.objects.create(
        owner=alice, dataset=dataset, model_type="rf", aggregation="stats", status="succeeded", results=RESULTS
    )
    return round_, span, ablation


def test_lists_and_details_load(admin_web, objects):
    round_, span, ablation = objects
    for url in ("/admin/learning/labellinground/", "/admin/learning/suggestedspan/", "/admin/learning/ablation/",
                f"/admin/learning/labellinground/{round_.pk}/change/",
                f"/admin/learning/suggestedspan/{span.pk}/change/"):  # fmt: skip
        assert admin_web.get(url).status_code == 200, url
    page = admin_web.get(f"/admin/learning/ablation/{ablation.pk}/change/").content.decode()
    assert "<td>pose</td><td>10</td><td>0.500</td><td>-0.250</td>" in page
    assert "objects: the dataset holds no objects columns" in page


def test_accept_and_close_actions_go_through_the_services(admin_web, objects):
    round_, span, _ = objects
    r = admin_web.post(
        "/admin/learning/suggestedspan/", {"action": "accept_spans", "_selected_action": [span.pk]}, follow=True
    )
    assert r.status_code == 200
    span.refresh_from_db()
    assert span.status == "accepted" and span.label_span.source == "suggestion"
    assert LabelSpan.objects.filter(video=span.video, start_frame=2, end_frame=5, label="b").exists()
    r = admin_web.post(
        "/admin/learning/labellinground/", {"action": "close_rounds", "_selected_action": [round_.pk]}, follow=True
    )
    round_.refresh_from_db()
    assert round_.state == "closed" and round_.closed_at is not None
    # closing again is refused, and said so
    r = admin_web.post(
        "/admin/learning/labellinground/", {"action": "close_rounds", "_selected_action": [round_.pk]}, follow=True
    )
    assert "only an open round can be closed" in r.content.decode()
