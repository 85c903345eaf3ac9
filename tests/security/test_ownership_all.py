"""Object-level ownership for every resource in the OpenAPI schema, driven by the schema itself:
for each collection, bob's list does not show alice's object and every operation on her object's
id (read, update, delete, each action) answers 404 to him; staff see it. A resource added to the
API without a seed here fails the test, so new resources cannot slip through unchecked.

(The end-to-end version on real extracted objects is tests/api/test_ownership.py.)
"""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from jobs.models import Job
from streaming.models import LiveSession
from tests.api.factories import job_row, ready_dataset, ready_feature_file, ready_model, video_row
from videos.models import LabelSpan

pytestmark = pytest.mark.django_db


def seed(owner) -> dict[str, object]:
    """One object of each resource, owned by ``owner``, keyed by the collection's URL segment."""
    from learning.models import Ablation, LabellingRound, SuggestedSpan
    from retraining.models import Promotion, RetrainPolicy, RetrainRun

    video = video_row(owner, name="seeded")
    feature_file = ready_feature_file(owner, video=video, name="seeded_features.parquet")
    dataset = ready_dataset(owner, feature_file=feature_file)
    model = ready_model(owner, dataset=dataset)
    labelling_round = LabellingRound.objects.create(owner=owner, model=model)
    labelling_round.videos.add(video)
    policy = RetrainPolicy.objects.create(owner=owner, name="nightly", dataset_params={}, labels_since=timezone.now())
    return {
        "videos": video,
        "label-spans": LabelSpan.objects.create(video=video, start_frame=0, end_frame=2, label="a"),
        "feature-files": feature_file,
        "datasets": dataset,
        "models": model,
        "jobs": job_row(owner, target=dataset, status=Job.Status.FAILED),
        "live-sessions": LiveSession.objects.create(owner=owner, trained_model=model, source_kind="push"),
        "labelling-rounds": labelling_round,
        "suggested-spans": SuggestedSpan.objects.create(
            round=labelling_round,
            video=video,
            start_frame=0,
            end_frame=3,
            start_time=0,
            end_time=0.3,
            predicted_label="a",
            confidence=0.4,
            uncertainty=0.6,
            rank=1,
        ),  # fmt: skip
        "ablations": Ablation.objects.create(owner=owner, dataset=dataset, model_type="rf", aggregation="stats"),
        "retrain-policies": policy,
        "retrain-runs": RetrainRun.objects.create(policy=policy, owner=owner, trigger="manual", status="failed"),
        "promotions": Promotion.objects.create(policy=policy, owner=owner, model=model, action="promote"),
    }


# Not collections of objects: a report about the caller alone (that it counts only the caller's
# objects is checked in tests/api/test_limits.py).
NOT_COLLECTIONS = {"usage"}


def schema_operations(client) -> dict[str, list[tuple[str, str]]]:
    """resource → [(method, path template)] for every operation on one object (``{id}`` paths)."""
    schema = client.get("/api/v1/schema/?format=json").json()
    found: dict[str, list[tuple[str, str]]] = {}
    for path, operations in schema["paths"].items():
        match = re.match(r"^/api/v1/([\w-]+)/", path)
        if not match or match.group(1) == "schema":
            continue
        for method in operations:
            if method in ("get", "post", "put", "patch", "delete"):
                found.setdefault(match.group(1), []).append((method, path))
    return found


def test_every_resource_is_owned(alice, bob, staff_user, client_for):
    objects = seed(alice)
    alice_api, bob_api, staff_api = client_for(alice), client_for(bob), client_for(staff_user)
    operations = schema_operations(alice_api)
    collections = {r for r, ops in operations.items() if ("get", f"/api/v1/{r}/") in ops} - NOT_COLLECTIONS
    missing = collections - set(objects)
    assert not missing, f"new resources without an ownership check: add a seed for {sorted(missing)}"

    failures = []
    for resource in sorted(collections):
        obj = objects[resource]
        mine = alice_api.get(f"/api/v1/{resource}/").json()
        theirs = bob_api.get(f"/api/v1/{resource}/").json()
        staffs = staff_api.get(f"/api/v1/{resource}/").json()
        ids = lambda page: [item.get("id") for item in (page["results"] if isinstance(page, dict) else page)]  # noqa: E731
        if obj.pk not in ids(mine):
            failures.append(f"{resource}: alice does not see her own object")
        if obj.pk in ids(theirs) or (isinstance(theirs, dict) and theirs.get("count")):
            failures.append(f"{resource}: bob's list shows alice's objects")
        if obj.pk not in ids(staffs):
            failures.append(f"{resource}: staff do not see it")
        for method, template in operations[resource]:
            if "{id}" not in template:
                continue
            url = re.sub(r"\{[^}]+\}", "0", template.replace("{id}", str(obj.pk)))
            r = getattr(bob_api, method)(url, {}, format="json")
            if r.status_code == 404:
                continue
            # an action may check its body before looking the object up: fine if the answer is the
            # same as for an id that exists nowhere (bob learns nothing about alice's object)
            nowhere = getattr(bob_api, method)(url.replace(f"/{obj.pk}/", "/987654321/"), {}, format="json")
            if r.status_code >= 500 or (r.status_code, r.content) != (nowhere.status_code, nowhere.content):
                failures.append(f"{method.upper()} {url} by bob → {r.status_code} {r.content[:120]!r}")
    assert not failures, "\n".join(failures)
    # nothing bob tried changed alice's objects
    for resource, obj in objects.items():
        assert type(obj).objects.filter(pk=obj.pk).exists(), resource
