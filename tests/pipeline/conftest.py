"""Synthetic per-frame feature files for the dataset and training tests (no video, no Django)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from taskml.pipeline.dataset import DatasetSpec
from taskml.pipeline.extraction import write_features
from taskml.pipeline.features import ALL_FEATURE_COLUMNS
from taskml.pipeline.windows import WindowSpec

CLASSES = ("assemble", "inspect", "pack")
# Every 10th feature column carries the class: learnable, while most columns are noise.
SIGNAL_COLUMNS = ALL_FEATURE_COLUMNS[::10]
# Small windows keep the suite fast: 2 s windows sampled at 5 frames per second = 10 frames.
SMALL_WINDOW = WindowSpec(window_sec=2.0, step_sec=0.5, resample_fps=5.0)


def small_spec(**kwargs) -> DatasetSpec:
    kwargs.setdefault("window", SMALL_WINDOW)
    return DatasetSpec(**kwargs)


def feature_frame(
    video_id: str,
    *,
    seconds: float = 30.0,
    fps: float = 10.0,
    segment_sec: float = 5.0,
    pattern: tuple[str | None, ...] = CLASSES,
    seed: int = 0,
    offset: float = 0.0,
    nan_fraction: float = 0.01,
) -> pd.DataFrame:
    """A features table: labels cycle through ``pattern`` every ``segment_sec`` seconds."""
    n = int(round(seconds * fps))
    t = np.arange(n) / fps
    rng = np.random.default_rng(seed)
    segment = np.floor(t / segment_sec + 1e-9).astype(int) % len(pattern)
    labels = [pattern[s] for s in segment]
    values = rng.normal(size=(n, len(ALL_FEATURE_COLUMNS))).astype(np.float32) + np.float32(offset)
    code = np.array([CLASSES.index(lbl) if lbl is not None else 0 for lbl in labels], np.float32)
    signal = [ALL_FEATURE_COLUMNS.index(c) for c in SIGNAL_COLUMNS]
    values[:, signal] += 3.0 * code[:, None]
    if nan_fraction:
        values[rng.random(values.shape) < nan_fraction] = np.nan
    frame = pd.DataFrame(values, columns=ALL_FEATURE_COLUMNS)
    frame.insert(0, "video_id", pd.Series([video_id] * n, dtype="string"))
    frame.insert(1, "frame_index", np.arange(n, dtype=np.int64))
    frame.insert(2, "t", t)
    frame["label"] = pd.Series(labels, dtype="string")
    return frame


def write_feature_file(path: Path, frame: pd.DataFrame, *, fps: float = 10.0) -> Path:
    video_id = str(frame["video_id"].iloc[0]) if len(frame) else path.stem
    write_features(frame, path, {"video_id": video_id, "fps": fps, "sample_rate": 1, "detector": "synthetic"})
    return path


@pytest.fixture
def make_features(tmp_path):
    """make_features(video_id, **feature_frame kwargs) -> path of a written Parquet file."""
    folder = tmp_path / "features"
    folder.mkdir()

    def make(video_id: str, **kwargs) -> Path:
        fps = kwargs.get("fps", 10.0)
        return write_feature_file(folder / f"{video_id}.parquet", feature_frame(video_id, **kwargs), fps=fps)

    return make


@pytest.fixture
def five_videos(make_features) -> list[Path]:
    return [make_features(f"v{i}", seed=i, segment_sec=5.0 + i) for i in range(5)]
