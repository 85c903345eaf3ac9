"""Trained models: request training as a job, record the artifact, load it only when verified."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max

from datasets.models import Dataset
from jobs.models import Job, JobStatus
from jobs.quotas import MB
from jobs.services import job_cancel_if_active, job_create
from models_app.models import TrainedModel
from models_app.selectors import trained_model_detector
from taskml import deletion, storage
from taskml.domain import Conflict, ValidationFailed, field_error
from taskml.pipeline.aggregation import TABULAR_AGGREGATIONS
from taskml.pipeline.artifacts import load_artifact, sidecar_paths
from taskml.pipeline.contracts import ModelBundle
from taskml.pipeline.errors import InputError, PipelineError
from taskml.pipeline.estimates import DatasetShape, check_training, estimate_training
from taskml.pipeline.estimators import SEQUENCE_MODELS, ModelParams, canonical_model_type
from taskml.pipeline.onnx_export import detector_metadata
from taskml.pipeline.params import SEED
from taskml.pipeline.training import TrainSpec, cv_folds_check, resolve_config, train_model
from taskml.pipeline.windows import WindowSpec
from videos.detectors import detector_config

AGGREGATIONS = TABULAR_AGGREGATIONS


def training_params_check(
    *, model_type: str | None, aggregation: str | None, params: dict[str, Any]
) -> tuple[str, str, dict]:
    """(model, aggregation, params) checked; a missing model and aggregation get the pipeline's
    default configuration, a model alone its usual aggregation (training.resolve_config)."""
    model_type, aggregation = resolve_config(model_type, aggregation)
    try:
        model_type = canonical_model_type(model_type or "")
    except InputError as exc:
        raise ValidationFailed("model_type", str(exc)) from None
    if model_type in SEQUENCE_MODELS:
        aggregation = "sequence"
    elif aggregation not in AGGREGATIONS:
        raise ValidationFailed("aggregation", f"{aggregation!r} unknown; choose one of {', '.join(AGGREGATIONS)}")
    clean = {k: v for k, v in params.items() if v is not None}
    try:
        ModelParams(**clean)
    except TypeError as exc:
        raise ValidationFailed("params", str(exc)) from None
    except InputError as exc:
        raise field_error(exc) from None
    return model_type, aggregation, clean


def dataset_shape(dataset: Dataset) -> DatasetShape:
    """The sizes of a built dataset that training costs depend on (from its row)."""
    params = dataset.params or {}
    window = WindowSpec(
        window_sec=params.get("window_sec", dataset.window_sec),
        step_sec=params.get("step_sec", dataset.step_sec),
        resample_fps=params.get("resample_fps", WindowSpec.resample_fps),
    )
    return DatasetShape(
        train=dataset.train_size,
        val=dataset.val_size,
        test=dataset.test_size,
        frames=window.frames,
        features=max(dataset.num_features, 1),
        classes=len(dataset.labels),
    )


def training_cost_check(*, dataset: Dataset, model_type: str, aggregation: str, params: dict, runs: int = 1) -> None:
    """Refuse training that could not fit a job's memory (413) or the training time limit (400),
    naming the parameter, the estimate and the limit (taskml.pipeline.estimates)."""
    try:
        estimate = estimate_training(model_type, aggregation, ModelParams(**params), dataset_shape(dataset))
        if runs > 1:
            estimate = replace(
                estimate,
                seconds=estimate.seconds * runs,
                seconds_detail=f"{runs} models, each {estimate.seconds_detail}",
            )
        check_training(
            estimate,
            max_memory_bytes=settings.TASKML_WORKER_MAX_MEMORY_MB * MB,
            memory_limit_name="TASKML_WORKER_MAX_MEMORY_MB",
            max_seconds=settings.TASKML_JOB_TIME_LIMITS["training"],
            time_limit_name="TASKML_TRAINING_TIME_LIMIT",
        )
    except InputError as exc:
        raise field_error(exc) from None


def trained_model_request(
    *,
    owner,
    dataset: Dataset,
    model_type: str | None = None,
    aggregation: str | None = None,
    params: dict | None = None,
    seed: int = 42,
    dataset_field: str = "dataset_dir",
    cv: int = 0,
) -> TrainedModel:
    """A pending model and the job that trains it on a built dataset of the owner's.

    ``dataset_field`` is the name the caller's interface gave the dataset, for errors.
    """
    model_type, aggregation, params = training_params_check(
        model_type=model_type, aggregation=aggregation, params=params or {}
    )
    try:
        seed, cv = SEED.check(seed), cv_folds_check(cv)
    except InputError as exc:
        raise field_error(exc) from None
    if dataset.status != JobStatus.SUCCEEDED:
        raise ValidationFailed(dataset_field, f"{dataset.name} is not built ({dataset.status})")
    if len(dataset.labels) < 2:
        raise ValidationFailed(dataset_field, f"{dataset.name} holds fewer than two classes")
    training_cost_check(dataset=dataset, model_type=model_type, aggregation=aggregation, params=params, runs=1 + cv)
    with transaction.atomic():
        model = trained_model_allocate(
            owner=owner,
            dataset=dataset,
            model_type=model_type,
            aggregation=aggregation,
            params={**params, "seed": seed, **({"cv": cv} if cv else {})},
        )
        job_create(
            owner=owner,
            kind=Job.Kind.TRAINING,
            inputs={
                "trained_model_id": model.pk,
                "dataset_dir": dataset.name,
                "model_type": model_type,
                "aggregation": aggregation,
                "params": params,
                "seed": seed,
                "cv": cv,
            },
            target=model,
        )
    model.refresh_from_db()
    return model


def trained_model_allocate(
    *,
    owner,
    dataset: Dataset,
    model_type: str,
    aggregation: str,
    params: dict,
    status: str = JobStatus.PENDING,
    job=None,
) -> TrainedModel:
    """A model row with the owner's next version, its file name and path (nothing trained yet).

    Versions are per owner and two requests may race for the next one: the unique constraint
    decides, and the loser takes the version after.
    """
    for _ in range(5):
        try:
            with transaction.atomic():
                version = (TrainedModel.objects.filter(owner=owner).aggregate(v=Max("version"))["v"] or 0) + 1
                model = TrainedModel.objects.create(
                    owner=owner,
                    dataset=dataset,
                    version=version,
                    status=status,
                    job=job,
                    model_type=model_type,
                    aggregation=aggregation,
                    params=params,
                )
                model.filename = f"task_classifier_{model_type}_{model.pk}.pkl"
                model.path = storage.relative(storage.models_dir() / model.filename)
                model.save(update_fields=["filename", "path"])
                return model
        except IntegrityError:
            continue
    raise Conflict("model", "could not allocate a model version; try again")


def stored_train_spec(*, model_type: str, aggregation: str, params: dict) -> TrainSpec:
    """The TrainSpec a row's stored configuration describes (``params`` holds the seed too, and
    ``cv`` when cross-validation was asked for: not carried into retrained versions)."""
    return TrainSpec(
        model_type=model_type,
        aggregation=aggregation,
        params=ModelParams(**{k: v for k, v in params.items() if k not in ("seed", "cv")}),
        seed=params.get("seed", 42),
    )


def trained_model_record(*, trained_model: TrainedModel, result, **extra_metrics) -> dict:
    """Record what training wrote (checksum, size, metrics) on the model's row; returns the metrics."""
    metrics = {**result.metrics.to_dict(), **extra_metrics}
    TrainedModel.objects.filter(pk=trained_model.pk).update(
        sha256=result.sha256,
        size_bytes=result.model_path.stat().st_size,
        metrics=metrics,
        accuracy=metrics["accuracy"],
        f1_macro=metrics["f1_macro"],
    )
    return metrics


