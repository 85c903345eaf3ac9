"""The learning loop: active-learning rounds (suggest, decide, retrain) and feature-group ablations."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from datasets.models import Dataset
from datasets.services import dataset_allocate, dataset_build
from jobs.models import Job, JobStatus
from jobs.services import job_cancel_if_active, job_create, run_as_step
from learning.models import Ablation, LabellingRound, SuggestedSpan
from models_app.models import TrainedModel
from models_app.predictions import feature_rows, video_feature_file
from models_app.selectors import trained_model_detector
from models_app.services import (
    stored_train_spec,
    trained_model_allocate,
    trained_model_files,
    trained_model_load,
    trained_model_train,
    training_cost_check,
    training_params_check,
)
from taskml import deletion, storage
from taskml.domain import Conflict, ValidationFailed, field_error
from taskml.pipeline.ablation import ABLATION_GROUPS, FUSED, run_ablation
from taskml.pipeline.active import SuggestionSpec, find_spans, rank_spans, span_frames
from taskml.pipeline.errors import InputError
from taskml.pipeline.online import ModelRunner, predict_windows
from videos.models import FeatureFile, Video
from videos.services import label_span_replace_range

SUGGESTION_FIELDS = tuple(SuggestionSpec().as_dict())


# ---------------------------------------------------------------- labelling rounds


def suggestion_params_check(**params: Any) -> dict:
    """The round's thresholds as stored; unknown or bad values name their field."""
    unknown = [name for name in params if name not in SUGGESTION_FIELDS]
    if unknown:
        raise ValidationFailed(unknown[0], f"unknown parameter; use {', '.join(SUGGESTION_FIELDS)}")
    clean = {name: value for name, value in params.items() if value is not None}
    try:
        return SuggestionSpec(**clean).as_dict()
    except InputError as exc:
        raise field_error(exc) from None


def round_feature_file(*, video: Video, detector: str) -> FeatureFile:
    """The video's newest extracted feature file made with ``detector``."""
    return video_feature_file(video=video, detector=detector, field="videos")


def labelling_round_request(*, owner, model: TrainedModel, videos: list[Video], params: dict) -> LabellingRound:
    """A round and the job that predicts the videos and ranks their uncertain spans."""
    params = suggestion_params_check(**params)
    if model.status != JobStatus.SUCCEEDED:
        raise ValidationFailed("model", f"{model} is not trained ({model.status})")
    videos = list(dict.fromkeys(videos))
    if not videos:
        raise ValidationFailed("videos", "name at least one video")
    foreign = [v.stored_name for v in videos if v.owner_id != model.owner_id]
    if foreign:
        raise ValidationFailed("videos", f"{', '.join(foreign)} and the model belong to different people")
    detector, _ = trained_model_detector(model)
    feature_files = [round_feature_file(video=v, detector=detector) for v in videos]
    with transaction.atomic():
        round_ = LabellingRound.objects.create(
            owner=owner,
            model=model,
            params=params,
            accuracy_before=model.accuracy,
            f1_before=model.f1_macro,
        )
        round_.videos.set(videos)
        round_.feature_files.set(feature_files)
        job_create(
            owner=owner,
            kind=Job.Kind.SUGGESTIONS,
            inputs={"round_id": round_.pk, "model_id": model.pk, "videos": [v.pk for v in videos], **params},
            target=round_,
        )
    round_.refresh_from_db()
    return round_


def labelling_round_suggest(job: Job, reporter) -> dict:
    """The suggestions job: predict every window of the round's videos, rank the uncertain spans."""
    round_ = LabellingRound.objects.select_related("model").filter(pk=job.inputs["round_id"]).first()
    if round_ is None:
        raise ValidationFailed("round", "was deleted before its suggestions were computed")
    spec = SuggestionSpec(**round_.params)
    reporter.stage("loading model")
    runner = ModelRunner(trained_model_load(trained_model=round_.model))
    feature_files = list(round_.feature_files.select_related("video").order_by("id"))
    found, placed, windows = [], {}, 0
    reporter.stage("predicting")
    for done, feature_file in enumerate(feature_files, start=1):
        t, frames, values = feature_rows(feature_file, runner.feature_names)
        starts, probabilities = predict_windows(t, values, runner)
        windows += len(starts)
        placed[str(feature_file.pk)] = (feature_file.video, t, frames)
        found += find_spans(
            starts,
            probabilities,
            runner.labels,
            window_sec=runner.spec.window_sec,
            step_sec=runner.spec.step_sec,
            spec=spec,
            source=str(feature_file.pk),
        )
        reporter(done, len(feature_files))
    ranked = rank_spans(found, max_spans=spec.max_spans)
    rows = []
    for span in ranked:
        video, t, frames = placed[span.source]
        first, last = span_frames(span.start, span.end, t, frames)
        last = min(last, max(video.frame_count - 1, 0))
        rows.append(
            SuggestedSpan(
                round=round_,
                video=video,
                start_frame=min(first, last),
                end_frame=last,
                start_time=round(span.start, 4),
                end_time=round(span.end, 4),
                predicted_label=span.label,
                confidence=span.confidence,
                uncertainty=span.uncertainty,
                entropy=span.entropy,
                windows=span.windows,
                reasons=list(span.reasons),
                rank=span.rank,
            )
        )
    reporter.stage("recording", progress=1.0)
    with transaction.atomic():
        round_.spans.all().delete()  # a re-run replaces what an earlier attempt wrote
        SuggestedSpan.objects.bulk_create(rows)
        LabellingRound.objects.filter(pk=round_.pk).update(state=LabellingRound.State.OPEN, spans_shown=len(rows))
    return {
        "round_id": round_.pk,
        "windows": windows,
        "spans_found": len(found),
        "spans": len(rows),
        "score": spec.score,
    }


