"""Deleting a user (the admin's delete, through users.services.user_delete) removes their objects and
files; other users' objects and files stay exactly as they were."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client

from datasets.models import Dataset
from jobs.models import Job
from models_app.models import TrainedModel
from streaming.models import LiveSession
from tests.api.factories import job_row, ready_dataset, ready_feature_file, ready_model, video_row
from users.services import user_delete
from videos.models import FeatureFile, LabelSpan, Video

pytestmark = pytest.mark.django_db


def touch(relative: str) -> Path:
    path = Path(settings.DATA_DIR) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def everything_of(user, name: str) -> dict:
    """A video → feature file → dataset → model chain with files on disk, a span, a job, a live session."""
    video = video_row(user, name=name)
    feature_file = ready_feature_file(user, video=video, name=f"{name}_features.parquet")
    dataset = ready_dataset(user, feature_file=feature_file)
    model = ready_model(user, dataset=dataset)
    LabelSpan.objects.create(video=video, start_frame=0, end_frame=3, label="a", source="csv", created_by=user)
    job_row(user, target=dataset, status=Job.Status.RUNNING)
    session = LiveSession.objects.create(owner=user, trained_model=model, source_kind="push", status="running")
    files = [
        touch(video.file),
        touch(feature_file.path),
        touch(f"{dataset.path}/X_train.npy"),
        touch(model.path),
        touch(model.path.replace(".pkl", "_meta.json")),
    ]
    return {"video": video, "model": model, "session": session, "files": files}


@pytest.fixture
def superuser(db):
    return User.objects.create_superuser("root", "root@example.com", "root-password-1")


def test_the_admin_deletes_a_user_with_their_objects_and_files(
    alice, bob, superuser, django_capture_on_commit_callbacks
):
    mine, theirs = everything_of(alice, "alice"), everything_of(bob, "bob")
    stray = touch(f"uploads/{alice.pk}/.incoming-leftover.avi")  # the user's folders go as a whole
    web = Client()
    web.force_login(superuser)

    page = web.get(f"/admin/auth/user/{alice.pk}/delete/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Cannot delete" not in html and "protected" not in html.lower()
    for name in ("alice.avi", "alice_features.parquet", mine["model"].filename):
        assert name in html, name
    assert "File on disk" in html

    with django_capture_on_commit_callbacks(execute=True):
        r = web.post(f"/admin/auth/user/{alice.pk}/delete/", {"post": "yes"})
    assert r.status_code == 302, r.content[:500]
    assert not User.objects.filter(username="alice").exists()
    for model in (Video, FeatureFile, Dataset, TrainedModel, Job, LiveSession):
        assert not model.objects.filter(owner_id=alice.pk).exists(), model
    assert not LabelSpan.objects.filter(video__owner_id=alice.pk).exists()
    assert not any(f.exists() for f in mine["files"]) and not stray.exists()
    assert not (Path(settings.DATA_DIR) / "uploads" / str(alice.pk)).exists()

    # bob's chain is whole: rows, statuses and files
    assert all(f.exists() for f in theirs["files"])
    assert Video.objects.filter(owner=bob).count() == 1 and TrainedModel.objects.filter(owner=bob).count() == 1
    assert LiveSession.objects.get(pk=theirs["session"].pk).status == "running"
    assert Job.objects.get(owner=bob).status == Job.Status.RUNNING
    assert LabelSpan.objects.filter(video__owner=bob).count() == 1


def test_learning_and_retraining_objects_and_their_schedule_go_too(alice, bob, django_capture_on_commit_callbacks):
    from django.utils import timezone
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    from learning.models import Ablation, LabellingRound
    from retraining.models import RetrainPolicy

    def learning_of(user):
        mine = everything_of(user, user.username)
        dataset = mine["model"].dataset
        every = IntervalSchedule.objects.create(every=3600, period="seconds")
        task = PeriodicTask.objects.create(name=f"retraining policy of {user}", task="x", interval=every)
        RetrainPolicy.objects.create(
            owner=user, name="nightly", dataset_params={}, labels_since=timezone.now(), periodic_task=task
        )
        LabellingRound.objects.create(owner=user, model=mine["model"])
        Ablation.objects.create(owner=user, dataset=dataset, model_type="rf", aggregation="stats")
        return task

    alice_task, bob_task = learning_of(alice), learning_of(bob)
    with django_capture_on_commit_callbacks(execute=True):
        user_delete(user=alice)
    for model in (RetrainPolicy, LabellingRound, Ablation):
        assert not model.objects.filter(owner_id=alice.pk).exists(), model
        assert model.objects.filter(owner=bob).count() == 1, model
    assert not PeriodicTask.objects.filter(pk=alice_task.pk).exists()  # no schedule left firing for nobody
    assert PeriodicTask.objects.filter(pk=bob_task.pk).exists()


def test_a_users_model_used_by_someone_elses_session_goes_with_the_user(
    alice, staff_user, django_capture_on_commit_callbacks
):
    mine = everything_of(alice, "alice")
    watching = LiveSession.objects.create(owner=staff_user, trained_model=mine["model"], source_kind="push")
    with django_capture_on_commit_callbacks(execute=True):
        user_delete(user=alice)
    assert not LiveSession.objects.filter(pk=watching.pk).exists()
    assert User.objects.filter(pk=staff_user.pk).exists()
    assert not any(f.exists() for f in mine["files"])


def test_a_model_in_use_by_a_running_session_is_not_deleted_alone(alice, client_for):
    mine = everything_of(alice, "alice")
    r = client_for(alice).delete(f"/api/v1/models/{mine['model'].pk}/")
    assert r.status_code == 409 and "live session" in r.json()["detail"], r.content
    LiveSession.objects.filter(pk=mine["session"].pk).update(status="stopped")
    assert client_for(alice).delete(f"/api/v1/models/{mine['model'].pk}/").status_code == 204
    assert not LiveSession.objects.filter(pk=mine["session"].pk).exists()


def test_bulk_delete_action_uses_the_service(alice, bob, superuser, django_capture_on_commit_callbacks):
    mine, theirs = everything_of(alice, "alice"), everything_of(bob, "bob")
    web = Client()
    web.force_login(superuser)
    with django_capture_on_commit_callbacks(execute=True):
        r = web.post(
            "/admin/auth/user/",
            {"action": "delete_selected", "_selected_action": [alice.pk, bob.pk], "post": "yes"},
        )
    assert r.status_code == 302
    assert list(User.objects.values_list("username", flat=True)) == ["root"]
    assert not any(f.exists() for f in mine["files"] + theirs["files"])
    assert not Video.objects.exists() and not Dataset.objects.exists()


def test_what_a_users_deletion_takes_anyones_sessions_on_their_models_first(alice, staff_user):
    from users.services import user_owned_objects

    mine = everything_of(alice, "alice")
    watching = LiveSession.objects.create(owner=staff_user, trained_model=mine["model"], source_kind="push")
    owned = user_owned_objects(user=alice)
    assert owned[:2] == [mine["session"], watching]  # every session on alice's models, then her other objects
    feature_file = FeatureFile.objects.get(owner=alice)
    assert owned[2:] == [mine["model"], mine["model"].dataset, feature_file, mine["video"]]


def test_a_user_whose_files_feed_someone_elses_live_model_is_not_deleted(alice, bob):
    from taskml.domain import Conflict

    mine = everything_of(alice, "alice")
    theirs = ready_dataset(bob, feature_file=FeatureFile.objects.get(owner=alice))  # built from alice's file
    running = LiveSession.objects.create(
        owner=bob, trained_model=ready_model(bob, dataset=theirs), source_kind="push", status="running"
    )
    with pytest.raises(Conflict, match=r"is used by live session\(s\) \d+; stop them first$"):
        user_delete(user=alice)
    assert User.objects.filter(pk=alice.pk).exists() and Video.objects.filter(pk=mine["video"].pk).exists()
    assert LiveSession.objects.get(pk=running.pk).status == "running"
