from __future__ import annotations

from django.db.models import QuerySet

from jobs.models import JobStatus
from models_app.models import TrainedModel
from taskml import storage
from taskml.domain import NotFound
from taskml.ownership import visible_to


def trained_model_list(*, user, ready_only: bool = False) -> QuerySet[TrainedModel]:
    models = visible_to(TrainedModel.objects.select_related("dataset"), user)
    return models.filter(status=JobStatus.SUCCEEDED) if ready_only else models


def trained_model_get(*, user, pk: int) -> TrainedModel:
    found = trained_model_list(user=user).filter(pk=pk).first()
    if found is None:
        raise NotFound("model", f"no model {pk} of yours")
    return found


def trained_model_by_filename(*, user, filename: str, field: str = "task_model") -> TrainedModel:
    storage.check_name(filename, field=field)
    found = trained_model_list(user=user).filter(filename=filename).first()
    if found is None:
        raise NotFound(field, f"no model {filename!r} of yours")
    return found


def trained_model_detector(trained_model: TrainedModel) -> tuple[str, str]:
    """(detector kind, YOLO weights) of the feature files the model's dataset was built from;
    blanks when it has no sources (its features' detectors are then unknown)."""
    source = trained_model.dataset.sources.order_by("datasetsource__id").first()
    return (source.detector, source.yolo_model) if source is not None else ("", "")
