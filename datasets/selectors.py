from __future__ import annotations

import re

from django.db.models import QuerySet

from datasets.models import Dataset
from jobs.models import JobStatus
from taskml import storage
from taskml.domain import NotFound, ValidationFailed
from taskml.ownership import visible_to

_NAME = re.compile(r"^dataset_(\d+)$")


def dataset_list(*, user, ready_only: bool = False) -> QuerySet[Dataset]:
    datasets = visible_to(Dataset.objects.all(), user)
    return datasets.filter(status=JobStatus.SUCCEEDED) if ready_only else datasets


def dataset_get(*, user, pk: int) -> Dataset:
    found = dataset_list(user=user).filter(pk=pk).first()
    if found is None:
        raise NotFound("dataset", f"no dataset {pk} of yours")
    return found


def dataset_by_name(*, user, name: str, field: str = "dataset_dir") -> Dataset:
    """``dataset_<id>`` (as build_task_dataset answered) → the caller's ready dataset."""
    name = storage.check_name(name, field=field)
    match = _NAME.match(name)
    if not match:
        raise ValidationFailed(field, f"{name!r} is not a dataset name; expected dataset_<id>")
    found = dataset_list(user=user).filter(pk=int(match.group(1))).first()
    if found is None:
        raise NotFound(field, f"no dataset {name!r} of yours")
    if found.status != JobStatus.SUCCEEDED:
        raise ValidationFailed(field, f"{name} is not built ({found.status})")
    return found
