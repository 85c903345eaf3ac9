"""Real Megamind features (MediaPipe, extracted once) split into several "videos" of a user.

Each video is a Video row with its own label spans and a FeatureFile: a copy of the one real
extraction with its own ``video_id`` and a little seeded jitter on every feature. The label
column is left for the run to bring up to date from the spans (``feature_files_relabel``), as it
would be after labelling in the browser.
"""

from __future__ import annotations

import shutil
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from taskml.pipeline.features import ALL_FEATURE_COLUMNS

# Megamind_labels.csv: holding_glass 1-97, talking 98-153, holding_glass 154-199, talking 200-269.
SPANS = [(1, 97, "holding_glass"), (98, 153, "talking"), (154, 199, "holding_glass"), (200, 269, "talking")]
SWAPPED = {"holding_glass": "talking", "talking": "holding_glass"}
DATASET = {"window_sec": 1.0, "step_sec": 0.1, "train_ratio": 0.5, "val_ratio": 0.25, "test_ratio": 0.25}
MODEL = {"n_estimators": 20, "max_depth": 4}


@pytest.fixture(scope="session")
def mega_parquet(megamind, tmp_path_factory, model_cache) -> Path:
    """Megamind.avi through the real MediaPipe detectors, once per test session (no labels)."""
    from taskml.pipeline.detectors import DetectorConfig
    from taskml.pipeline.extraction import extract_features

    out = tmp_path_factory.mktemp("mega") / "mega.parquet"
    extract_features(megamind, out, config=DetectorConfig(kind="mediapipe", cache_dir=model_cache), video_id="mega")
    return out


def create_video(owner, name: str, *, mega_parquet: Path, megamind: Path, spans=SPANS):
    """A Video with label spans and an extracted FeatureFile (a copy of the real extraction)."""
    from taskml import storage
    from videos.models import FeatureFile, LabelSpan, Video

    upload = storage.uploads_dir(owner.pk) / f"{name}.avi"
    upload.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(megamind, upload)
    video = Video.objects.create(
        owner=owner, video_id=name, stored_name=f"{name}.avi", original_name="Megamind.avi",
        file=storage.relative(upload), sha256="0" * 64, size_bytes=upload.stat().st_size, fps=23.976,
        frame_count=270, duration=11.26, width=720, height=528,
    )  # fmt: skip
    for start, end, label in spans:
        LabelSpan.objects.create(video=video, start_frame=start, end_frame=end, label=label, source="csv")
    path = storage.features_dir(owner.pk) / f"{name}_features.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pq.read_table(mega_parquet)
    index = table.column_names.index("video_id")
    field = table.schema.field(index)
    table = table.set_column(index, field, pa.array([name] * table.num_rows, pa.string()).cast(field.type))
    # Each "video" is the same recording seen a little differently: detector jitter of 5 % of each
    # feature's spread, seeded by the name, so no two copies (a held-out one included) are identical.
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    for column in ALL_FEATURE_COLUMNS:
        at = table.column_names.index(column)
        values = table.column(at).to_numpy(zero_copy_only=False).astype(np.float64)
        spread = np.nanstd(values) if np.isfinite(values).any() else 0.0
        jittered = values + rng.normal(0.0, 0.05 * spread, len(values))
        table = table.set_column(at, table.schema.field(at), pa.array(jittered).cast(table.schema.field(at).type))
    pq.write_table(table, path)
    FeatureFile.objects.create(
        owner=owner, video=video, filename=path.name, path=storage.relative(path), detector="mediapipe",
        status="succeeded", num_frames=table.num_rows, columns=table.column_names,
        label_distribution={}, labels_digest="",  # brought up to date by the run
    )  # fmt: skip
    return video


@pytest.fixture
def make_video(mega_parquet, megamind):
    """make_video(owner, name, spans=SPANS) -> Video with label spans and an extracted FeatureFile."""

    def make(owner, name: str, spans=SPANS):
        return create_video(owner, name, mega_parquet=mega_parquet, megamind=megamind, spans=spans)

    return make


def policy_body(training, holdout, **extra) -> dict:
    body = {
        "name": "mega",
        "training_videos": [v.pk for v in training],
        "holdout_videos": [v.pk for v in holdout],
        "detector": "mediapipe",
        "dataset_params": DATASET,
        "model_type": "lgbm",
        "aggregation": "stats",
        "model_params": MODEL,
    }
    body.update(extra)
    return body


def wait_run(run_id: int, timeout: float = 300):
    from retraining.models import RetrainRun
    from tests.platform import wait_for

    def done():
        run = RetrainRun.objects.select_related("job").get(pk=run_id)
        return run if run.job is not None and run.job.is_terminal else None

    run = wait_for(done, timeout=timeout, what=f"retraining run {run_id}")
    assert run.job.status == "succeeded", run.job.error
    return run


def swap_labels(video) -> None:
    """Poison a video's labels: every span gets the other class (an edit in the labeller would do the same)."""
    from videos.services import label_span_update

    for span in video.label_spans.all():
        label_span_update(span=span, label=SWAPPED[span.label])
