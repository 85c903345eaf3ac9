"""Label spans through /api/v1/label-spans/: CRUD, validation against the video, ownership."""

from __future__ import annotations

import pytest

from tests.api.factories import TINY_FRAMES, video_row
from videos.models import LabelSpan

pytestmark = pytest.mark.django_db


@pytest.fixture
def clip(alice):
    return video_row(alice)


def test_create_update_delete(alice, client_for, clip):
    api = client_for(alice)
    r = api.post("/api/v1/label-spans/", {"video": clip.pk, "start_frame": 0, "end_frame": 9, "label": " reach "})
    assert r.status_code == 201, r.content
    span = r.json()
    assert (span["video"], span["start_frame"], span["end_frame"], span["label"], span["source"]) == (
        clip.pk, 0, 9, "reach", "browser",
    )  # fmt: skip
    assert LabelSpan.objects.get(pk=span["id"]).created_by == alice

    r = api.patch(f"/api/v1/label-spans/{span['id']}/", {"end_frame": TINY_FRAMES - 1, "label": "grasp"})
    assert r.status_code == 200, r.content
    assert (r.json()["end_frame"], r.json()["label"]) == (TINY_FRAMES - 1, "grasp")

    r = api.put(
        f"/api/v1/label-spans/{span['id']}/",
        {"video": clip.pk, "start_frame": 2, "end_frame": 4, "label": "idle", "source": "suggestion"},
    )
    assert r.status_code == 200, r.content
    assert (r.json()["start_frame"], r.json()["end_frame"], r.json()["source"]) == (2, 4, "suggestion")
    assert api.get(f"/api/v1/videos/{clip.pk}/").json()["label_spans"] == 1

    assert api.delete(f"/api/v1/label-spans/{span['id']}/").status_code == 204
    assert not LabelSpan.objects.exists()
    assert api.get(f"/api/v1/label-spans/{span['id']}/").status_code == 404


@pytest.mark.parametrize(
    "data,field,words",
    [
        ({"start_frame": 0, "end_frame": TINY_FRAMES}, "end_frame", ["outside", f"{TINY_FRAMES} frames"]),
        ({"start_frame": 0, "end_frame": 10_000}, "end_frame", ["outside"]),
        ({"start_frame": 8, "end_frame": 3}, "end_frame", ["before start_frame"]),
        ({"start_frame": -1, "end_frame": 3}, "start_frame", []),
        ({"start_frame": "x", "end_frame": 3}, "start_frame", []),
        ({"start_frame": 0, "end_frame": 3, "label": "   "}, "label", []),
        ({"start_frame": 0, "end_frame": 3, "source": "robot"}, "source", []),
        ({"start_frame": 0}, "end_frame", []),
    ],
)
def test_create_refuses_bad_spans_naming_the_field(alice, client_for, clip, data, field, words):
    r = client_for(alice).post("/api/v1/label-spans/", {"video": clip.pk, "label": "a", **data}, format="json")
    assert r.status_code == 400, r.content
    body = r.json()
    assert field in body, body
    for word in words:
        assert word in body[field][0]
    assert not LabelSpan.objects.exists()


def test_update_refuses_bad_spans(alice, client_for, clip):
    api = client_for(alice)
    span = LabelSpan.objects.create(video=clip, start_frame=2, end_frame=5, label="a")
    r = api.patch(f"/api/v1/label-spans/{span.pk}/", {"end_frame": TINY_FRAMES + 5}, format="json")
    assert r.status_code == 400 and "end_frame" in r.json()
    r = api.patch(f"/api/v1/label-spans/{span.pk}/", {"start_frame": 9}, format="json")  # now after end_frame 5
    assert r.status_code == 400 and "end_frame" in r.json()
    span.refresh_from_db()
    assert (span.start_frame, span.end_frame, span.label) == (2, 5, "a")


def test_spans_belong_to_the_owner_of_the_video(alice, bob, staff_user, client_for, clip):
    span = LabelSpan.objects.create(video=clip, start_frame=0, end_frame=3, label="a")
    bobs_clip = video_row(bob, name="bobs")
    bob_api = client_for(bob)

    assert bob_api.get("/api/v1/label-spans/").json()["count"] == 0
    assert bob_api.get(f"/api/v1/label-spans/?video={clip.pk}").json()["count"] == 0
    assert bob_api.get(f"/api/v1/label-spans/{span.pk}/").status_code == 404
    assert bob_api.patch(f"/api/v1/label-spans/{span.pk}/", {"label": "b"}).status_code == 404
    replacement = {"video": bobs_clip.pk, "start_frame": 0, "end_frame": 1, "label": "b"}
    assert bob_api.put(f"/api/v1/label-spans/{span.pk}/", replacement).status_code == 404
    assert bob_api.delete(f"/api/v1/label-spans/{span.pk}/").status_code == 404

    r = bob_api.post("/api/v1/label-spans/", {"video": clip.pk, "start_frame": 0, "end_frame": 1, "label": "b"})
    assert r.status_code in (400, 404) and "video" in r.json()
    # alice can't move her span onto bob's video either
    r = client_for(alice).put(f"/api/v1/label-spans/{span.pk}/", replacement)
    assert r.status_code == 400 and "video" in r.json()

    span.refresh_from_db()
    assert (span.video_id, span.label, LabelSpan.objects.count()) == (clip.pk, "a", 1)
    staff = client_for(staff_user).get("/api/v1/label-spans/").json()
    assert [s["id"] for s in staff["results"]] == [span.pk]


def test_spans_are_paginated_and_filterable(alice, client_for, clip):
    other = video_row(alice, name="other", frames=200)
    LabelSpan.objects.bulk_create(
        [LabelSpan(video=other, start_frame=i, end_frame=i, label="odd" if i % 2 else "even") for i in range(55)]
        + [LabelSpan(video=clip, start_frame=0, end_frame=1, label="odd", source="csv")]
    )
    api = client_for(alice)
    page = api.get("/api/v1/label-spans/").json()
    assert page["count"] == 56 and len(page["results"]) == 50 and page["next"] and page["previous"] is None
    assert len(api.get(page["next"]).json()["results"]) == 6
    assert api.get(f"/api/v1/label-spans/?video={clip.pk}").json()["count"] == 1
    assert api.get("/api/v1/label-spans/?label=odd").json()["count"] == 28
    assert api.get("/api/v1/label-spans/?source=csv").json()["count"] == 1
    assert api.get(f"/api/v1/label-spans/?video={other.pk}&start_frame__gte=50").json()["count"] == 5
    ordered = api.get(f"/api/v1/label-spans/?video={other.pk}&ordering=-start_frame").json()["results"]
    assert ordered[0]["start_frame"] == 54
