"""The admin over real data: Megamind through /backend/, jobs on a real Celery worker, files on disk."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from datasets import services as datasets_services
from datasets.models import Dataset
from jobs.models import Job
from models_app.models import TrainedModel
from taskml.pipeline.artifacts import sidecar_paths
from taskml.pipeline.files import sha256_file
from tests.admin.builders import backend_build, backend_train, backend_upload, on_disk, run_action, shown_messages
from tests.platform import wait_for
from videos.models import FeatureFile, LabelSpan, Video

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

DATASETS = reverse("admin:datasets_dataset_changelist")
JOBS = reverse("admin:jobs_job_changelist")


def change(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def delete_url(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_delete", args=[obj.pk])


def finished(job_id: int, timeout: float = 120) -> Job:
    def done():
        job = Job.objects.get(pk=job_id)
        return job if job.is_terminal else None

    return wait_for(done, timeout=timeout, what=f"job {job_id} to finish")


def model_files(model: TrainedModel) -> list:
    path = on_disk(model.path)
    return [path, *sidecar_paths(path)]


def test_dataset_page_rebuild_and_train_actions_on_real_data(celery_worker, alice, client_for, megamind, admin_web):
    api = client_for(alice)
    up = backend_upload(api, megamind)
    dataset = Dataset.objects.get(pk=backend_build(api, up["feature_file"])["dataset_id"])
    first_build = dataset.job
    directory = on_disk(dataset.path)

    page = admin_web.get(change(dataset)).content.decode()
    assert f">{up['feature_file']}</a> (video mega, {up['num_labeled']} labelled frames)" in page
    files = sorted(p.name for p in directory.iterdir())
    assert {"metadata.json", "X_train.npy", "y_train.npy"} <= set(files)
    for name in files:
        assert f"<td>{name}</td><td>{(directory / name).stat().st_size}</td>" in page
    for label in ("holding_glass", "talking"):
        per_split = [dataset.class_counts[split].get(label, 0) for split in ("train", "val", "test")]
        cells = "".join(f"<td>{n}</td>" for n in (*per_split, sum(per_split)))
        assert f"<tr><td>{label}</td>{cells}</tr>" in page
    assert f"job {first_build.pk}: succeeded" in page

    # Rebuild: a new dataset job on the worker, the dataset pointing at it, the files written again.
    metadata_written = (directory / "metadata.json").stat().st_mtime_ns
    response = run_action(admin_web, DATASETS, "rebuild_datasets", [dataset])
    rebuild = Job.objects.filter(kind="dataset", target_id=dataset.pk).exclude(pk=first_build.pk).get()
    assert shown_messages(admin_web, response) == [("success", f"{dataset.name}: rebuilding in job {rebuild.pk}")]
    rebuild = finished(rebuild.pk)
    assert rebuild.status == "succeeded", rebuild.error
    assert rebuild.outputs["dataset_id"] == dataset.pk
    sizes = (dataset.train_size, dataset.val_size, dataset.test_size)
    dataset.refresh_from_db()
    assert (dataset.status, dataset.job) == ("succeeded", rebuild)
    assert (dataset.train_size, dataset.val_size, dataset.test_size) == sizes  # same sources, same seed
    assert (directory / "metadata.json").stat().st_mtime_ns > metadata_written

    # Train: a LightGBM model of the dataset's owner, trained on the worker, its artifact verified.
    response = run_action(admin_web, DATASETS, "train_lgbm", [dataset])
    model = TrainedModel.objects.get(dataset=dataset)
    assert (model.owner, model.model_type, model.aggregation) == (alice, "lgbm", "stats")
    assert shown_messages(admin_web, response)[0][0] == "success"
    job = finished(model.job_id)
    assert job.status == "succeeded", job.error
    model.refresh_from_db()
    assert model.status == "succeeded"
    assert on_disk(model.path).is_file() and model.path.endswith(f"task_classifier_lgbm_{model.pk}.pkl")
    assert sha256_file(on_disk(model.path)) == model.sha256
    assert 0.0 <= model.accuracy <= 1.0 and model.metrics["dataset"] == dataset.name
    page = admin_web.get(change(model)).content.decode()
    assert f"&quot;accuracy&quot;: {model.metrics['accuracy']}" in page
    assert f"<td>{model.path}</td>" in page


def test_deleting_a_dataset_removes_its_directory_and_model_files(
    celery_worker, alice, client_for, megamind, admin_web
):
    api = client_for(alice)
    up = backend_upload(api, megamind)
    ds = backend_build(api, up["feature_file"])
    trained = backend_train(api, ds["dataset_dir"])
    dataset = Dataset.objects.get(pk=ds["dataset_id"])
    model = TrainedModel.objects.get(pk=trained["model_id"])
    directory, artifacts = on_disk(dataset.path), model_files(model)
    assert directory.is_dir() and all(p.is_file() for p in artifacts)

    confirm = admin_web.get(delete_url(dataset))
    assert confirm.context["protected"] == [] and not confirm.context["perms_lacking"]
    assert f"File on disk: {model.path}" in confirm.content.decode()
    assert admin_web.post(delete_url(dataset), {"post": "yes"}).status_code == 302

    assert not Dataset.objects.filter(pk=dataset.pk).exists()
    assert not TrainedModel.objects.filter(pk=model.pk).exists()
    assert not directory.exists()
    assert not any(p.exists() for p in artifacts)
    feature_file = FeatureFile.objects.get(filename=up["feature_file"])  # the source stays
    assert on_disk(feature_file.path).is_file()
    assert api.get("/backend/datasets").json()["datasets"] == []
    assert api.get("/backend/models").json()["models"] == []


def test_deleting_a_video_removes_the_upload_features_datasets_and_models(
    celery_worker, alice, client_for, megamind, admin_web
):
    api = client_for(alice)
    up = backend_upload(api, megamind)
    ds = backend_build(api, up["feature_file"])
    trained = backend_train(api, ds["dataset_dir"])
    video = Video.objects.get(stored_name=up["video_file"])
    feature_file = FeatureFile.objects.get(filename=up["feature_file"])
    upload, parquet = on_disk(video.file), on_disk(feature_file.path)
    directory = on_disk(Dataset.objects.get(pk=ds["dataset_id"]).path)
    artifacts = model_files(TrainedModel.objects.get(pk=trained["model_id"]))
    assert upload.is_file() and parquet.is_file() and directory.is_dir()

    confirm = admin_web.get(delete_url(video))
    assert confirm.context["protected"] == []
    page = confirm.content.decode()
    for path in (video.file, feature_file.path, ds["dataset_dir"], trained["model_path"]):
        assert path in page
    assert admin_web.post(delete_url(video), {"post": "yes"}).status_code == 302

    assert not Video.objects.exists() and not LabelSpan.objects.exists() and not FeatureFile.objects.exists()
    assert not Dataset.objects.exists() and not TrainedModel.objects.exists()
    assert not upload.exists() and not parquet.exists() and not directory.exists()
    assert not any(p.exists() for p in artifacts)
    assert Job.objects.filter(kind="extraction", status="succeeded").count() == 1  # the record of what ran stays


def test_retry_a_rebuild_that_failed_on_a_missing_source(
    celery_worker, alice, client_for, megamind, admin_web, monkeypatch
):
    api = client_for(alice)
    up = backend_upload(api, megamind)
    dataset = Dataset.objects.get(pk=backend_build(api, up["feature_file"])["dataset_id"])
    parquet = on_disk(FeatureFile.objects.get(filename=up["feature_file"]).path)
    aside = parquet.with_name(parquet.name + ".aside")
    parquet.rename(aside)
    try:
        # A missing source is refused by the rebuild itself (its first pass reads every source).
        response = run_action(admin_web, DATASETS, "rebuild_datasets", [dataset])
        assert shown_messages(admin_web, response) == [("error", f"{dataset.name}: features file not found: {parquet}")]
        assert not Job.objects.filter(kind="dataset", target_id=dataset.pk, status="pending").exists()
        # A source that goes missing after the request was accepted (between its first pass and
        # the job) fails the job, which the admin can retry once the file is back.
        aside.rename(parquet)
        accept = datasets_services._plan

        def then_lose_the_file(*args, **kwargs):
            plan = accept(*args, **kwargs)
            parquet.rename(aside)
            return plan

        monkeypatch.setattr(datasets_services, "_plan", then_lose_the_file)
        response = run_action(admin_web, DATASETS, "rebuild_datasets", [dataset])
        failed = Job.objects.filter(kind="dataset", target_id=dataset.pk).latest("id")
        assert shown_messages(admin_web, response) == [("success", f"{dataset.name}: rebuilding in job {failed.pk}")]
        failed = finished(failed.pk)
    finally:
        aside.replace(parquet)
    assert (failed.status, failed.error_kind) == ("failed", "input")
    assert "features file not found" in failed.error
    dataset.refresh_from_db()
    assert (dataset.status, dataset.job) == ("failed", failed)

    response = run_action(admin_web, JOBS, "retry_jobs", [failed])
    retry = Job.objects.get(retry_of=failed)
    assert shown_messages(admin_web, response) == [("success", f"job {failed.pk}: retried as job {retry.pk}")]
    retry = finished(retry.pk)
    assert retry.status == "succeeded", retry.error
    assert retry.inputs == failed.inputs
    dataset.refresh_from_db()
    assert (dataset.status, dataset.job) == ("succeeded", retry)
    assert (on_disk(dataset.path) / "metadata.json").is_file()
    failed.refresh_from_db()
    assert failed.status == "failed"  # the failed job keeps its error


def test_cancel_a_running_extraction(celery_worker, alice, samples_dir, admin_web):
    from videos.services import feature_file_request, video_create

    upload = SimpleUploadedFile("vtest.avi", (samples_dir / "vtest.avi").read_bytes(), "video/x-msvideo")
    video = video_create(owner=alice, upload=upload, video_id="street")
    feature_file = feature_file_request(owner=alice, video=video, detector="fusion", sample_rate=1)
    job = feature_file.job

    def extracting():
        current = Job.objects.get(pk=job.pk)
        return current.status == "running" and current.stage == "extracting" and current.progress > 0

    wait_for(extracting, timeout=120, what="the extraction to be under way")
    response = run_action(admin_web, JOBS, "cancel_jobs", [job])
    assert shown_messages(admin_web, response) == [
        ("success", f"job {job.pk}: cancel requested; it stops at its next progress report")
    ]
    job = finished(job.pk, timeout=60)
    assert (job.status, job.error_kind) == ("cancelled", "cancelled")
    assert job.progress < 1.0
    feature_file.refresh_from_db()
    assert feature_file.status == "cancelled"
    assert not on_disk(feature_file.path).exists()
