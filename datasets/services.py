"""Dataset builds: validate the request, run the pipeline in a job, record what it made."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from datasets.models import Dataset, DatasetSource
from jobs.models import Job, JobStatus
from jobs.quotas import MB, storage_check
from jobs.services import job_cancel_if_active, job_create
from taskml import deletion, storage
from taskml.domain import Conflict, ValidationFailed, field_error
from taskml.pipeline.dataset import (
    DATASET_PARAMS,
    RATIO_PARAMS,
    DatasetSpec,
    PlanRefused,
    build_dataset,
    plan_dataset,
    resolve_feature_names,
)
from taskml.pipeline.errors import InputError
from taskml.pipeline.estimates import check_dataset_size, estimate_dataset
from taskml.pipeline.features import FEATURE_GROUPS
from taskml.pipeline.windows import SPLITS, WindowSpec
from videos.models import FeatureFile
from videos.services import feature_files_relabel

# The build parameters a request leaves out (the keywords of dataset_params_check), from the
# pipeline's DatasetSpec: the one definition of their defaults and ranges.
DATASET_DEFAULTS = {
    **{k: v for k, v in DatasetSpec.defaults().items() if k not in RATIO_PARAMS},
    "ratios": tuple(p.default for p in RATIO_PARAMS.values()),
}
DATASET_LIMIT_NAME = "TASKML_MAX_DATASET_MB"


def _spec_from(params: dict) -> DatasetSpec:
    params = {**DATASET_DEFAULTS, **{k: v for k, v in params.items() if v is not None or k == "splits"}}
    window = WindowSpec(
        window_sec=params["window_sec"],
        step_sec=params["step_sec"],
        resample_fps=params["resample_fps"],
        min_purity=params["min_purity"],
    )
    return DatasetSpec(
        window=window,
        balance=params["balance_method"],
        ratios=tuple(params["ratios"]),
        seed=params.get("seed", DATASET_DEFAULTS["seed"]),
        groups=tuple(params.get("groups") or FEATURE_GROUPS),
        splits=params.get("splits"),
    )


def dataset_params_check(
    *,
    window_sec: float = DATASET_DEFAULTS["window_sec"],
    step_sec: float = DATASET_DEFAULTS["step_sec"],
    balance_method: str = DATASET_DEFAULTS["balance_method"],
    ratios: tuple[float, float, float] = DATASET_DEFAULTS["ratios"],
    seed: int = DATASET_DEFAULTS["seed"],
    groups: list[str] | None = None,
    splits: dict[str, str] | None = None,
    min_purity: float = DATASET_DEFAULTS["min_purity"],
    resample_fps: float = DATASET_DEFAULTS["resample_fps"],
) -> dict:
    """The build parameters as stored on the row; each problem names its field.

    The ranges are the pipeline's (``DATASET_PARAMS``); ratios that sum to 1 within 0.001 are
    scaled to sum to 1 exactly.
    """
    try:
        ratios = tuple(param.check(r) for param, r in zip(RATIO_PARAMS.values(), ratios, strict=True))
        if abs(sum(ratios) - 1) > 1e-3:
            raise ValidationFailed("train_ratio", f"train/val/test ratios must sum to 1, got {sum(ratios):g}")
        total = sum(ratios)
        unknown = [g for g in groups or () if g not in FEATURE_GROUPS]
        if unknown:
            raise ValidationFailed("groups", f"{unknown} unknown; choose from {', '.join(FEATURE_GROUPS)}")
        params = {
            "window_sec": DATASET_PARAMS["window_sec"].check(window_sec),
            "step_sec": DATASET_PARAMS["step_sec"].check(step_sec),
            "balance_method": balance_method,
            "ratios": [r / total for r in ratios],
            "seed": DATASET_PARAMS["seed"].check(seed),
            "groups": list(groups or FEATURE_GROUPS),
            "splits": splits,
            "min_purity": DATASET_PARAMS["min_purity"].check(min_purity),
            "resample_fps": DATASET_PARAMS["resample_fps"].check(resample_fps),
        }
        _spec_from(params)
    except InputError as exc:
        raise field_error(exc) from None
    return params


def dataset_size_check(*, owner, feature_files: list[FeatureFile], params: dict) -> int:
    """The bytes a build would write at most (from the sources' durations); refused (413, naming the
    parameter, the estimate and the limit) past TASKML_MAX_DATASET_MB or the owner's storage quota
    (``owner`` None: a preview, which stores nothing)."""
    spec = _spec_from(params)
    try:
        names = resolve_feature_names(spec, [storage.absolute(f.path) for f in feature_files])
        estimate = estimate_dataset([f.video.duration for f in feature_files], spec.window, len(names))
        check_dataset_size(
            estimate, spec.window, max_bytes=settings.TASKML_MAX_DATASET_MB * MB, limit_name=DATASET_LIMIT_NAME
        )
    except InputError as exc:
        raise field_error(exc, "feature_files") from None
    if owner is not None:
        storage_check(owner=owner, adding=estimate.bytes, field="feature_files")
    return estimate.bytes


def _relabelled(feature_files: list[FeatureFile]) -> list[FeatureFile]:
    """The files, in order, with label columns brought up to date with their videos' label spans."""
    changed = False
    for video in {f.video_id: f.video for f in feature_files}.values():
        changed |= bool(feature_files_relabel(video=video))
    if not changed:
        return feature_files
    fresh = FeatureFile.objects.in_bulk([f.pk for f in feature_files])
    return [fresh[f.pk] for f in feature_files]


