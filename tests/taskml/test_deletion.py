"""The deletion orchestrator (taskml.deletion) over what the apps registered: what a delete
takes along, in which order, what refuses it and with which words; the leaves refuse alone."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from datasets.models import Dataset
from datasets.services import dataset_delete
from learning.models import Ablation, LabellingRound
from models_app.models import TrainedModel
from models_app.services import trained_model_delete
from retraining.models import RetrainPolicy
from streaming.models import LiveSession
from taskml import deletion
from taskml.domain import Conflict
from tests.api.factories import ready_dataset, ready_feature_file, ready_model, video_row
from tests.messages import exactly
from videos.models import FeatureFile, Video
from videos.services import video_delete

pytestmark = pytest.mark.django_db


@pytest.fixture
def chain(alice):
    """video → feature file → dataset → model → an ended live session."""
    video = video_row(alice, name="clip")
    feature_file = ready_feature_file(alice, video=video, name="clip_features.parquet")
    dataset = ready_dataset(alice, feature_file=feature_file)
    model = ready_model(alice, dataset=dataset)
    ended = LiveSession.objects.create(owner=alice, trained_model=model, source_kind="push", status="finished")
    return {"video": video, "feature_file": feature_file, "dataset": dataset, "model": model, "ended": ended}


def test_a_cascade_takes_everything_that_rests_on_the_object_dependents_first(chain):
    c = chain
    assert deletion.plan([c["video"]], cascade=True) == [
        c["ended"],
        c["model"],
        c["dataset"],
        c["feature_file"],
        c["video"],
    ]


def test_a_dependent_reached_twice_is_deleted_once(alice, chain):
    second = ready_feature_file(alice, video=chain["video"], name="clip_features_2.parquet")
    chain["dataset"].sources.add(second)  # built from both of the video's files
    planned = deletion.plan([chain["video"]], cascade=True)
    assert planned.count(chain["dataset"]) == 1
    assert planned.index(chain["dataset"]) < planned.index(chain["feature_file"])
    assert planned.index(chain["dataset"]) < planned.index(second)


def test_without_cascade_the_first_dependents_refuse_with_their_apps_words(chain):
    with pytest.raises(Conflict, match=exactly(
        "video: clip.avi has 1 feature file(s) (clip_features.parquet); delete them first or cascade"
    )):  # fmt: skip
        deletion.delete(chain["video"])
    with pytest.raises(Conflict, match=exactly(
        f"feature_file: clip_features.parquet is a source of 1 dataset(s) ({chain['dataset'].name}); "
        "delete them first or cascade"
    )):  # fmt: skip
        deletion.delete(chain["feature_file"])
    with pytest.raises(Conflict, match=exactly(
        f"dataset: {chain['dataset'].name} has 1 trained model(s) ({chain['model'].filename}); "
        "delete them first or cascade"
    )):  # fmt: skip
        deletion.delete(chain["dataset"])
    assert Video.objects.count() == 1 and FeatureFile.objects.count() == 1 and Dataset.objects.count() == 1


def test_what_goes_with_a_model_goes_without_asking(chain):
    deletion.delete(chain["model"])
    assert not TrainedModel.objects.exists() and not LiveSession.objects.exists()
    assert Dataset.objects.filter(pk=chain["dataset"].pk).exists()


def test_a_running_session_deep_down_stops_the_whole_cascade(alice, chain):
    model = chain["model"]
    running = LiveSession.objects.create(owner=alice, trained_model=model, source_kind="push", status="running")
    with pytest.raises(Conflict, match=exactly(
        f"model: {chain['model'].filename} is used by live session(s) {running.pk}; stop them first"
    )):  # fmt: skip
        deletion.delete(chain["video"], cascade=True)
    for row in chain.values():
        assert type(row).objects.filter(pk=row.pk).exists(), row


def test_a_held_out_video_is_not_deleted_even_with_cascade(alice, chain):
    policy = RetrainPolicy.objects.create(owner=alice, name="nightly", dataset_params={}, labels_since=timezone.now())
    policy.holdout_videos.add(chain["video"])
    with pytest.raises(Conflict, match=exactly(
        "video: clip.avi is held out by retraining policy 'nightly'; delete the policy first"
    )):  # fmt: skip
        deletion.delete(chain["video"], cascade=True)
    # Deleted in one go with its policy (a user's delete), it is no longer held out by anything left.
    deletion.delete_all([policy, chain["video"]], cascade=True)
    assert not Video.objects.exists() and not RetrainPolicy.objects.exists()


def test_the_leaves_refuse_while_anything_depends_on_their_row(chain):
    with pytest.raises(Conflict, match=r"^video: clip\.avi has 1 feature file\(s\)"):
        video_delete(video=chain["video"])
    with pytest.raises(Conflict, match=r"^dataset: dataset_\d+ has 1 trained model\(s\)"):
        dataset_delete(dataset=chain["dataset"])
    with pytest.raises(Conflict, match=exactly(
        f"model: {chain['model'].filename} is the model of live session(s) {chain['ended'].pk}; delete them first"
    )):  # fmt: skip
        trained_model_delete(trained_model=chain["model"])


def test_files_go_once_the_rows_are_gone_for_good(chain, django_capture_on_commit_callbacks):
    root = Path(settings.DATA_DIR)
    files = [chain["video"].file, chain["feature_file"].path, f"{chain['dataset'].path}/X_train.npy",
             chain["model"].path, chain["model"].path.replace(".pkl", "_meta.json")]  # fmt: skip
    for name in files:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"x")
    assert set(deletion.files_of(chain["model"])) >= {chain["model"].path, files[-1]}

    with django_capture_on_commit_callbacks(execute=False) as pending:
        deletion.delete(chain["video"], cascade=True)
    assert all((root / name).exists() for name in files)  # not yet: the transaction might still roll back
    for callback in pending:
        callback()
    assert not any((root / name).exists() for name in files)


def test_a_users_objects_come_higher_apps_first(alice, bob, chain):
    round_ = LabellingRound.objects.create(owner=alice, model=chain["model"])
    ablation = Ablation.objects.create(owner=alice, dataset=chain["dataset"], model_type="rf", aggregation="stats")
    policy = RetrainPolicy.objects.create(owner=alice, name="nightly", dataset_params={}, labels_since=timezone.now())
    video_row(bob, name="bobs")
    assert deletion.owned_by(alice) == [
        policy,
        ablation,
        round_,
        chain["ended"],
        chain["model"],
        chain["dataset"],
        chain["feature_file"],
        chain["video"],
    ]