DECISIONS = ("accept", "correct", "reject")


@transaction.atomic
def suggested_span_decide(*, span: SuggestedSpan, decision: str, user, label: str | None = None) -> SuggestedSpan:
    """Accept (the predicted label), correct (another label) or reject one open span of an open round.

    Accepted and corrected spans become LabelSpan rows (source ``suggestion``) that replace the
    labels the frames carried.
    """
    if decision not in DECISIONS:
        raise ValidationFailed("decision", f"{decision!r} unknown; use {', '.join(DECISIONS)}")
    span = SuggestedSpan.objects.select_for_update().select_related("round", "video").get(pk=span.pk)
    round_ = span.round
    if round_.state != LabellingRound.State.OPEN:
        raise Conflict("round", f"round {round_.pk} is {round_.state}; spans are decided while it is open")
    if span.status != SuggestedSpan.Status.OPEN:
        raise Conflict("span", f"span {span.pk} was {span.status} already")
    if decision == "reject":
        span.status = SuggestedSpan.Status.REJECTED
    else:
        final = span.predicted_label if decision == "accept" else (label or "").strip()
        if not final:
            raise ValidationFailed("label", "give the label the span should carry")
        span.label_span = label_span_replace_range(
            video=span.video,
            start_frame=span.start_frame,
            end_frame=span.end_frame,
            label=final,
            source="suggestion",
            user=user,
        )
        span.final_label = span.label_span.label
        span.status = SuggestedSpan.Status.ACCEPTED if decision == "accept" else SuggestedSpan.Status.CORRECTED
        LabellingRound.objects.filter(pk=round_.pk).update(labels_added=F("labels_added") + 1)
    span.decided_by = user
    span.decided_at = timezone.now()
    span.save(update_fields=["status", "final_label", "label_span", "decided_by", "decided_at"])
    return span


@transaction.atomic
def labelling_round_close(*, round_: LabellingRound, retrain: bool, user) -> LabellingRound:
    """Close an open round; with ``retrain``, one job rebuilds the dataset and trains the model again."""
    round_ = LabellingRound.objects.select_for_update().get(pk=round_.pk)
    if round_.state != LabellingRound.State.OPEN:
        raise Conflict("round", f"round {round_.pk} is {round_.state}; only an open round can be closed")
    if retrain and round_.labels_added == 0:
        raise ValidationFailed("retrain", "no span was accepted or corrected; there is nothing new to train on")
    round_.closed_at = timezone.now()
    round_.retrain = retrain
    round_.state = LabellingRound.State.RETRAINING if retrain else LabellingRound.State.CLOSED
    round_.save(update_fields=["closed_at", "retrain", "state"])
    if retrain:
        job_create(
            owner=round_.owner,
            kind=Job.Kind.LABELLING_ROUND,
            inputs={"round_id": round_.pk, "model_id": round_.model_id, "closed_by": getattr(user, "pk", None)},
            target=round_,
        )
    round_.refresh_from_db()
    return round_


def _retrain_sources(round_: LabellingRound, dataset: Dataset) -> list[FeatureFile]:
    """The dataset's sources, then the round's files not among them whose videos now carry labels."""
    sources = list(dataset.sources.order_by("datasetsource__id"))
    extra = [
        f
        for f in round_.feature_files.order_by("id")
        if f not in sources and f.video.label_spans.exists() and f.status == JobStatus.SUCCEEDED
    ]
    return sources + extra


def _discard_unfinished(round_: LabellingRound) -> None:
    """The dataset and model an earlier attempt of the retraining job made: this attempt starts over.

    Removed directly (files, then rows) rather than through the delete services, which would
    cancel the job that owns them: this one.
    """
    round_ = LabellingRound.objects.select_related("dataset", "retrained_model").get(pk=round_.pk)
    model, dataset = round_.retrained_model, round_.dataset
    if model is not None and deletion.dependents(model):
        model = None  # something uses it (a live session: it was trained before the job died): keep it
        dataset = None  # and what it was trained on
    if model is not None:
        for path in trained_model_files(model):
            storage.remove(path)
        model.delete()
    if dataset is not None:
        if deletion.dependents(dataset):  # someone trained on it since: keep it
            dataset = None
        else:
            if dataset.path:
                storage.remove(dataset.path)
            dataset.delete()
    LabellingRound.objects.filter(pk=round_.pk).update(dataset=None, retrained_model=None)