def _sources_check(feature_files: list[FeatureFile]) -> list[FeatureFile]:
    """The distinct feature files, each extracted and labelled, together holding two classes."""
    feature_files = list(dict.fromkeys(feature_files))  # a file named twice is one source
    if not feature_files:
        raise ValidationFailed("feature_files", "name at least one feature file")
    not_ready = [f.filename for f in feature_files if f.status != JobStatus.SUCCEEDED]
    if not_ready:
        raise ValidationFailed("feature_files", f"not extracted (yet): {', '.join(not_ready)}")
    feature_files = _relabelled(feature_files)
    unlabelled = [f.filename for f in feature_files if not f.label_distribution]
    if unlabelled:
        raise ValidationFailed("feature_files", f"no labelled frames in {', '.join(unlabelled)}")
    classes = sorted({label for f in feature_files for label in f.label_distribution})
    if len(classes) < 2:
        raise ValidationFailed(
            "feature_files", f"the files hold one class ({', '.join(classes)}); a dataset needs at least two"
        )
    return feature_files


def _plan_error_field(message: str, params: dict, suggestion: dict | None = None) -> str:
    """The request field a pipeline refusal concerns, so a form can show it where it belongs."""
    if suggestion:
        return "window_sec"
    if "split" in message:
        return "splits" if params.get("splits") is not None else "train_ratio"
    return "feature_files"


def dataset_preview(*, feature_files: list[FeatureFile], params: dict) -> dict:
    """What building these files with these parameters would produce, without writing anything.

    The same first pass as the build (``plan_dataset``): windows, splits and seeded balancing,
    so the counts are the ones the built dataset's metadata will hold.
    """
    feature_files = _sources_check(feature_files)
    dataset_size_check(owner=None, feature_files=feature_files, params=params)
    plan = _plan(feature_files, params)
    return {**plan.summary(), "feature_files": [f.filename for f in feature_files]}


def _plan(feature_files: list[FeatureFile], params: dict):
    """The build's first pass; a refusal names its field and, when shorter windows would work,
    carries them as ``suggestion`` ({window_sec, step_sec}) so a page can offer the fix."""
    try:
        return plan_dataset(
            [storage.absolute(f.path) for f in feature_files],
            _spec_from(params),
            max_bytes=settings.TASKML_MAX_DATASET_MB * MB,
            limit_name=DATASET_LIMIT_NAME,
        )
    except PlanRefused as exc:
        extra = {"suggestion": exc.suggestion} if exc.suggestion else None
        raise ValidationFailed(_plan_error_field(str(exc), params, exc.suggestion), str(exc), extra=extra) from None
    except InputError as exc:
        if getattr(exc, "param", None):
            raise field_error(exc) from None
        raise ValidationFailed(_plan_error_field(str(exc), params), str(exc)) from None


def dataset_request(*, owner, feature_files: list[FeatureFile], params: dict) -> Dataset:
    """A pending dataset and the job that builds it from ready feature files of the owner.

    The build's first pass (timestamps and labels only, as a preview reads them) runs here too, so
    a build that could not succeed (too little data for the splits, a class in no split) is
    refused now, naming the field and proposing shorter windows, instead of failing in its job.
    """
    feature_files = _sources_check(feature_files)
    dataset_size_check(owner=owner, feature_files=feature_files, params=params)
    _plan(feature_files, params)
    with transaction.atomic():
        dataset = dataset_allocate(owner=owner, feature_files=feature_files, params=params)
        job_create(
            owner=owner,
            kind=Job.Kind.DATASET,
            inputs={"dataset_id": dataset.pk, "feature_files": [f.filename for f in feature_files], **params},
            target=dataset,
        )
    dataset.refresh_from_db()
    return dataset


