"""Data for admin tests: platform rows with stand-in files, the real /backend/ flow, admin helpers."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from django.test import Client

from tests.conftest import MEGAMIND_LABELS

LABELS = ["holding_glass", "talking"]


def shown_messages(client: Client, response) -> list[tuple[str, str]]:
    """(level tag, text) of the messages the page an admin action redirects to shows (and so clears)."""
    assert response.status_code == 302, response.content[:2000]
    page = client.get(response.url)
    return [(m.level_tag, str(m)) for m in page.context["messages"]]


def run_action(client: Client, url: str, action: str, objects, **extra):
    return client.post(url, {"action": action, "_selected_action": [o.pk for o in objects], **extra})


def on_disk(relative: str) -> Path:
    from taskml import storage

    return storage.absolute(relative)


def _write(relative: str, data: bytes = b"stored bytes") -> Path:
    path = on_disk(relative)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def make_rows(owner, *, name: str = "mega", labels: list[str] = LABELS) -> SimpleNamespace:
    """A video → feature file → dataset → model chain as the services leave it, with stand-in files.

    For pages and deletion: no job runs, so the files only need to exist.
    """
    from datasets.models import Dataset, DatasetSource
    from jobs.models import Job
    from models_app.models import TrainedModel
    from videos.models import FeatureFile, LabelSpan, Video
    from videos.services import video_labels_digest

    video = Video.objects.create(
        owner=owner,
        video_id=name,
        stored_name=f"{name}.avi",
        original_name=f"{name.title()}.avi",
        file=f"uploads/{owner.pk}/{name}.avi",
        sha256="ab" * 32,
        size_bytes=2_000_000,
        fps=24.0,
        frame_count=270,
        duration=11.25,
        width=720,
        height=528,
    )
    _write(video.file)
    LabelSpan.objects.create(video=video, start_frame=0, end_frame=99, label=labels[0], source="csv")
    LabelSpan.objects.create(video=video, start_frame=100, end_frame=269, label=labels[1], source="csv")

    feature_file = FeatureFile.objects.create(
        owner=owner,
        video=video,
        filename=f"{name}_features.parquet",
        path=f"processed/features/{owner.pk}/{name}_features.parquet",
        detector="mediapipe",
        sample_rate=2,
        status="succeeded",
        num_frames=135,
        num_labeled=135,
        columns=["frame_index", "t", "label"],
        label_distribution={labels[0]: 50, labels[1]: 85},
        labels_digest=video_labels_digest(video),
        size_bytes=40_000,
    )
    # A real features table (12 rows a second, the two classes in turns): a rebuild reads it first.
    from tests.pipeline.conftest import feature_frame, write_feature_file

    on_disk(feature_file.path).parent.mkdir(parents=True, exist_ok=True)
    frame = feature_frame(name, seconds=video.duration, fps=12.0, segment_sec=2.0, pattern=("assemble", "inspect"))
    frame["label"] = frame["label"].map({"assemble": labels[0], "inspect": labels[1]})
    write_feature_file(on_disk(feature_file.path), frame)

    dataset = Dataset.objects.create(
        owner=owner,
        status="succeeded",
        window_sec=1.0,
        step_sec=0.25,
        balance_method="none",
        train_ratio=0.5,
        val_ratio=0.25,
        test_ratio=0.25,
        params={"window_sec": 1.0, "step_sec": 0.25, "balance_method": "none", "ratios": [0.5, 0.25, 0.25]},
        labels=labels,
        class_counts={"train": {labels[0]: 7, labels[1]: 11}, "val": {labels[0]: 3, labels[1]: 4}, "test": {}},
        train_size=18,
        val_size=7,
        test_size=0,
        num_features=40,
        split_strategy="temporal_blocks",
        size_bytes=5_000,
    )
    dataset.path = f"processed/datasets/{dataset.name}"
    dataset.save(update_fields=["path"])
    DatasetSource.objects.create(dataset=dataset, feature_file=feature_file)
    for file in ("X_train.npy", "y_train.npy", "metadata.json"):
        _write(f"{dataset.path}/{file}")

    model = TrainedModel.objects.create(
        owner=owner,
        dataset=dataset,
        status="succeeded",
        version=(TrainedModel.objects.filter(owner=owner).count() + 1),
        model_type="lgbm",
        aggregation="stats",
        sha256="cd" * 32,
        size_bytes=30_000,
        metrics={"accuracy": 0.75, "f1_macro": 0.7, "dataset": dataset.name},
        accuracy=0.75,
        f1_macro=0.7,
    )
    model.filename = f"task_classifier_lgbm_{model.pk}.pkl"
    model.path = f"mlruns/models/{model.filename}"
    model.save(update_fields=["filename", "path"])
    model_files = [model.path, model.path.replace(".pkl", "_metrics.json"), model.path.replace(".pkl", "_meta.json")]
    for file in model_files:
        _write(file)

    jobs = {}
    for kind, target in (("extraction", feature_file), ("dataset", dataset), ("training", model)):
        job = Job.objects.create(
            owner=owner,
            kind=kind,
            status="succeeded",
            stage="done",
            progress=1.0,
            inputs={"name": name},
            celery_task_id=f"task-{name}-{kind}",
            target=target,
        )
        type(target).objects.filter(pk=target.pk).update(job=job)
        jobs[kind] = job
    return SimpleNamespace(
        video=video,
        feature_file=feature_file,
        dataset=dataset,
        model=model,
        jobs=jobs,
        files={
            "video": on_disk(video.file),
            "features": on_disk(feature_file.path),
            "dataset": on_disk(dataset.path),
            "model": [on_disk(p) for p in model_files],
        },
    )


def backend_upload(api, megamind: Path, *, video_id: str = "mega") -> dict:
    """Upload Megamind with its labels through /backend/ and wait for the extraction (fast settings)."""
    with open(megamind, "rb") as video, open(MEGAMIND_LABELS, "rb") as labels:
        r = api.post(
            "/backend/upload_and_extract_features",
            {"video": video, "labels_csv": labels, "video_id": video_id, "detector_type": "mediapipe",
             "sample_rate": "2"},
            format="multipart",
        )  # fmt: skip
    assert r.status_code == 200, r.content
    return r.json()


def backend_build(api, feature_file: str) -> dict:
    r = api.post(
        "/backend/build_task_dataset",
        {"feature_files": feature_file, "window_sec": "1.0", "step_sec": "0.25", "balance_method": "none",
         "train_ratio": "0.5", "val_ratio": "0.25", "test_ratio": "0.25"},
    )  # fmt: skip
    assert r.status_code == 200, r.content
    return r.json()


def backend_train(api, dataset_dir: str) -> dict:
    r = api.post("/backend/train_task_model", {"dataset_dir": dataset_dir, "model_type": "rf", "n_estimators": "20"})
    assert r.status_code == 200, r.content
    return r.json()
