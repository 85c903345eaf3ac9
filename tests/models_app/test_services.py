"""The models app's services and selectors without a training job: the configuration check,
what a training request refuses, versions, the artifact's files, the detectors a model was
trained with, and deleting a model while live sessions use it."""

from __future__ import annotations

import pytest

from datasets.models import Dataset
from jobs.models import Job, JobStatus
from models_app.models import TrainedModel
from models_app.selectors import trained_model_detector
from models_app.services import (
    trained_model_allocate,
    trained_model_files,
    trained_model_request,
    training_params_check,
)
from streaming.models import LiveSession
from taskml import deletion
from taskml.domain import Conflict, ValidationFailed
from taskml.pipeline.training import DEFAULT_AGGREGATION, DEFAULT_MODEL
from tests.api.factories import ready_dataset, ready_feature_file, ready_model
from tests.messages import exactly
from videos.models import FeatureFile


def test_a_configuration_is_completed_and_checked():
    assert training_params_check(model_type=None, aggregation=None, params={}) == (
        DEFAULT_MODEL,
        DEFAULT_AGGREGATION,
        {},
    )
    assert training_params_check(model_type="lightgbm", aggregation=None, params={"n_estimators": 50}) == (
        "lgbm",
        "stats",
        {"n_estimators": 50},
    )
    assert training_params_check(model_type="tcn", aggregation="stats", params={"max_depth": None})[1:] == (
        "sequence",  # the networks take whole windows, whatever was asked
        {},
    )


@pytest.mark.parametrize(
    ("model_type", "aggregation", "params", "message"),
    [
        ("svm", None, {}, "model_type: model 'svm' unknown; choose one of rf, lgbm, ridge, lstm, tcn, transformer "
                          "(or lightgbm)"),
        ("rf", "median", {}, "aggregation: 'median' unknown; choose one of stats, flatten, multiscale, minirocket"),
        ("rf", "stats", {"n_estimators": 0}, "n_estimators: must be between 1 and 100,000, got 0"),
        ("lgbm", "stats", {"learning_rate": -1.0}, "learning_rate: must be between 1e-06 and 10, got -1"),
        ("rf", "stats", {"trees": 5}, "params: ModelParams.__init__() got an unexpected keyword argument 'trees'"),
    ],
)  # fmt: skip
def test_each_refusal_names_its_field(model_type, aggregation, params, message):
    with pytest.raises(ValidationFailed, match=exactly(message)):
        training_params_check(model_type=model_type, aggregation=aggregation, params=params)


@pytest.mark.django_db
def test_a_training_request_needs_a_built_dataset_of_two_classes_and_a_usable_seed(alice):
    dataset = ready_dataset(alice)
    with pytest.raises(ValidationFailed, match=exactly("seed: must be between 0 and 4,294,967,295, got 4,294,967,296")):
        trained_model_request(owner=alice, dataset=dataset, model_type="rf", seed=2**32)
    with pytest.raises(ValidationFailed, match=exactly("cv: must be between 2 and 20 folds (or 0 for none), got 1")):
        trained_model_request(owner=alice, dataset=dataset, model_type="rf", cv=1)
    with pytest.raises(ValidationFailed, match=exactly("cv: must be between 0 and 20, got 21")):
        trained_model_request(owner=alice, dataset=dataset, model_type="rf", cv=21)
    Dataset.objects.filter(pk=dataset.pk).update(labels=["a"])
    dataset.refresh_from_db()
    with pytest.raises(ValidationFailed, match=exactly(f"dataset_dir: {dataset.name} holds fewer than two classes")):
        trained_model_request(owner=alice, dataset=dataset, model_type="rf")
    Dataset.objects.filter(pk=dataset.pk).update(status=JobStatus.RUNNING)
    dataset.refresh_from_db()
    with pytest.raises(ValidationFailed, match=exactly(f"dataset: {dataset.name} is not built (running)")):
        trained_model_request(owner=alice, dataset=dataset, model_type="rf", dataset_field="dataset")
    assert not TrainedModel.objects.exists() and not Job.objects.exists()


@pytest.mark.django_db
def test_versions_count_per_owner_and_name_the_files(alice, bob):
    mine, theirs = ready_dataset(alice), ready_dataset(bob)
    first = trained_model_allocate(owner=alice, dataset=mine, model_type="rf", aggregation="stats", params={})
    second = trained_model_allocate(owner=alice, dataset=mine, model_type="lgbm", aggregation="stats", params={})
    other = trained_model_allocate(owner=bob, dataset=theirs, model_type="rf", aggregation="stats", params={})
    assert (first.version, second.version, other.version) == (1, 2, 1)
    assert second.filename == f"task_classifier_lgbm_{second.pk}.pkl"
    assert second.path == f"mlruns/models/{second.filename}" and second.status == JobStatus.PENDING
    assert trained_model_files(second) == [
        second.path,
        second.path.replace(".pkl", "_metrics.json"),
        second.path.replace(".pkl", "_meta.json"),
        second.path.replace(".pkl", ".onnx"),  # the kept ONNX export, once downloaded
    ]


@pytest.mark.django_db
def test_the_detectors_a_model_was_trained_with_come_from_its_datasets_first_source(alice):
    feature_file = ready_feature_file(alice)
    FeatureFile.objects.filter(pk=feature_file.pk).update(detector="fusion", yolo_model="yolov8s.pt")
    feature_file.refresh_from_db()
    model = ready_model(alice, dataset=ready_dataset(alice, feature_file=feature_file))
    assert trained_model_detector(model) == ("fusion", "yolov8s.pt")
    model.dataset.sources.clear()
    assert trained_model_detector(model) == ("", "")


@pytest.mark.django_db
def test_a_model_goes_with_its_ended_sessions_but_not_under_a_running_one(alice, bob):
    model = ready_model(alice, dataset=ready_dataset(alice))
    ended = LiveSession.objects.create(owner=alice, trained_model=model, source_kind="push", status="stopped")
    watching = LiveSession.objects.create(owner=bob, trained_model=model, source_kind="push", status="running")
    with pytest.raises(Conflict, match=exactly(
        f"model: {model.filename} is used by live session(s) {watching.pk}; stop them first"
    )):  # fmt: skip
        deletion.delete(model)
    assert LiveSession.objects.count() == 2

    LiveSession.objects.filter(pk=watching.pk).update(status="finished")
    deletion.delete(model)
    assert not TrainedModel.objects.exists()
    assert not LiveSession.objects.filter(pk__in=[ended.pk, watching.pk]).exists()