@transaction.atomic
def dataset_allocate(
    *, owner, feature_files: list[FeatureFile], params: dict, status: str = JobStatus.PENDING, job=None
) -> Dataset:
    """A dataset row with its sources and directory name (nothing built yet); ``params`` as checked."""
    dataset = Dataset.objects.create(
        owner=owner,
        status=status,
        job=job,
        window_sec=params["window_sec"],
        step_sec=params["step_sec"],
        balance_method=params["balance_method"],
        train_ratio=params["ratios"][0],
        val_ratio=params["ratios"][1],
        test_ratio=params["ratios"][2],
        params=params,
    )
    dataset.path = storage.relative(storage.datasets_dir() / dataset.name)
    dataset.save(update_fields=["path"])
    DatasetSource.objects.bulk_create(DatasetSource(dataset=dataset, feature_file=f) for f in feature_files)
    return dataset


def dataset_build(job: Job, reporter) -> dict:
    """The dataset job: window, normalise, balance and split the sources into npy arrays."""
    dataset = Dataset.objects.filter(pk=job.inputs["dataset_id"]).first()
    if dataset is None:
        raise ValidationFailed("dataset", "was deleted before it could be built")
    sources = list(dataset.sources.order_by("datasetsource__id"))
    reporter.stage("relabelling")
    sources = _relabelled(sources)  # labels edited since the last build are what it builds from
    reporter.stage("building")
    result = build_dataset(
        [storage.absolute(f.path) for f in sources],
        storage.absolute(dataset.path),
        spec=_spec_from(dataset.params),
        progress=reporter,
        max_bytes=settings.TASKML_MAX_DATASET_MB * MB,
        limit_name=DATASET_LIMIT_NAME,
    )
    m = result.metadata
    size = sum(p.stat().st_size for p in result.output.iterdir() if p.is_file())
    Dataset.objects.filter(pk=dataset.pk).update(
        labels=m.labels,
        class_counts={split: m.label_dist(split) for split in SPLITS},
        train_size=m.train_size,
        val_size=m.val_size,
        test_size=m.test_size,
        num_features=m.num_features,
        split_strategy=m.split_strategy,
        split_info={
            "method": m.split_method,
            "classes_missing": m.classes_missing,
            "groups_note": m.groups_note,
            "feature_groups": m.feature_groups,
        },
        size_bytes=size,
        leakage=leakage_summary(m.leakage),
    )
    return {
        "dataset_dir": dataset.name,
        "dataset_id": dataset.pk,
        "train_size": m.train_size,
        "val_size": m.val_size,
        "test_size": m.test_size,
        "seconds": round(result.seconds, 3),
    }


def leakage_summary(audit: dict | None) -> dict:
    """The leakage audit without the per-window distances (those stay in metadata.json)."""
    if not audit:
        return {}
    return {k: ({kk: vv for kk, vv in v.items() if kk != "distances"} if isinstance(v, dict) else v)
            for k, v in audit.items()}  # fmt: skip


@transaction.atomic
def dataset_delete(*, dataset: Dataset) -> None:
    """The dataset's row and directory, its job stopped; Conflict while anything depends on it."""
    deletion.refuse_if_depended_on(dataset)
    job_cancel_if_active(dataset.job)
    storage.remove_on_commit(dataset.path)
    dataset.delete()


@transaction.atomic
def dataset_rebuild(*, dataset: Dataset, owner) -> Dataset:
    """Build the same dataset again from its sources, with their videos' current labels."""
    dataset = Dataset.objects.select_for_update(of=("self",)).select_related("job").get(pk=dataset.pk)  # one at a time
    if dataset.job is not None and not dataset.job.is_terminal:
        raise Conflict("dataset", f"{dataset.name} is being built already")
    sources = list(dataset.sources.all())
    dataset_size_check(owner=owner, feature_files=sources, params=dataset.params)
    _plan(_sources_check(sources), dataset.params)  # relabelled sources that no longer split: 400 now
    job_create(
        owner=owner,
        kind=Job.Kind.DATASET,
        inputs={
            "dataset_id": dataset.pk,
            "feature_files": [f.filename for f in dataset.sources.all()],
            **dataset.params,
        },
        target=dataset,
    )
    dataset.refresh_from_db()
    return dataset