def trained_model_train(job: Job, reporter) -> dict:
    """The training job: fit, evaluate on test, save the artifact with its checksum."""
    model = TrainedModel.objects.select_related("dataset").filter(pk=job.inputs["trained_model_id"]).first()
    if model is None:
        raise ValidationFailed("model", "was deleted before it could be trained")
    spec = stored_train_spec(model_type=model.model_type, aggregation=model.aggregation, params=model.params)
    spec = replace(spec, cv_folds=int(model.params.get("cv") or 0))
    reporter.stage("training")
    result = train_model(
        storage.absolute(model.dataset.path), storage.absolute(model.path), spec=spec, progress=reporter
    )
    metrics = trained_model_record(trained_model=model, result=result, dataset=model.dataset.name)
    return {
        "model_path": model.filename,
        "model_id": model.pk,
        "accuracy": metrics["accuracy"],
        "f1_macro": metrics["f1_macro"],
        "seconds": round(result.seconds, 3),
    }


def trained_model_load(*, trained_model: TrainedModel) -> ModelBundle:
    """The artifact's bundle, unpickled only after its bytes match the registry's sha256."""
    if trained_model.status != JobStatus.SUCCEEDED:
        raise ValidationFailed("model", f"{trained_model} is not trained ({trained_model.status})")
    return load_artifact(storage.absolute(trained_model.path), expected_sha256=trained_model.sha256)


