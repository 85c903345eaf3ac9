"""Admin actions and deletion without a worker: refusals are reported, deletion goes through the services.

These tests run inside a transaction that is never committed, so enqueued jobs are never sent
and stay pending; files are removed by on-commit callbacks, run here explicitly.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from datasets.models import Dataset, DatasetSource
from jobs.models import Job
from models_app.models import TrainedModel
from tests.admin.builders import make_rows, run_action, shown_messages
from videos.models import FeatureFile, LabelSpan, Video

pytestmark = pytest.mark.django_db

DATASETS = reverse("admin:datasets_dataset_changelist")
JOBS = reverse("admin:jobs_job_changelist")


def delete_url(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_delete", args=[obj.pk])


def test_rebuild_reports_a_dataset_being_built_and_rebuilds_the_others(admin_web, superuser, alice):
    idle, busy = make_rows(alice, name="idle"), make_rows(alice, name="busy")
    busy_job = Job.objects.create(owner=alice, kind="dataset", status="running", target=busy.dataset)
    Dataset.objects.filter(pk=busy.dataset.pk).update(job=busy_job, status="running")

    response = run_action(admin_web, DATASETS, "rebuild_datasets", [idle.dataset, busy.dataset])

    assert response.status_code == 302
    new_job = Job.objects.get(kind="dataset", target_id=idle.dataset.pk, status="pending")
    assert new_job.owner == superuser
    assert new_job.inputs["dataset_id"] == idle.dataset.pk
    assert new_job.inputs["feature_files"] == [idle.feature_file.filename]
    assert new_job.inputs["window_sec"] == 1.0
    assert Dataset.objects.get(pk=idle.dataset.pk).job == new_job
    assert set(Job.objects.filter(target_id=busy.dataset.pk, kind="dataset")) == {busy.jobs["dataset"], busy_job}
    assert shown_messages(admin_web, response) == [
        ("success", f"{idle.dataset.name}: rebuilding in job {new_job.pk}"),
        ("error", f"{busy.dataset.name} is being built already"),
    ]


def test_train_action_makes_a_model_owned_by_the_dataset_owner(admin_web, alice):
    built = make_rows(alice, name="built")
    unbuilt = make_rows(alice, name="unbuilt")
    Dataset.objects.filter(pk=unbuilt.dataset.pk).update(status="failed")

    response = run_action(admin_web, DATASETS, "train_lgbm", [built.dataset, unbuilt.dataset])

    assert response.status_code == 302
    model = TrainedModel.objects.get(dataset=built.dataset, status="pending")
    assert (model.owner, model.model_type, model.aggregation) == (alice, "lgbm", "stats")
    assert model.filename == f"task_classifier_lgbm_{model.pk}.pkl"
    assert model.job.kind == "training" and model.job.owner == alice
    assert not TrainedModel.objects.filter(dataset=unbuilt.dataset).exclude(pk=unbuilt.model.pk).exists()
    assert shown_messages(admin_web, response) == [
        ("success", f"{built.dataset.name}: training {model.filename} (v{model.version}) in job {model.job_id}"),
        ("error", f"{unbuilt.dataset.name} is not built (failed)"),
    ]


def test_cancel_and_retry_report_what_they_cannot_do(admin_web, alice):
    pending = Job.objects.create(owner=alice, kind="dataset", status="pending")
    done = Job.objects.create(owner=alice, kind="dataset", status="succeeded")

    response = run_action(admin_web, JOBS, "cancel_jobs", [pending, done])

    pending.refresh_from_db()
    assert (pending.status, pending.cancel_requested, pending.error_kind) == ("cancelled", True, "cancelled")
    assert shown_messages(admin_web, response) == [
        ("success", f"job {pending.pk}: cancelled"),
        ("error", f"job {done.pk} has already succeeded"),
    ]

    response = run_action(admin_web, JOBS, "retry_jobs", [pending, done])

    retry = Job.objects.get(retry_of=pending)
    assert (retry.status, retry.kind, retry.owner) == ("pending", "dataset", alice)
    assert shown_messages(admin_web, response) == [
        ("success", f"job {pending.pk}: retried as job {retry.pk}"),
        ("error", f"only failed or cancelled jobs can be retried; job {done.pk} is succeeded"),
    ]  # fmt: skip


def test_running_job_cancel_is_a_request(admin_web, alice):
    running = Job.objects.create(owner=alice, kind="extraction", status="running")
    response = run_action(admin_web, JOBS, "cancel_jobs", [running])
    running.refresh_from_db()
    assert (running.status, running.cancel_requested) == ("running", True)
    assert shown_messages(admin_web, response) == [
        ("success", f"job {running.pk}: cancel requested; it stops at its next progress report"),
    ]


def test_running_jobs_cannot_be_deleted(admin_web, alice):
    running = Job.objects.create(owner=alice, kind="extraction", status="running")
    done = Job.objects.create(owner=alice, kind="extraction", status="failed")
    assert admin_web.get(delete_url(running)).status_code == 403
    assert admin_web.post(delete_url(done), {"post": "yes"}).status_code == 302
    assert list(Job.objects.all()) == [running]


def test_video_delete_page_lists_everything_that_goes_and_is_not_refused(admin_web, alice):
    mega = make_rows(alice, name="mega")
    response = admin_web.get(delete_url(mega.video))
    assert response.status_code == 200
    assert response.context["protected"] == []
    assert not response.context["perms_lacking"]
    page = response.content.decode()
    assert "protected" not in page.lower()
    for text in (
        f'Feature file: <a href="/admin/videos/featurefile/{mega.feature_file.pk}/change/">',
        f'Dataset: <a href="/admin/datasets/dataset/{mega.dataset.pk}/change/">{mega.dataset.name}</a>',
        f'Trained model: <a href="/admin/models_app/trainedmodel/{mega.model.pk}/change/">{mega.model.filename}',
        f"File on disk: {mega.video.file}",
        f"File on disk: {mega.feature_file.path}",
        f"File on disk: {mega.dataset.path}",
        f"File on disk: {mega.model.path}",
        "Label span: mega.avi 0-99 holding_glass",
    ):
        assert text in page, text
    counts = dict(response.context["model_count"])
    assert counts == {
        "videos": 1,
        "label spans": 2,
        "feature files": 1,
        "datasets": 1,
        "dataset sources": 1,
        "trained models": 1,
        "files on disk": 6,
    }


def test_deleting_a_video_deletes_its_chain_and_files(admin_web, alice, django_capture_on_commit_callbacks):
    mega, other = make_rows(alice, name="mega"), make_rows(alice, name="other")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_web.post(delete_url(mega.video), {"post": "yes"})
    assert response.status_code == 302
    assert not Video.objects.filter(pk=mega.video.pk).exists()
    assert not LabelSpan.objects.filter(video_id=mega.video.pk).exists()
    assert not FeatureFile.objects.filter(pk=mega.feature_file.pk).exists()
    assert not Dataset.objects.filter(pk=mega.dataset.pk).exists()
    assert not TrainedModel.objects.filter(pk=mega.model.pk).exists()
    for path in (mega.files["video"], mega.files["features"], mega.files["dataset"], *mega.files["model"]):
        assert not path.exists(), path
    # Jobs stay as the record of what ran; the other chain is untouched.
    assert Job.objects.filter(pk=mega.jobs["training"].pk).exists()
    assert Video.objects.filter(pk=other.video.pk).exists() and other.files["video"].is_file()
    assert all(p.exists() for p in (other.files["features"], other.files["dataset"], *other.files["model"]))


def test_delete_selected_datasets_keeps_their_sources(admin_web, alice, django_capture_on_commit_callbacks):
    one, two, kept = make_rows(alice, name="one"), make_rows(alice, name="two"), make_rows(alice, name="kept")
    selected = [one.dataset, two.dataset]
    confirm = run_action(admin_web, DATASETS, "delete_selected", selected)
    assert confirm.status_code == 200
    assert confirm.context["protected"] == [] and not confirm.context["perms_lacking"]
    assert f"File on disk: {one.model.path}" in confirm.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = run_action(admin_web, DATASETS, "delete_selected", selected, post="yes")
    assert response.status_code == 302
    assert list(Dataset.objects.all()) == [kept.dataset]
    assert list(TrainedModel.objects.all()) == [kept.model]
    assert not DatasetSource.objects.filter(dataset_id__in=[one.dataset.pk, two.dataset.pk]).exists()
    for rows in (one, two):
        assert not rows.files["dataset"].exists()
        assert not any(p.exists() for p in rows.files["model"])
        assert FeatureFile.objects.filter(pk=rows.feature_file.pk).exists() and rows.files["features"].is_file()
    assert kept.files["dataset"].is_dir() and all(p.is_file() for p in kept.files["model"])


def test_delete_selected_feature_files_takes_datasets_built_from_them(
    admin_web, alice, django_capture_on_commit_callbacks
):
    mega = make_rows(alice, name="mega")
    # A second dataset built from the same file: deleting the file takes both.
    second = Dataset.objects.create(
        owner=alice, status="failed", window_sec=1, step_sec=1, train_ratio=1, val_ratio=0, test_ratio=0
    )
    DatasetSource.objects.create(dataset=second, feature_file=mega.feature_file)
    with django_capture_on_commit_callbacks(execute=True):
        response = run_action(
            admin_web,
            reverse("admin:videos_featurefile_changelist"),
            "delete_selected",
            [mega.feature_file],
            post="yes",
        )
    assert response.status_code == 302
    assert not FeatureFile.objects.exists() and not Dataset.objects.exists() and not TrainedModel.objects.exists()
    assert Video.objects.filter(pk=mega.video.pk).exists() and mega.files["video"].is_file()
    assert not mega.files["features"].exists() and not mega.files["dataset"].exists()
    assert not any(p.exists() for p in mega.files["model"])


def test_deleting_a_model_removes_its_artifact_and_sidecars(admin_web, alice, django_capture_on_commit_callbacks):
    mega = make_rows(alice, name="mega")
    page = admin_web.get(delete_url(mega.model)).content.decode()
    assert page.count("File on disk:") == 3
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_web.post(delete_url(mega.model), {"post": "yes"})
    assert response.status_code == 302
    assert not TrainedModel.objects.exists()
    assert not any(p.exists() for p in mega.files["model"])
    assert Dataset.objects.filter(pk=mega.dataset.pk).exists() and mega.files["dataset"].is_dir()


def test_view_only_staff_see_lists_but_get_no_actions(alice):
    from django.contrib.auth.models import Permission
    from django.test import Client

    viewer = type(alice).objects.create_user("viewer", password="viewer-password-1", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename__startswith="view_"))
    mega = make_rows(alice, name="mega")
    client = Client()
    client.force_login(viewer)

    response = client.get(DATASETS)
    assert response.status_code == 200 and list(response.context["cl"].result_list) == [mega.dataset]
    assert response.context["action_form"] is None  # no rebuild, train or delete
    assert client.get(JOBS).context["action_form"] is None
    response = run_action(client, DATASETS, "rebuild_datasets", [mega.dataset])
    assert not Job.objects.filter(kind="dataset", status="pending").exists()
    assert client.post(delete_url(mega.video), {"post": "yes"}).status_code == 403
    assert Video.objects.filter(pk=mega.video.pk).exists() and mega.files["video"].is_file()


def test_a_model_with_ended_live_sessions_can_be_deleted_but_not_one_in_use(
    admin_web, alice, django_capture_on_commit_callbacks
):
    from streaming.models import LiveSession

    mega = make_rows(alice, name="mega")
    ended = LiveSession.objects.create(owner=alice, trained_model=mega.model, source_kind="video", status="finished")
    page = admin_web.get(delete_url(mega.model))
    assert page.status_code == 200 and page.context["protected"] == []
    assert f"live session {ended.pk}" in page.content.decode()

    running = LiveSession.objects.create(owner=alice, trained_model=mega.model, source_kind="video", status="running")
    page = admin_web.get(delete_url(mega.model))
    assert [str(p) for p in page.context["protected"]] and f"live session {running.pk}" in page.content.decode()

    LiveSession.objects.filter(pk=running.pk).update(status="stopped")
    with django_capture_on_commit_callbacks(execute=True):
        assert admin_web.post(delete_url(mega.model), {"post": "yes"}).status_code == 302
    assert not TrainedModel.objects.filter(pk=mega.model.pk).exists()
    assert not LiveSession.objects.exists()
    assert not any(p.exists() for p in mega.files["model"])