def labelling_round_retrain(job: Job, reporter) -> dict:
    """The retraining job of a closed round: relabel, rebuild the dataset, train the same configuration."""
    round_ = LabellingRound.objects.select_related("model", "model__dataset").filter(pk=job.inputs["round_id"]).first()
    if round_ is None:
        raise ValidationFailed("round", "was deleted before it could be retrained")
    old_model, old_dataset = round_.model, round_.model.dataset
    _discard_unfinished(round_)  # what an earlier attempt of this job left half-made
    sources = _retrain_sources(round_, old_dataset)
    with transaction.atomic():
        dataset = dataset_allocate(
            owner=round_.owner, feature_files=sources, params=old_dataset.params, status=JobStatus.RUNNING, job=job
        )
        LabellingRound.objects.filter(pk=round_.pk).update(dataset=dataset)
    run_as_step(dataset_build, dataset, reporter.child(0.0, 0.4))  # relabels the sources, then builds
    dataset.refresh_from_db()
    model = trained_model_allocate(
        owner=round_.owner,
        dataset=dataset,
        model_type=old_model.model_type,
        aggregation=old_model.aggregation,
        params=dict(old_model.params),
        status=JobStatus.RUNNING,
        job=job,
    )
    LabellingRound.objects.filter(pk=round_.pk).update(retrained_model=model)
    run_as_step(trained_model_train, model, reporter.child(0.4, 1.0))
    model.refresh_from_db()
    LabellingRound.objects.filter(pk=round_.pk).update(
        state=LabellingRound.State.CLOSED, accuracy_after=model.accuracy, f1_after=model.f1_macro
    )
    return {
        "round_id": round_.pk,
        "dataset_id": dataset.pk,
        "dataset_dir": dataset.name,
        "model_id": model.pk,
        "model_path": model.filename,
        "accuracy_before": round_.accuracy_before,
        "accuracy_after": model.accuracy,
        "f1_before": round_.f1_before,
        "f1_after": model.f1_macro,
    }


@transaction.atomic
def labelling_round_delete(*, round_: LabellingRound) -> None:
    """The round and its spans; labels already added stay, as does a retrained model."""
    job_cancel_if_active(round_.job)
    round_.delete()


# ---------------------------------------------------------------- ablations


def ablation_request(
    *,
    owner,
    dataset: Dataset,
    model_type: str = "rf",
    aggregation: str = "stats",
    params: dict | None = None,
    seed: int = 42,
    groups: list[str] | None = None,
) -> Ablation:
    """A pending ablation and the job that trains the configuration on each feature group."""
    model_type, aggregation, params = training_params_check(
        model_type=model_type, aggregation=aggregation, params=params or {}
    )
    if not 0 <= seed < 2**32:
        raise ValidationFailed("seed", f"must be between 0 and {2**32 - 1}, got {seed}")
    if dataset.status != JobStatus.SUCCEEDED:
        raise ValidationFailed("dataset", f"{dataset.name} is not built ({dataset.status})")
    groups = list(dict.fromkeys(groups or [g for g in ABLATION_GROUPS if g != FUSED]))
    unknown = [g for g in groups if g not in ABLATION_GROUPS]
    if unknown:
        raise ValidationFailed("groups", f"{unknown} unknown; choose from {', '.join(ABLATION_GROUPS)}")
    runs = len({*groups, FUSED})  # each group alone, and fused
    training_cost_check(dataset=dataset, model_type=model_type, aggregation=aggregation, params=params, runs=runs)
    with transaction.atomic():
        ablation = Ablation.objects.create(
            owner=owner,
            dataset=dataset,
            model_type=model_type,
            aggregation=aggregation,
            params={**params, "seed": seed},
            groups=groups,
        )
        job_create(
            owner=owner,
            kind=Job.Kind.ABLATION,
            inputs={"ablation_id": ablation.pk, "dataset_dir": dataset.name, "model_type": model_type,
                    "aggregation": aggregation, "params": params, "seed": seed, "groups": groups},
            target=ablation,
        )  # fmt: skip
    ablation.refresh_from_db()
    return ablation


def ablation_run(job: Job, reporter) -> dict:
    """The ablation job: train on each group's copy of the dataset and store the comparison."""
    ablation = Ablation.objects.select_related("dataset").filter(pk=job.inputs["ablation_id"]).first()
    if ablation is None:
        raise ValidationFailed("ablation", "was deleted before it could run")
    spec = stored_train_spec(model_type=ablation.model_type, aggregation=ablation.aggregation, params=ablation.params)
    reporter.stage("training each group")
    results = run_ablation(
        storage.absolute(ablation.dataset.path), spec=spec, groups=ablation.groups, progress=reporter
    )
    Ablation.objects.filter(pk=ablation.pk).update(results=results)
    return {
        "ablation_id": ablation.pk,
        "groups": results["order"],
        "skipped": results["skipped"],
        "accuracy": {g: r["accuracy"] for g, r in results["groups"].items()},
    }


@transaction.atomic
def ablation_delete(*, ablation: Ablation) -> None:
    job_cancel_if_active(ablation.job)
    ablation.delete()
