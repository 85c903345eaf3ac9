"""The Label Studio ML backend protocol over taskml's models, videos and retraining policies.

Label Studio sends tasks (``data.video``: the video's URL or file name) and its labelling config;
a task is matched to one of the caller's uploaded videos by file name (Label Studio prefixes its
uploads with ``<hash>-``), by ``data.taskml_video_id``, or by a URL of this server naming the video.
"""

from __future__ import annotations

import json
import os
import re
import urllib.parse

from django.db.models import Q

from models_app.models import TrainedModel
from models_app.predictions import model_version_name, video_ls_prediction
from retraining.models import RetrainPolicy
from retraining.services import retrain_run_request
from taskml.domain import ServiceError, ValidationFailed
from taskml.pipeline.errors import InputError
from taskml.pipeline.interchange import (
    ExportMeta,
    ImportOptions,
    LabelStudioConfig,
    file_names_match,
    parse_ls_config,
)
from videos.interchange import labels_import
from videos.models import Video

VIDEO_URL = re.compile(r"/api/v1/videos/(\d+)/")


def ls_config(text: str | None) -> LabelStudioConfig | None:
    if not text:
        return None
    try:
        return parse_ls_config(text)
    except InputError as exc:
        raise ValidationFailed("label_config", str(exc)) from None


def task_video(*, user, task: dict) -> Video | None:
    """The caller's video a Label Studio task is about, or None."""
    data = task.get("data") if isinstance(task, dict) and isinstance(task.get("data"), dict) else {}
    videos = Video.objects.filter(owner=user)
    given = data.get("taskml_video_id")
    if isinstance(given, int | str) and str(given).isdigit():
        found = videos.filter(pk=int(given)).first()
        if found is not None:
            return found
    value = data.get("video") or next((v for v in data.values() if isinstance(v, str) and "." in v), "")
    if not isinstance(value, str) or not value:
        return None
    match = VIDEO_URL.search(value)
    if match:
        found = videos.filter(pk=int(match.group(1))).first()
        if found is not None:
            return found
    base = os.path.basename(urllib.parse.unquote(urllib.parse.urlparse(value).path or value)).strip()
    candidates = {base, base.split("-", 1)[-1]} - {""}  # Label Studio stores uploads as <hash>-<name>
    found = videos.filter(Q(original_name__in=candidates) | Q(stored_name__in=candidates)).order_by("-created_at")
    return next((v for v in found if file_names_match(value, (v.original_name, v.stored_name))), None)


def ls_predict(*, user, model: TrainedModel, tasks: list, label_config: str | None) -> dict:
    """``{"results": [one prediction per task], "model_version"}``; a task whose video is not
    found (or not extracted) gets an empty prediction that says why."""
    config = ls_config(label_config)
    results = []
    for task in tasks:
        video = task_video(user=user, task=task)
        if video is None:
            results.append({"result": [], "score": 0.0, "model_version": model_version_name(model),
                            "error": "no uploaded video matches the task's data.video"})  # fmt: skip
            continue
        meta = ExportMeta(
            video_id=video.video_id,
            name=video.original_name or video.stored_name,
            from_name=config.from_name if config else "videoLabels",
            to_name=config.to_name if config else "video",
        )
        try:
            prediction = video_ls_prediction(
                model=model, video=video, meta=meta, rate=config.frame_rate if config else None
            )
        except ServiceError as exc:
            results.append({"result": [], "score": 0.0, "model_version": model_version_name(model),
                            "error": str(exc)})  # fmt: skip
            continue
        if config and config.labels:  # Label Studio refuses labels its config does not have
            prediction["result"] = [r for r in prediction["result"] if r["value"]["timelinelabels"][0] in config.labels]
        results.append(prediction)
    return {"results": results, "model_version": model_version_name(model)}


def ls_import_annotation(*, user, task: dict, annotation: dict, label_config: str | None) -> dict:
    """An annotation Label Studio created or updated, imported as the video's labels (replace)."""
    video = task_video(user=user, task=task)
    if video is None:
        raise ValidationFailed("task", "no uploaded video of yours matches the task's data.video")
    config = ls_config(label_config)
    document = {"id": task.get("id"), "data": task.get("data") or {}, "annotations": [annotation]}
    return labels_import(
        video=video,
        user=user,
        fmt="label_studio",
        data=json.dumps(document).encode(),
        filename=f"label-studio-task-{task.get('id', '?')}.json",
        mode="replace",
        force=True,  # Label Studio's frames are its own: they are converted through the clock at its frame rate
        options=ImportOptions(fps=config.frame_rate if config else None),
    )


def ls_start_training(*, policy: RetrainPolicy | None) -> dict:
    if policy is None:
        return {"status": "no retraining policy behind this backend URL; use /ls-backend/policy/<id>/"}
    run = retrain_run_request(policy=policy)
    return {"status": "started", "run": run.pk, "job": run.job_id}
