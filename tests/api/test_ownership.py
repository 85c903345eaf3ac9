"""Ownership on real objects: alice extracts, builds and trains on a real worker; bob can't touch any of it.

These are the only API tests that need extraction; each groups many assertions around one
set of real objects to keep the suite fast.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from datasets.models import Dataset
from jobs.models import Job
from models_app.models import TrainedModel
from tests.api.factories import csv_upload, ready_dataset, upload
from tests.conftest import MEGAMIND_LABELS
from tests.platform import wait_for
from videos.models import FeatureFile, LabelSpan, Video

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def finished(api, job_url: str, timeout: float = 120) -> dict:
    job = wait_for(
        lambda: (j := api.get(job_url).json())["status"] in Job.TERMINAL and j,
        timeout=timeout,
        what=f"job {job_url}",
    )
    assert job["status"] == "succeeded", job
    return job


def data_path(relative: str) -> Path:
    return Path(settings.DATA_DIR) / relative


def test_nobody_else_can_list_read_use_or_delete_alices_objects(
    celery_worker, alice, bob, staff_user, client_for, megamind
):
    api = client_for(alice)
    # ---- alice: a video with labels → features (/backend/) → dataset (/api/v1/) → models (both)
    with open(megamind, "rb") as video, open(MEGAMIND_LABELS, "rb") as labels:
        r = api.post(
            "/backend/upload_and_extract_features",
            {"video": video, "labels_csv": labels, "video_id": "mega", "detector_type": "mediapipe", "sample_rate": 2},
            format="multipart",
        )
    assert r.status_code == 200, r.content
    feature_name = r.json()["feature_file"]
    video = Video.objects.get(owner=alice)
    feature_file = FeatureFile.objects.get(owner=alice)

    r = api.post(
        "/api/v1/datasets/",
        {"feature_files": [feature_name], "window_sec": 1.0, "step_sec": 0.25,
         "train_ratio": 0.5, "val_ratio": 0.25, "test_ratio": 0.25},
        format="json",
    )  # fmt: skip
    assert r.status_code == 202, r.content
    finished(api, r.json()["job"]["url"])
    dataset = Dataset.objects.get(owner=alice)
    assert dataset.status == "succeeded" and dataset.labels == ["holding_glass", "talking"]

    r = api.post("/backend/train_task_model", {"dataset_dir": dataset.name, "model_type": "rf", "n_estimators": "10"})
    assert r.status_code == 200, r.content
    assert r.json()["model_path"] == f"task_classifier_rf_{r.json()['model_id']}.pkl"
    r = api.post("/api/v1/models/", {"dataset": dataset.pk, "model_type": "rf", "n_estimators": 10}, format="json")
    assert r.status_code == 202, r.content
    finished(api, r.json()["job"]["url"])
    first_model, second_model = TrainedModel.objects.filter(owner=alice).order_by("version")
    assert (first_model.version, second_model.version) == (1, 2) and second_model.accuracy is not None
    span = LabelSpan.objects.filter(video=video).first()
    jobs = list(Job.objects.filter(owner=alice))
    assert len(jobs) == 4

    objects = {
        "videos": video.pk,
        "label-spans": span.pk,
        "feature-files": feature_file.pk,
        "datasets": dataset.pk,
        "models": first_model.pk,
        "jobs": jobs[0].pk,
    }

    # ---- bob: lists are empty, ids are 404 for every verb, names are 404 naming the field
    bob_api = client_for(bob)
    for resource, pk in objects.items():
        assert bob_api.get(f"/api/v1/{resource}/").json()["count"] == 0, resource
        assert bob_api.get(f"/api/v1/{resource}/{pk}/").status_code == 404, resource
        if resource != "jobs":
            assert bob_api.delete(f"/api/v1/{resource}/{pk}/?cascade=true").status_code == 404, resource
    assert bob_api.patch(f"/api/v1/label-spans/{span.pk}/", {"label": "x"}).status_code == 404
    assert bob_api.post(f"/api/v1/videos/{video.pk}/extract/", {"detector_type": "mediapipe"}).status_code == 404
    assert bob_api.post(f"/api/v1/datasets/{dataset.pk}/rebuild/").status_code == 404
    for job in jobs:
        assert bob_api.post(f"/api/v1/jobs/{job.pk}/cancel/").status_code == 404
        assert bob_api.post(f"/api/v1/jobs/{job.pk}/retry/").status_code == 404
    r = bob_api.post("/api/v1/label-spans/", {"video": video.pk, "start_frame": 0, "end_frame": 1, "label": "x"})
    assert r.status_code in (400, 404) and "video" in r.json()
    r = bob_api.post("/api/v1/datasets/", {"feature_files": [feature_name]}, format="json")
    assert r.status_code == 404 and "feature_files" in r.json()["detail"]
    r = bob_api.post("/api/v1/models/", {"dataset": dataset.pk, "model_type": "rf"}, format="json")
    assert r.status_code == 404 and "dataset" in r.json()["detail"]

    for listing, key in [("features", "features"), ("datasets", "datasets"), ("models", "models")]:
        assert bob_api.get(f"/backend/{listing}").json() == {key: []}
    r = bob_api.get(f"/backend/features/{feature_name}")
    assert r.status_code == 404 and r.json()["alert"].startswith("filename: ")
    r = bob_api.post("/backend/build_task_dataset", {"feature_files": feature_name})
    assert r.status_code == 404 and r.json()["alert"].startswith("feature_files: "), r.content
    r = bob_api.post("/backend/train_task_model", {"dataset_dir": dataset.name, "model_type": "rf"})
    assert r.status_code == 404 and r.json()["alert"].startswith("dataset_dir: "), r.content
    assert not Dataset.objects.filter(owner=bob).exists() and not TrainedModel.objects.filter(owner=bob).exists()

    # ---- staff see everything
    staff = client_for(staff_user)
    for resource, pk in objects.items():
        assert pk in [o["id"] for o in staff.get(f"/api/v1/{resource}/").json()["results"]], resource
    assert [f["filename"] for f in staff.get("/backend/features").json()["features"]] == [feature_name]
    assert [d["dataset_dir"] for d in staff.get("/backend/datasets").json()["datasets"]] == [dataset.name]
    assert len(staff.get("/backend/models").json()["models"]) == 2

    # ---- nothing of alice's changed; her lists and filters show it all
    assert (Video.objects.count(), FeatureFile.objects.count(), Dataset.objects.count()) == (1, 1, 1)
    assert TrainedModel.objects.count() == 2 and LabelSpan.objects.get(pk=span.pk).label == span.label
    assert api.get("/api/v1/videos/?video_id=mega").json()["count"] == 1
    assert api.get("/api/v1/videos/?video_id=other").json()["count"] == 0
    assert api.get("/api/v1/feature-files/?status=succeeded&detector=mediapipe").json()["count"] == 1
    assert api.get(f"/api/v1/models/?dataset={dataset.pk}&accuracy__gte=0").json()["count"] == 2
    assert api.get("/api/v1/jobs/?kind=training&status=succeeded").json()["count"] == 2
    models = api.get("/backend/models").json()["models"]
    assert {m["filename"] for m in models} == {first_model.filename, second_model.filename}

    # ---- alice's deletes: dependents need cascade; files go with the rows
    model_files = [data_path(m.path) for m in (first_model, second_model)]
    dataset_dir, feature_path, video_path = data_path(dataset.path), data_path(feature_file.path), data_path(video.file)
    assert all(p.exists() for p in [*model_files, dataset_dir, feature_path, video_path])

    r = api.delete(f"/api/v1/datasets/{dataset.pk}/")
    assert r.status_code == 409 and r.json()["detail"].startswith("dataset: ")
    r = api.delete(f"/api/v1/videos/{video.pk}/")
    assert r.status_code == 409 and r.json()["detail"].startswith("video: ")
    assert api.delete(f"/api/v1/models/{first_model.pk}/").status_code == 204
    assert not model_files[0].exists() and model_files[1].exists()
    assert api.delete(f"/api/v1/datasets/{dataset.pk}/?cascade=true").status_code == 204
    assert not model_files[1].exists() and not dataset_dir.exists()
    assert not TrainedModel.objects.exists() and not Dataset.objects.exists()
    assert api.delete(f"/api/v1/videos/{video.pk}/").status_code == 409  # the feature file is still there
    assert api.delete(f"/api/v1/videos/{video.pk}/?cascade=true").status_code == 204
    assert not feature_path.exists() and not video_path.exists()
    assert not Video.objects.exists() and not FeatureFile.objects.exists() and not LabelSpan.objects.exists()
    assert api.get("/backend/features").json() == {"features": []}


def test_one_class_of_labels_cannot_make_a_dataset(celery_worker, alice, client_for, tiny_avi, settings):
    settings.TASKML_BACKEND_WAIT_SECONDS = 0
    api = client_for(alice)
    labels = csv_upload("start_frame,end_frame,label\n0,19,typing\n")
    r = api.post(
        "/backend/upload_and_extract_features",
        {"video": upload(tiny_avi), "labels_csv": labels, "detector_type": "mediapipe"},
        format="multipart",
    )
    assert r.status_code == 202, r.content
    pending = r.json()
    finished(api, pending["job_url"])
    detail = api.get(f"/backend/features/{pending['feature_file']}").json()
    assert detail["has_labels"] is True and detail["label_distribution"] == {"typing": 20}
    assert detail["num_frames"] == 20 and detail["video_id"] == "tiny"

    r = api.post("/backend/build_task_dataset", {"feature_files": pending["feature_file"]})
    assert r.status_code == 400
    assert r.json()["alert"].startswith("feature_files: ") and "one class" in r.json()["alert"]
    r = api.post("/api/v1/datasets/", {"feature_files": [pending["feature_file"]]}, format="json")
    assert r.status_code == 400 and "one class" in r.json()["feature_files"][0]
    assert not Dataset.objects.exists()

    # a second extraction of the same video through /api/v1/: a new file name, followed by its job
    video = Video.objects.get()
    r = api.post(f"/api/v1/videos/{video.pk}/extract/", {"detector_type": "mediapipe", "sample_rate": 2})
    assert r.status_code == 202, r.content
    assert r.json()["feature_file"]["filename"] == "tiny_features_2.parquet"
    finished(api, r.json()["job"]["url"])
    second = api.get(f"/api/v1/feature-files/{r.json()['feature_file']['id']}/").json()
    assert (second["status"], second["num_frames"], second["label_distribution"]) == ("succeeded", 10, {"typing": 10})


def test_a_build_that_cannot_succeed_is_400_before_any_job(celery_worker, alice, client_for, tiny_avi):
    api = client_for(alice)
    labels = csv_upload("start_frame,end_frame,label\n0,9,reach\n10,19,grasp\n")
    r = api.post(
        "/backend/upload_and_extract_features",
        {"video": upload(tiny_avi), "labels_csv": labels, "detector_type": "mediapipe"},
        format="multipart",
    )
    assert r.status_code == 200, r.content
    feature_file = FeatureFile.objects.get(filename=r.json()["feature_file"])
    # a 10 s window over a 2 s video: the build's first pass, run in the request, finds nothing to make
    jobs = Job.objects.count()
    r = api.post("/backend/build_task_dataset", {"feature_files": feature_file.filename, "window_sec": "10"})
    assert r.status_code == 400, r.content
    body = r.json()
    assert body["status"] == "error" and "this 2 s video holds 0 labelled 10 s windows" in body["alert"]
    assert Job.objects.count() == jobs and not Dataset.objects.exists()


def test_a_job_that_fails_on_its_input_answers_400_with_the_job(celery_worker, alice, client_for):
    api = client_for(alice)
    dataset = ready_dataset(alice)  # a row whose arrays are not on disk: the training job finds out
    r = api.post("/backend/train_task_model", {"dataset_dir": dataset.name, "model_type": "rf", "n_estimators": 5})
    assert r.status_code == 400, r.content
    body = r.json()
    assert body["status"] == "error" and body["alert"] and "Traceback" not in body["alert"]
    job = api.get(body["job_url"]).json()
    assert (job["status"], job["error_kind"], job["error"]) == ("failed", "input", body["alert"])
    assert api.get("/backend/models").json()["models"] == []
