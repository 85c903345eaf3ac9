"""Small inputs and rows for API tests that must not wait for a real extraction.

Tiny videos are real (MJPG AVI written by OpenCV, so the service probes and decodes them);
rows made here stand for objects a finished job would have produced, for requests that are
refused before any job runs.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from django.core.files.uploadedfile import SimpleUploadedFile

from datasets.models import Dataset
from jobs.models import Job
from models_app.models import TrainedModel
from taskml import storage
from tests.pipeline.conftest import CLASSES, feature_frame, write_feature_file
from videos.models import FeatureFile, Video
from videos.services import video_labels_digest

TINY_FRAMES = 20
STAND_IN_FRAMES = 300  # 30 s at 10 fps: room for a few 1–2 s windows in every split


def tiny_video(path: Path, *, frames: int = TINY_FRAMES, size: tuple[int, int] = (64, 48)) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, size)
    for i in range(frames):
        image = np.zeros((size[1], size[0], 3), np.uint8)
        cv2.rectangle(image, (i, 5), (i + 10, 20), (0, 255 - 5 * i, 5 * i), -1)
        writer.write(image)
    writer.release()
    return path


def upload(path: Path, name: str | None = None) -> SimpleUploadedFile:
    return SimpleUploadedFile(name or path.name, path.read_bytes())


def csv_upload(text: str | bytes, name: str = "labels.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, text.encode() if isinstance(text, str) else text, content_type="text/csv")


def video_row(owner, *, frames: int = TINY_FRAMES, name: str = "clip") -> Video:
    video = Video.objects.create(
        owner=owner, video_id=name, stored_name=f"{name}.avi", original_name=f"{name}.avi",
        file=f"uploads/{owner.pk}/{name}.avi", sha256="0" * 64, size_bytes=1, fps=10.0,
        frame_count=frames, duration=frames / 10, width=64, height=48,
    )  # fmt: skip
    return video


def ready_feature_file(owner, *, video: Video | None = None, name: str = "clip_features.parquet", labels=None):
    """A finished extraction of ``video`` (a new 30 s row when not given). With the default
    ``labels`` its Parquet file is real (synthetic values in the columns extraction writes, classes
    ``assemble`` and ``inspect`` in 5 s turns over the video's duration), so a build's first pass can read it;
    with ``labels`` given the row alone stands for a file that requests refuse before reading it."""
    video = video or video_row(owner, name=name.split("_")[0], frames=STAND_IN_FRAMES)
    row = FeatureFile.objects.create(
        owner=owner, video=video, filename=name, path=f"processed/features/{owner.pk}/{name}", detector="mediapipe",
        status="succeeded", num_frames=video.frame_count, num_labeled=video.frame_count,
        columns=["frame_index", "t", "label"], label_distribution=labels if labels is not None else {"a": 10, "b": 10},
        labels_digest=video_labels_digest(video),  # a stand-in: its labels count as up to date
    )  # fmt: skip
    if labels is None:
        frame = feature_frame(video.video_id, seconds=video.duration, fps=video.fps, pattern=CLASSES[:2])
        path = storage.absolute(row.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_feature_file(path, frame)
        row.label_distribution = {str(k): int(v) for k, v in frame["label"].value_counts().items()}
        row.save(update_fields=["label_distribution"])
    return row


def ready_dataset(owner, *, feature_file: FeatureFile | None = None, labels=("a", "b")) -> Dataset:
    dataset = Dataset.objects.create(
        owner=owner, status="succeeded", window_sec=1.0, step_sec=0.5, train_ratio=0.7, val_ratio=0.15,
        test_ratio=0.15, labels=list(labels), train_size=10, val_size=2, test_size=2, num_features=5,
    )  # fmt: skip
    dataset.path = f"processed/datasets/{dataset.name}"
    dataset.save(update_fields=["path"])
    dataset.sources.add(feature_file or ready_feature_file(owner, name=f"for{dataset.pk}_features.parquet"))
    return dataset


def ready_model(owner, *, dataset: Dataset) -> TrainedModel:
    version = TrainedModel.objects.filter(owner=owner).count() + 1
    model = TrainedModel.objects.create(
        owner=owner, dataset=dataset, status="succeeded", version=version, model_type="rf", aggregation="stats",
        accuracy=0.5, f1_macro=0.5,
    )  # fmt: skip
    model.filename = f"task_classifier_rf_{model.pk}.pkl"
    model.path = f"mlruns/models/{model.filename}"
    model.save(update_fields=["filename", "path"])
    return model


def job_row(owner, *, status: str = Job.Status.PENDING, kind: str = Job.Kind.DATASET, target=None) -> Job:
    """A job row only: with the `db` fixture nothing commits, so nothing is ever enqueued."""
    from jobs.services import job_create

    job = job_create(owner=owner, kind=kind, inputs={"dataset_id": getattr(target, "pk", 0)}, target=target)
    if status != Job.Status.PENDING:
        Job.objects.filter(pk=job.pk).update(status=status)
        job.refresh_from_db()
    return job
