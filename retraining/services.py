"""Retraining: policies, runs (rebuild → challenger → holdout comparison → decision), promotions.

A run is one RETRAINING job. It brings the feature files' labels up to date with the label
spans, builds a normal Dataset from the training videos (never the held-out ones), trains a
normal TrainedModel (the challenger; with ``incremental``, LightGBM also continues boosting from
the champion and both are compared), scores champion and challenger on the same frozen
held-out videos and promotes the challenger only when it beats the champion by the margin.
Every change of champion is a Promotion row, so each can be undone.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from datasets.models import Dataset
from datasets.services import DATASET_DEFAULTS, dataset_allocate, dataset_build, dataset_params_check
from jobs.models import Job, JobStatus
from jobs.services import job_cancel_if_active, job_create, run_as_step, step_status
from models_app.models import TrainedModel
from models_app.services import (
    trained_model_allocate,
    trained_model_load,
    trained_model_record,
    trained_model_train,
    training_params_check,
)
from retraining.models import Promotion, RetrainPolicy, RetrainRun
from retraining.selectors import policy_new_labels, policy_training_videos
from taskml import storage
from taskml.domain import Conflict, ValidationFailed, field_error
from taskml.pipeline.detectors import DETECTOR_KINDS
from taskml.pipeline.errors import InputError
from taskml.pipeline.estimators import ModelParams
from taskml.pipeline.incremental import continue_boosting, holdout_evaluate, incremental_check
from taskml.pipeline.params import SEED, Param, params_table
from videos.models import FeatureFile, Video
from videos.selectors import feature_file_latest
from videos.services import feature_files_relabel

log = logging.getLogger(__name__)

# A policy's own numeric fields (its dataset and model parameters are the pipeline's): one
# definition each, read by the serializer and checked here.
POLICY_PARAMS = params_table(
    Param("min_new_labels", 0, 0, 1_000_000, int, "start a run once this many label spans changed (0: off)"),
    Param("schedule_interval_seconds", None, 1, 366 * 86_400, int, "start a run every N seconds", nullable=True),
    Param("margin", 0.0, 0.0, 1.0, float, "F1 macro on the holdout the challenger must gain"),
)

THRESHOLD_TASK = "retraining.check_thresholds"
SCHEDULED_TASK = "retraining.run_scheduled"
THRESHOLD_BEAT_NAME = "retraining: start runs for policies over their label threshold"
THRESHOLD_BEAT_SECONDS = 60
BEAT_QUEUE = "default"  # quick checks; runs themselves go to the training queue as jobs


# ---------------------------------------------------------------- configuration


def default_model_config() -> tuple[str, str]:
    """(model type, aggregation) the pipeline trains when none is given, read when a run starts."""
    from taskml.pipeline import estimators, training

    model_type = getattr(training, "DEFAULT_MODEL", None) or getattr(estimators, "DEFAULT_MODEL", None) or "lgbm"
    aggregation = (
        getattr(training, "DEFAULT_AGGREGATION", None) or getattr(estimators, "DEFAULT_AGGREGATION", None) or "stats"
    )
    return model_type, aggregation


def _resolve(model_type: str, aggregation: str) -> tuple[str, str]:
    """What to train for a (possibly blank) model type and aggregation, as training resolves it."""
    from taskml.pipeline import training

    resolve = getattr(training, "resolve_config", None)
    if resolve is not None:
        return resolve(model_type or None, aggregation or None)
    default_type, default_aggregation = default_model_config()
    if not model_type:
        return default_type, aggregation or default_aggregation
    return model_type, aggregation or "stats"


def _model_config(policy: RetrainPolicy) -> tuple[str, str, dict]:
    model_type, aggregation = _resolve(policy.model_type, policy.aggregation)  # the default as of now
    return training_params_check(model_type=model_type, aggregation=aggregation, params=policy.model_params or {})


def _check_model(model_type: str, aggregation: str, model_params: dict) -> None:
    # A blank model type is resolved again when each run starts; the parameters are checked now.
    model_type, aggregation = _resolve(model_type, aggregation)
    training_params_check(model_type=model_type, aggregation=aggregation, params=model_params)


def _dataset_params(raw: dict) -> dict:
    unknown = set(raw) - set(DATASET_DEFAULTS) - {"train_ratio", "val_ratio", "test_ratio"}
    if unknown:
        raise ValidationFailed("dataset_params", f"unknown keys {sorted(unknown)}")
    merged = {**DATASET_DEFAULTS, **{k: v for k, v in raw.items() if k in DATASET_DEFAULTS and v is not None}}
    ratios = list(merged["ratios"])
    for i, name in enumerate(("train_ratio", "val_ratio", "test_ratio")):
        if raw.get(name) is not None:
            ratios[i] = raw[name]
    merged["ratios"] = tuple(ratios)
    try:
        return dataset_params_check(**merged)
    except TypeError as exc:
        raise ValidationFailed("dataset_params", str(exc)) from None


def _check_crontab(text: str) -> str:
    text = " ".join(text.split())
    if not text:
        return ""
    from django_celery_beat.validators import crontab_validator

    if len(text.split()) != 5:
        raise ValidationFailed("schedule_crontab", "give five fields: minute hour day-of-month month day-of-week")
    try:
        crontab_validator(text)
    except DjangoValidationError as exc:
        raise ValidationFailed("schedule_crontab", "; ".join(exc.messages)) from None
    return text


def _owned_videos(owner, videos: list[Video], field: str) -> list[Video]:
    foreign = [v for v in videos if v.owner_id != owner.pk]
    if foreign:
        raise ValidationFailed(field, f"no video {foreign[0].pk} of yours")
    return list(dict.fromkeys(videos))


# ---------------------------------------------------------------- beat schedules


def _threshold_beat_ensure() -> None:
    """The one periodic task that checks every policy's label threshold (created with the first policy)."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    if PeriodicTask.objects.filter(name=THRESHOLD_BEAT_NAME).exists():
        return
    every, _ = IntervalSchedule.objects.get_or_create(every=THRESHOLD_BEAT_SECONDS, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.get_or_create(
        name=THRESHOLD_BEAT_NAME, defaults={"task": THRESHOLD_TASK, "interval": every, "queue": BEAT_QUEUE}
    )


def _schedule_sync(policy: RetrainPolicy) -> None:
    """Create, update or delete the policy's django-celery-beat PeriodicTask to match its schedule."""
    from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

    task = policy.periodic_task
    if not policy.schedule_interval_seconds and not policy.schedule_crontab:
        if task is not None:
            RetrainPolicy.objects.filter(pk=policy.pk).update(periodic_task=None)
            task.delete()
            policy.periodic_task = None
        return
    interval = crontab = None
    if policy.schedule_interval_seconds:
        interval, _ = IntervalSchedule.objects.get_or_create(
            every=policy.schedule_interval_seconds, period=IntervalSchedule.SECONDS
        )
    else:
        minute, hour, day_of_month, month, day_of_week = policy.schedule_crontab.split()
        crontab = CrontabSchedule.objects.filter(
            minute=minute, hour=hour, day_of_month=day_of_month, month_of_year=month, day_of_week=day_of_week
        ).first() or CrontabSchedule.objects.create(
            minute=minute, hour=hour, day_of_month=day_of_month, month_of_year=month, day_of_week=day_of_week
        )
    fields = {
        "task": SCHEDULED_TASK,
        "interval": interval,
        "crontab": crontab,
        "kwargs": json.dumps({"policy_id": policy.pk}),
        "queue": BEAT_QUEUE,
        "enabled": policy.enabled,
        "description": f"retraining policy {policy.pk} ({policy.name}) of {policy.owner}",
    }
    if task is None:
        task = PeriodicTask.objects.create(name=f"retraining policy {policy.pk}", **fields)
        RetrainPolicy.objects.filter(pk=policy.pk).update(periodic_task=task)
        policy.periodic_task = task
    else:
        for key, value in fields.items():
            setattr(task, key, value)
        task.save()


# ---------------------------------------------------------------- policies


def _disjoint(training: list[Video], holdout: list[Video]) -> None:
    both = sorted({v.stored_name for v in training} & {v.stored_name for v in holdout})
    if both:
        raise ValidationFailed("training_videos", f"held-out videos cannot be trained on: {', '.join(both)}")


@transaction.atomic
def retrain_policy_create(
    *,
    owner,
    name: str,
    holdout_videos: list[Video],
    training_videos: list[Video] | None = None,
    detector: str = "",
    dataset_params: dict | None = None,
    model_type: str = "",
    aggregation: str = "",
    model_params: dict | None = None,
    seed: int = 42,
    min_new_labels: int = 0,
    schedule_interval_seconds: int | None = None,
    schedule_crontab: str = "",
    margin: float = 0.0,
    incremental: bool = False,
    enabled: bool = True,
) -> RetrainPolicy:
    """A policy; ``training_videos`` None means all of the owner's labelled videos but the held-out ones."""
    name = (name or "").strip()
    if not name:
        raise ValidationFailed("name", "give the policy a name")
    if RetrainPolicy.objects.filter(owner=owner, name=name).exists():
        raise ValidationFailed("name", f"you have a policy named {name!r} already")
    holdout = _owned_videos(owner, holdout_videos, "holdout_videos")
    if not holdout:
        raise ValidationFailed("holdout_videos", "choose at least one held-out video")
    training = _owned_videos(owner, training_videos, "training_videos") if training_videos is not None else None
    if training is not None:
        if not training:
            raise ValidationFailed("training_videos", "choose at least one video, or leave it out for all videos")
        _disjoint(training, holdout)
    fields = _policy_fields_check(
        detector=detector,
        dataset_params=dataset_params or {},
        model_type=model_type,
        aggregation=aggregation,
        model_params=model_params or {},
        seed=seed,
        min_new_labels=min_new_labels,
        schedule_interval_seconds=schedule_interval_seconds,
        schedule_crontab=schedule_crontab,
        margin=margin,
    )
    policy = RetrainPolicy.objects.create(
        owner=owner,
        name=name,
        training_scope=RetrainPolicy.Scope.ALL if training is None else RetrainPolicy.Scope.EXPLICIT,
        incremental=incremental,
        enabled=enabled,
        labels_since=timezone.now(),
        **fields,
    )
    policy.holdout_videos.set(holdout)
    if training is not None:
        policy.training_videos.set(training)
    _schedule_sync(policy)
    _threshold_beat_ensure()
    return policy


def _policy_fields_check(
    *,
    detector: str,
    dataset_params: dict,
    model_type: str,
    aggregation: str,
    model_params: dict,
    seed: int,
    min_new_labels: int,
    schedule_interval_seconds: int | None,
    schedule_crontab: str,
    margin: float,
) -> dict:
    if detector and detector not in DETECTOR_KINDS:
        raise ValidationFailed("detector", f"{detector!r} unknown; choose one of {', '.join(DETECTOR_KINDS)}")
    try:
        seed = SEED.check(seed)
        min_new_labels = POLICY_PARAMS["min_new_labels"].check(min_new_labels)
        schedule_interval_seconds = POLICY_PARAMS["schedule_interval_seconds"].check(schedule_interval_seconds)
        margin = POLICY_PARAMS["margin"].check(margin)
    except InputError as exc:
        raise field_error(exc) from None
    params = _dataset_params(dataset_params)
    if not isinstance(model_params, dict):
        raise ValidationFailed("model_params", "must be an object")
    _check_model(model_type, aggregation, model_params)
    if min_new_labels < 0:
        raise ValidationFailed("min_new_labels", "must be 0 (off) or more")
    if schedule_interval_seconds is not None and schedule_interval_seconds < 1:
        raise ValidationFailed("schedule_interval_seconds", "must be at least 1 second")
    crontab = _check_crontab(schedule_crontab or "")
    if schedule_interval_seconds and crontab:
        raise ValidationFailed("schedule_crontab", "give an interval or a crontab, not both")
    if not 0 <= margin <= 1:
        raise ValidationFailed("margin", f"must be between 0 and 1 (F1 macro), got {margin}")
    return {
        "detector": detector,
        "dataset_params": params,
        "model_type": model_type,
        "aggregation": aggregation,
        "model_params": {k: v for k, v in model_params.items() if v is not None},
        "seed": seed,
        "min_new_labels": min_new_labels,
        "schedule_interval_seconds": schedule_interval_seconds or None,
        "schedule_crontab": crontab,
        "margin": float(margin),
    }


EDITABLE = (
    "name", "detector", "dataset_params", "model_type", "aggregation", "model_params", "seed", "min_new_labels",
    "schedule_interval_seconds", "schedule_crontab", "margin", "incremental", "enabled",
)  # fmt: skip


@transaction.atomic
def retrain_policy_update(*, policy: RetrainPolicy, **changes) -> RetrainPolicy:
    """Change a policy. The held-out set is frozen; training videos must stay disjoint from it."""
    policy = RetrainPolicy.objects.select_for_update().get(pk=policy.pk)
    if "holdout_videos" in changes:
        current = {v.pk for v in policy.holdout_videos.all()}
        if {v.pk for v in changes.pop("holdout_videos")} != current:
            raise ValidationFailed("holdout_videos", "the held-out set is frozen when the policy is created")
    holdout = list(policy.holdout_videos.all())
    training = None
    if "training_videos" in changes:
        chosen = changes.pop("training_videos")
        if chosen is not None:
            training = _owned_videos(policy.owner, chosen, "training_videos")
            if not training:
                raise ValidationFailed("training_videos", "choose at least one video, or null for all videos")
            _disjoint(training, holdout)
        policy.training_scope = RetrainPolicy.Scope.ALL if chosen is None else RetrainPolicy.Scope.EXPLICIT
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ValidationFailed(sorted(unknown)[0], "cannot be changed")
    if "name" in changes:
        changes["name"] = (changes["name"] or "").strip()
        if not changes["name"]:
            raise ValidationFailed("name", "give the policy a name")
        if RetrainPolicy.objects.filter(owner=policy.owner, name=changes["name"]).exclude(pk=policy.pk).exists():
            raise ValidationFailed("name", f"you have a policy named {changes['name']!r} already")
    current = {name: getattr(policy, name) for name in EDITABLE}
    if "dataset_params" in changes:  # a partial change keeps the other parameters
        changes["dataset_params"] = {**_flat_dataset_params(policy.dataset_params), **changes["dataset_params"]}
    else:
        current["dataset_params"] = _flat_dataset_params(policy.dataset_params)
    merged = {**current, **changes}
    checked = _policy_fields_check(**{k: merged[k] for k in EDITABLE if k not in ("name", "incremental", "enabled")})
    for key, value in {**checked, "name": merged["name"], "incremental": merged["incremental"]}.items():
        setattr(policy, key, value)
    policy.enabled = merged["enabled"]
    policy.save()
    if training is not None:
        policy.training_videos.set(training)
    elif policy.training_scope == RetrainPolicy.Scope.ALL:
        policy.training_videos.clear()
    _schedule_sync(policy)
    if policy.min_new_labels:
        _threshold_beat_ensure()
    return policy


def _flat_dataset_params(params: dict) -> dict:
    flat = {k: v for k, v in params.items() if k in DATASET_DEFAULTS and k != "ratios"}
    if "ratios" in params:
        flat.update(zip(("train_ratio", "val_ratio", "test_ratio"), params["ratios"], strict=True))
    return flat


@transaction.atomic
def retrain_policy_delete(*, policy: RetrainPolicy) -> None:
    for run in policy.runs.filter(status__in=RetrainRun.ACTIVE).select_related("job"):
        job_cancel_if_active(run.job)
    task = policy.periodic_task
    policy.delete()
    if task is not None:
        task.delete()


# ---------------------------------------------------------------- runs


def retrain_run_request(*, policy: RetrainPolicy, trigger: str = RetrainRun.Trigger.MANUAL) -> RetrainRun:
    """A pending run and its job; Conflict while another run of the policy is pending or running."""
    if trigger not in RetrainRun.Trigger.values:
        raise ValidationFailed("trigger", f"{trigger!r} unknown")
    try:
        with transaction.atomic():
            locked = RetrainPolicy.objects.select_for_update().get(pk=policy.pk)
            new_labels = policy_new_labels(locked)
            run = RetrainRun.objects.create(
                policy=locked, owner=locked.owner, trigger=trigger, new_labels=new_labels, champion_before=None
            )
            RetrainPolicy.objects.filter(pk=locked.pk).update(labels_since=timezone.now())
            job_create(
                owner=locked.owner,
                kind=Job.Kind.RETRAINING,
                inputs={"run_id": run.pk, "policy_id": locked.pk, "trigger": trigger},
                target=run,
            )
    except IntegrityError:
        if RetrainRun.objects.filter(policy_id=policy.pk, status__in=RetrainRun.ACTIVE).exists():
            raise Conflict("policy", f"{policy.name} has a run in progress already") from None
        raise  # another integrity problem is a bug, not a busy policy
    run.refresh_from_db()
    return run


def retrain_thresholds_check() -> list[int]:
    """Start a run for every enabled policy whose new labels reached its threshold; the run ids."""
    started = []
    for policy in RetrainPolicy.objects.filter(enabled=True, min_new_labels__gt=0).order_by("pk"):
        if policy.runs.filter(status__in=RetrainRun.ACTIVE).exists():
            continue
        if policy_new_labels(policy) < policy.min_new_labels:
            continue
        try:
            started.append(retrain_run_request(policy=policy, trigger=RetrainRun.Trigger.THRESHOLD).pk)
        except Conflict:  # another check got there first
            continue
    if started:
        log.info("label thresholds reached: started retraining runs %s", started)
    return started


def retrain_scheduled(*, policy_id: int) -> int | None:
    """The schedule's tick: a run unless the policy is gone, disabled or busy."""
    policy = RetrainPolicy.objects.filter(pk=policy_id, enabled=True).first()
    if policy is None:
        return None
    try:
        return retrain_run_request(policy=policy, trigger=RetrainRun.Trigger.SCHEDULE).pk
    except Conflict:
        log.info("policy %s is still retraining; schedule tick skipped", policy_id)
        return None


def _evaluate(model: TrainedModel, holdout_paths: list) -> dict:
    try:
        return holdout_evaluate(holdout_paths, trained_model_load(trained_model=model))
    except InputError as exc:
        return {"error": str(exc)}


def _summary(metrics: dict, model: TrainedModel | None) -> dict:
    keep = ("accuracy", "f1_macro", "f1_weighted", "windows", "per_class", "per_video", "unknown_labels", "error")
    out = {k: metrics[k] for k in keep if k in metrics}
    if model is not None:
        out.update(model=model.pk, version=model.version_label)
    return out


def retrain_run_execute(job: Job, reporter) -> dict:
    """The RETRAINING job (see the module's docstring); a run that fails says so in its reason."""
    try:
        return _execute(job, reporter)
    except BaseException as exc:
        RetrainRun.objects.filter(pk=job.inputs["run_id"]).update(
            finished_at=timezone.now(), reason=f"no decision: the run stopped ({type(exc).__name__}: {exc})"
        )
        raise


@dataclass(frozen=True)
class _RunFiles:
    """The feature files a run trains on and scores on, and the training videos it had to skip."""

    training: list[FeatureFile]
    holdout: list[FeatureFile]
    skipped: list[str]


@dataclass(frozen=True)
class _Contender:
    """A model a run proposes, with its metrics on the holdout."""

    model: TrainedModel
    holdout: dict


def _execute(job: Job, reporter) -> dict:
    run = RetrainRun.objects.select_related("policy", "policy__champion").filter(pk=job.inputs["run_id"]).first()
    if run is None:
        raise ValidationFailed("run", "was deleted before it could run")
    policy = run.policy
    champion = policy.champion if policy.champion and policy.champion.status == JobStatus.SUCCEEDED else None
    RetrainRun.objects.filter(pk=run.pk).update(champion_before=champion)

    reporter.stage("relabelling", 0.02)
    files = _run_files(policy)
    reporter.stage("building dataset", 0.05)
    dataset = _build_dataset(job, run, files.training, reporter.child(0.05, 0.4))
    reporter.stage("training challenger", 0.4)
    challenger, trained = _train_challenger(job, run, dataset, reporter.child(0.4, 0.7))

    holdout_paths = [storage.absolute(f.path) for f in files.holdout]
    reporter.stage("evaluating on the holdout", 0.7)
    contender = _Contender(challenger, _evaluate(challenger, holdout_paths))
    if "error" in contender.holdout:
        raise ValidationFailed("holdout_videos", contender.holdout["error"])
    champion_metrics = _evaluate(champion, holdout_paths) if champion is not None else {}
    incremental: dict = {}
    if policy.incremental:
        reporter.stage("incremental training", 0.8)
        incremental = _incremental(
            policy=policy, job=job, run=run, champion=champion, dataset=dataset, model_params=trained["params"],
            holdout_paths=holdout_paths, full=(challenger, contender.holdout, trained["seconds"]),
            progress=reporter.child(0.8, 0.95),
        )  # fmt: skip
        if incremental.get("used"):
            contender = _Contender(
                TrainedModel.objects.get(pk=incremental["model"]), incremental["incremental"]["holdout"]
            )

    reporter.stage("deciding", 0.95)
    decision, reason = _decide(policy=policy, run=run, champion=champion, challenger=contender.model,
                               champion_metrics=champion_metrics, challenger_metrics=contender.holdout)  # fmt: skip
    _record(run, files=files, dataset=dataset, challenger=challenger, contender=contender, champion=champion,
            champion_metrics=champion_metrics, incremental=incremental, decision=decision, reason=reason)  # fmt: skip
    return {
        "run_id": run.pk,
        "dataset_id": dataset.pk,
        "challenger_id": contender.model.pk,
        "champion_id": champion.pk if champion else None,
        "decision": decision,
        "reason": reason,
        "challenger_f1_macro": contender.holdout.get("f1_macro"),
        "champion_f1_macro": champion_metrics.get("f1_macro"),
    }


def _run_files(policy: RetrainPolicy) -> _RunFiles:
    """Labels brought up to date, then each video's newest feature file (of the policy's detector).

    Every held-out video needs one; a training video without labelled features is skipped.
    """
    holdout_videos = list(policy.holdout_videos.order_by("pk"))
    if not holdout_videos:
        raise ValidationFailed("holdout_videos", "the policy's held-out videos were deleted; create a new policy")
    training_videos = policy_training_videos(policy)
    for video in [*training_videos, *holdout_videos]:
        feature_files_relabel(video=video)
    holdout, missing = [], []
    for video in holdout_videos:
        found = feature_file_latest(video=video, detector=policy.detector)
        (holdout.append(found) if found else missing.append(video.stored_name))
    if missing:
        raise ValidationFailed("holdout_videos", f"no extracted features for held-out video(s) {', '.join(missing)}")
    training, skipped = [], []
    for video in training_videos:
        found = feature_file_latest(video=video, detector=policy.detector)
        if found is None or not found.label_distribution:
            skipped.append(video.stored_name)
        else:
            training.append(found)
    if not training:
        raise ValidationFailed("training_videos", "no training video has labelled, extracted features")
    assert not {f.video_id for f in holdout} & {f.video_id for f in training}, (
        "a held-out video reached the training set"
    )
    return _RunFiles(training=training, holdout=holdout, skipped=skipped)


def _build_dataset(job: Job, run: RetrainRun, training_files: list[FeatureFile], reporter) -> Dataset:
    """A normal dataset row, built by the datasets app's own handler as a step of this job."""
    policy = run.policy
    with transaction.atomic():
        dataset = dataset_allocate(
            owner=policy.owner,
            feature_files=training_files,
            params=policy.dataset_params,
            status=JobStatus.RUNNING,
            job=job,
        )
        RetrainRun.objects.filter(pk=run.pk).update(dataset=dataset)
    run_as_step(dataset_build, dataset, reporter)
    dataset.refresh_from_db()
    return dataset


def _train_challenger(job: Job, run: RetrainRun, dataset: Dataset, reporter) -> tuple[TrainedModel, dict]:
    """A normal model row (the challenger), trained by the models app's own handler as a step of this job.

    Returns the model and ``{"params", "seconds"}``: its configuration's parameters and training time.
    """
    policy = run.policy
    model_type, aggregation, model_params = _model_config(policy)
    challenger = trained_model_allocate(
        owner=policy.owner,
        dataset=dataset,
        status=JobStatus.RUNNING,
        job=job,
        model_type=model_type,
        aggregation=aggregation,
        params={**model_params, "seed": policy.seed},
    )
    RetrainRun.objects.filter(pk=run.pk).update(challenger=challenger)
    outputs = run_as_step(trained_model_train, challenger, reporter)
    challenger.refresh_from_db()
    return challenger, {"params": model_params, "seconds": outputs["seconds"]}


def _record(run, *, files, dataset, challenger, contender, champion, champion_metrics, incremental, decision, reason):
    """The run's outcome on its row: the contender, both sides' holdout metrics, the report and the decision."""
    report = {
        "policy": run.policy.name,
        "trigger": run.trigger,
        "training_files": [f.filename for f in files.training],
        "holdout_files": [f.filename for f in files.holdout],
        "skipped_videos": files.skipped,
        "dataset": dataset.name,
        "dataset_splits": {"train": dataset.train_size, "val": dataset.val_size, "test": dataset.test_size},
        "model_type": challenger.model_type,
        "aggregation": challenger.aggregation,
        "challenger_test": {"accuracy": challenger.accuracy, "f1_macro": challenger.f1_macro},
    }
    RetrainRun.objects.filter(pk=run.pk).update(
        challenger=contender.model,
        champion_metrics=_summary(champion_metrics, champion) if champion is not None else {},
        challenger_metrics=_summary(contender.holdout, contender.model),
        incremental=incremental,
        report=report,
        decision=decision,
        reason=reason,
        finished_at=timezone.now(),
    )


def _incremental(*, policy, job, run, champion, dataset, model_params, holdout_paths, full, progress=None) -> dict:
    """Continue boosting from the champion and compare with the full retrain on the holdout."""
    challenger, challenger_metrics, full_seconds = full
    full_row = {
        "model": challenger.pk,
        "version": challenger.version_label,
        "accuracy": challenger_metrics["accuracy"],
        "f1_macro": challenger_metrics["f1_macro"],
        "seconds": full_seconds,
    }
    if champion is None:
        return {"used": False, "reason": "no champion to continue from: full retrain", "full": full_row}
    bundle = trained_model_load(trained_model=champion)
    reason = incremental_check(bundle, storage.absolute(dataset.path))
    if reason is not None:
        return {"used": False, "reason": f"{reason}: full retrain instead", "full": full_row}
    model = trained_model_allocate(
        owner=policy.owner,
        dataset=dataset,
        status=JobStatus.RUNNING,
        job=job,
        model_type="lgbm",
        aggregation=bundle.aggregation,
        params={**model_params, "seed": policy.seed, "init_model": champion.pk},
    )
    RetrainRun.objects.filter(pk=run.pk).update(incremental_model=model)
    params = ModelParams(**{k: v for k, v in model_params.items() if k in ModelParams.__dataclass_fields__})

    def train():
        return continue_boosting(
            storage.absolute(dataset.path),
            storage.absolute(model.path),
            champion=bundle,
            params=params,
            seed=policy.seed,
            progress=progress,
        )

    with step_status(model):
        result = train()
    trained_model_record(trained_model=model, result=result, dataset=dataset.name, continued_from=champion.pk)
    model.refresh_from_db()
    holdout = _evaluate(model, holdout_paths)
    return {
        "used": "error" not in holdout,
        "reason": (
            f"continued boosting from {champion.version_label} ({result.trees_before} → {result.trees_after} trees)"
        ),
        "model": model.pk,
        "incremental": {
            "model": model.pk,
            "version": model.version_label,
            "accuracy": holdout.get("accuracy"),
            "f1_macro": holdout.get("f1_macro"),
            "seconds": round(result.seconds, 3),
            "holdout": holdout,
        },
        "full": full_row,
    }


def margin_verdict(*, new: float, old: float, margin: float) -> tuple[bool, str]:
    """Whether a challenger whose holdout F1 macro is ``new`` replaces a champion scoring ``old``, and why.

    The gain must be above 0 and at least the policy's margin; a gain that equals the margin but
    for float rounding (0.3 - 0.2 is 0.09999999999999998) counts as reaching it.
    """
    gain = new - old
    if not (gain > 0 and gain >= margin - 1e-12):
        return False, (
            f"holdout F1 macro {new:.4f} vs champion {old:.4f} ({gain:+.4f}); "
            f"needs a gain of at least {margin:g} and above 0: champion kept"
        )
    return True, f"holdout F1 macro {new:.4f} vs champion {old:.4f} ({gain:+.4f} ≥ margin {margin:g})"


def _decide(*, policy, run, champion, challenger, champion_metrics, challenger_metrics) -> tuple[str, str]:
    new = challenger_metrics["f1_macro"]
    with transaction.atomic():
        locked = RetrainPolicy.objects.select_for_update().get(pk=policy.pk)
        if locked.champion_id != (champion.pk if champion else None):
            return RetrainRun.Decision.KEPT, "the champion changed while this run trained; not promoted"
        if champion is None:
            reason = f"no champion yet: promoted ({challenger.version_label}, holdout F1 macro {new:.4f})"
        elif "error" in champion_metrics:
            reason = f"the champion could not be evaluated ({champion_metrics['error']}): promoted"
        else:
            promote, reason = margin_verdict(new=new, old=champion_metrics["f1_macro"], margin=locked.margin)
            if not promote:
                return RetrainRun.Decision.KEPT, reason
        _champion_set(
            policy=locked, model=challenger, action=Promotion.Action.PROMOTE, reason=reason, user=None, run=run
        )
    return RetrainRun.Decision.PROMOTED, reason


# ---------------------------------------------------------------- promotions


def _champion_set(*, policy: RetrainPolicy, model: TrainedModel, action: str, reason: str, user, run=None) -> Promotion:
    previous = policy.champion
    RetrainPolicy.objects.filter(pk=policy.pk).update(champion=model)
    policy.champion = model
    return Promotion.objects.create(
        policy=policy, owner=policy.owner, model=model, previous=previous, action=action, reason=reason,
        user=user if user is not None and user.is_authenticated else None, run=run,
    )  # fmt: skip


@transaction.atomic
def retrain_policy_promote(*, policy: RetrainPolicy, model: TrainedModel, user, reason: str = "") -> Promotion:
    """Make any trained model of the owner's the champion (an older one too)."""
    policy = RetrainPolicy.objects.select_for_update().get(pk=policy.pk)
    if model.owner_id != policy.owner_id:
        raise ValidationFailed("model", f"no model {model.pk} of yours")
    if model.status != JobStatus.SUCCEEDED or not model.sha256:
        raise ValidationFailed("model", f"{model} is not a trained model ({model.status})")
    if policy.champion_id == model.pk:
        raise Conflict("model", f"{model.version_label} is the champion already")
    return _champion_set(
        policy=policy, model=model, action=Promotion.Action.MANUAL, reason=reason or "promoted by hand", user=user
    )


@transaction.atomic
def retrain_policy_rollback(*, policy: RetrainPolicy, user, reason: str = "") -> Promotion:
    """Restore the champion that the current one replaced (each rollback goes one step further back)."""
    policy = RetrainPolicy.objects.select_for_update().get(pk=policy.pk)
    if policy.champion_id is None:
        raise Conflict("policy", f"{policy.name} has no champion to roll back")
    installed = (
        policy.promotions.filter(model_id=policy.champion_id)
        .filter(~Q(action=Promotion.Action.ROLLBACK))
        .order_by("-at", "-id")
        .first()
    )
    target = installed.previous if installed is not None else None
    if target is None:
        raise Conflict("policy", f"nothing to roll back to: {policy.champion.version_label} was the first champion")
    if target.status != JobStatus.SUCCEEDED:
        raise Conflict("policy", f"the previous champion {target} is not usable ({target.status})")
    return _champion_set(
        policy=policy,
        model=target,
        action=Promotion.Action.ROLLBACK,
        reason=reason or f"rolled back from {policy.champion.version_label}",
        user=user,
    )
