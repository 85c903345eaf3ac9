"""The datasets app's services and selectors without a build job: the parameter check (each
refusal names its field), which feature files may be built from, names, and the leaf delete."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from datasets.models import Dataset
from datasets.selectors import dataset_by_name
from datasets.services import dataset_delete, dataset_params_check, dataset_request
from jobs.models import Job, JobStatus
from taskml.domain import Conflict, NotFound, ValidationFailed
from tests.api.factories import job_row, ready_dataset, ready_feature_file, ready_model
from tests.messages import exactly
from videos.models import FeatureFile

GOOD = {"window_sec": 2.0, "step_sec": 0.5, "balance_method": "none", "ratios": (0.7, 0.15, 0.15)}


def test_parameters_are_stored_complete_with_ratios_that_sum_to_one():
    params = dataset_params_check(**{**GOOD, "ratios": (0.7, 0.15, 0.1501)})
    assert params == {
        "window_sec": 2.0,
        "step_sec": 0.5,
        "balance_method": "none",
        "ratios": pytest.approx([0.7 / 1.0001, 0.15 / 1.0001, 0.1501 / 1.0001]),
        "seed": 42,
        "groups": ["pose", "hands", "objects"],
        "splits": None,
        "min_purity": 0.6,
        "resample_fps": 15.0,
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"window_sec": 0}, "window_sec: must be between 0.01 and 3600 s, got 0"),
        ({"step_sec": -0.5}, "step_sec: must be between 0.001 and 3600 s, got -0.5"),
        ({"balance_method": "smote"}, "balance_method: 'smote' unknown; choose one of none, downsample, upsample"),
        ({"ratios": (1.2, -0.1, -0.1)}, "train_ratio: must be between 0 and 1, got 1.2"),
        ({"ratios": (0.0, 0.5, 0.5)}, "train_ratio: must be positive"),
        ({"ratios": (0.5, 0.2, 0.2)}, "train_ratio: train/val/test ratios must sum to 1, got 0.9"),
        ({"seed": -1}, "seed: must be between 0 and 4,294,967,295, got -1"),
        ({"min_purity": 0}, "min_purity: must be between 0.01 and 1, got 0"),
        ({"groups": ["pose", "faces"]}, "groups: ['faces'] unknown; choose from pose, hands, objects"),
        ({"splits": {"a": "train", "b": "holdout"}}, "splits: split names 'holdout' unknown; use train, val or test"),
    ],
)
def test_each_refusal_names_its_field(change, message):
    with pytest.raises(ValidationFailed, match=exactly(message)):
        dataset_params_check(**{**GOOD, **change})


@pytest.mark.django_db
def test_only_extracted_labelled_files_holding_two_classes_are_built(alice):
    params = dataset_params_check(**GOOD)
    pending = ready_feature_file(alice, name="pending_features.parquet")
    FeatureFile.objects.filter(pk=pending.pk).update(status=JobStatus.RUNNING)
    pending.refresh_from_db()
    unlabelled = ready_feature_file(alice, name="bare_features.parquet", labels={})
    FeatureFile.objects.filter(pk=unlabelled.pk).update(label_distribution={})
    unlabelled.refresh_from_db()
    one_class = ready_feature_file(alice, name="one_features.parquet", labels={"a": 20})

    for files, message in (
        ([], "feature_files: name at least one feature file"),
        ([pending], "feature_files: not extracted (yet): pending_features.parquet"),
        ([unlabelled], "feature_files: no labelled frames in bare_features.parquet"),
        ([one_class, one_class], "feature_files: the files hold one class (a); a dataset needs at least two"),
    ):
        with pytest.raises(ValidationFailed, match=exactly(message)):
            dataset_request(owner=alice, feature_files=files, params=params)
    assert not Dataset.objects.exists() and not Job.objects.exists()


@pytest.mark.django_db
def test_a_dataset_is_named_dataset_and_its_id(alice, bob):
    dataset = ready_dataset(alice)
    assert dataset_by_name(user=alice, name=dataset.name) == dataset
    for name, error, message in (
        ("../x", ValidationFailed, "dataset_dir: '../x' is a name, not a path: no '/', '\\' or '..'"),
        ("my_data", ValidationFailed, "dataset_dir: 'my_data' is not a dataset name; expected dataset_<id>"),
        (dataset.name, NotFound, f"dataset_dir: no dataset '{dataset.name}' of yours"),
    ):
        with pytest.raises(error, match=exactly(message)):
            dataset_by_name(user=bob if error is NotFound else alice, name=name)
    Dataset.objects.filter(pk=dataset.pk).update(status=JobStatus.FAILED)
    with pytest.raises(ValidationFailed, match=exactly(f"dataset_dir: {dataset.name} is not built (failed)")):
        dataset_by_name(user=alice, name=dataset.name)


@pytest.mark.django_db
def test_a_dataset_goes_alone_its_job_stopped_and_its_directory_removed(alice, django_capture_on_commit_callbacks):
    dataset = ready_dataset(alice)
    model = ready_model(alice, dataset=dataset)
    with pytest.raises(Conflict, match=exactly(
        f"dataset: {dataset.name} has 1 trained model(s) ({model.filename}); delete them first or cascade"
    )):  # fmt: skip
        dataset_delete(dataset=dataset)

    model.delete()
    job = job_row(alice, status=JobStatus.RUNNING, target=dataset)
    directory = Path(settings.DATA_DIR) / dataset.path
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "X_train.npy").write_bytes(b"x")
    dataset.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        dataset_delete(dataset=dataset)
    assert not Dataset.objects.exists() and not directory.exists()
    job.refresh_from_db()
    assert job.cancel_requested  # a running job stops at its next progress report