def trained_model_files(trained_model: TrainedModel) -> list[str]:
    """The artifact and the JSON files beside it, relative to the data directory."""
    if not trained_model.path:
        return []
    try:
        model_path = storage.absolute(trained_model.path)
    except ValueError:  # a row pointing outside the data directory: only its own path is ours to name
        return [trained_model.path]
    kept_onnx = storage.relative(onnx_path(trained_model))  # the kept ONNX export, if any
    return [trained_model.path, *(storage.relative(p) for p in sidecar_paths(model_path)), kept_onnx]


def trained_model_detector_metadata(*, trained_model: TrainedModel) -> dict | None:
    """The detectors that made the model's features, as a live session picks them (the first
    feature file of its dataset; the server's object model otherwise), as ONNX metadata."""
    kind, yolo_model = trained_model_detector(trained_model)
    try:
        return detector_metadata(detector_config(kind=kind or "fusion", yolo_model=yolo_model))
    except InputError:
        return {"kind": kind or "fusion"}


def onnx_path(trained_model: TrainedModel):
    """Where a model's ONNX export is kept: beside its artifact, ``<stem>.onnx``."""
    return storage.absolute(trained_model.path).with_suffix(".onnx")


def trained_model_onnx(*, trained_model: TrainedModel) -> tuple[Path, str]:
    """(path, sha256) of the model's ONNX file, exported on first use and kept beside the artifact.

    The artifact is loaded only through the registry's checksum (trained_model_load); a kept
    export is reused while it names this model's sha256 and the current export format.
    """
    from taskml.pipeline.files import sha256_file
    from taskml.pipeline.onnx_export import EXPORT_FORMAT, NotExportable, export_onnx, read_onnx_metadata

    bundle = trained_model_load(trained_model=trained_model)
    path = onnx_path(trained_model)
    if path.is_file():
        kept = read_onnx_metadata(path)
        if kept.get("model_sha256") == trained_model.sha256 and kept.get("format") == EXPORT_FORMAT:
            return path, sha256_file(path)
    try:
        return export_onnx(
            bundle,
            path,
            model_sha256=trained_model.sha256,
            detector=trained_model_detector_metadata(trained_model=trained_model),
        )
    except NotExportable as exc:
        raise Conflict("model", f"{trained_model} cannot be exported to ONNX: {exc}") from None
    except PipelineError as exc:
        raise ValidationFailed("model", str(exc)) from None


@transaction.atomic
def trained_model_delete(*, trained_model: TrainedModel) -> None:
    """The model's row, artifact and sidecars, its job stopped; Conflict while anything depends on it."""
    deletion.refuse_if_depended_on(trained_model)
    job_cancel_if_active(trained_model.job)
    storage.remove_on_commit(*trained_model_files(trained_model))
    trained_model.delete()
