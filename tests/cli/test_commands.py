"""The three management commands end to end, as scripts call them, on a real video."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from taskml.pipeline.extraction import write_features
from taskml.pipeline.features import ALL_FEATURE_COLUMNS
from tests.conftest import MEGAMIND_LABELS, ROOT, YOLO_SPEC

pytestmark = pytest.mark.slow


def manage(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args, "--no-progress"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("CommandError: ")
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture(scope="module")
def pipeline_run(megamind, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli")
    features = out / "mm.parquet"
    extract = manage(
        "extract_features",
        "--video", str(megamind),
        "--labels", str(MEGAMIND_LABELS),
        "--output", str(features),
        "--detector", "fusion",
        "--sample-rate", "1",
        "--video-id", "megamind",
        "--device", "cpu",
        "--yolo-model", YOLO_SPEC,
    )  # fmt: skip
    assert extract.returncode == 0, extract.stderr
    build = manage(
        "build_task_dataset",
        "--features", str(features),
        "--output", str(out / "dataset"),
        "--window-sec", "1.0",
        "--step-sec", "0.25",
        "--balance", "upsample",
        "--train-ratio", "0.5", "--val-ratio", "0.25", "--test-ratio", "0.25",
        "--seed", "7",
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    return out, extract, build


def test_extract_build_train_produces_metrics(pipeline_run):
    out, extract, build = pipeline_run
    assert "270 frames" in extract.stdout and "269 labelled" in extract.stdout
    assert extract.stderr.strip() == ""  # native library chatter is filtered out
    frame = pd.read_parquet(out / "mm.parquet")
    assert (frame["video_id"] == "megamind").all()
    meta = json.loads((out / "dataset" / "metadata.json").read_text())
    assert meta["split_strategy"] == "temporal_blocks"
    assert set(meta["label_to_idx"]) == {"holding_glass", "talking"}
    x_train = np.load(out / "dataset" / "X_train.npy")
    assert x_train.dtype == np.float32 and x_train.shape[1:] == (15, meta["num_features"])
    for model, extra in (
        ("rf", ["--n-estimators", "50", "--max-depth", "6"]),
        ("lightgbm", []),
        ("lstm", ["--epochs", "3", "--hidden-dim", "16"]),
    ):
        target = out / f"task_classifier_{model}.pkl"
        train = manage(
            "train_task_classifier",
            "--dataset",
            str(out / "dataset"),
            "--model",
            model,
            "--output",
            str(target),
            *extra,
        )
        assert train.returncode == 0, train.stderr
        metrics = json.loads((out / f"task_classifier_{model}_metrics.json").read_text())
        assert metrics["model_type"] == {"lightgbm": "lgbm"}.get(model, model)
        assert 0 <= metrics["accuracy"] <= 1 and "f1_macro" in metrics
        assert metrics["test"]["support"] == meta["test_size"]
        assert target.stat().st_size > 0 and (out / f"task_classifier_{model}_meta.json").exists()


def test_train_without_model_or_agg_uses_the_documented_default(pipeline_run):
    from taskml.pipeline.training import DEFAULT_AGGREGATION, DEFAULT_MODEL

    out, _, _ = pipeline_run
    runs = {
        "default": [],
        "lgbm": ["--model", "lgbm", "--n-estimators", "20"],  # a model alone keeps its old aggregation
        "rf_multiscale": ["--model", "rf", "--agg", "multiscale", "--n-estimators", "20"],
        "tcn": ["--model", "tcn", "--epochs", "2", "--hidden-dim", "8"],
    }
    expected = {
        "default": (DEFAULT_MODEL, DEFAULT_AGGREGATION),
        "lgbm": ("lgbm", "stats"),
        "rf_multiscale": ("rf", "multiscale"),
        "tcn": ("tcn", "sequence"),
    }
    for name, extra in runs.items():
        target = out / f"cfg_{name}.pkl"
        train = manage("train_task_classifier", "--dataset", str(out / "dataset"), "--output", str(target), *extra)
        assert train.returncode == 0, train.stderr
        metrics = json.loads((out / f"cfg_{name}_metrics.json").read_text())
        assert (metrics["model_type"], metrics["aggregation"]) == expected[name]
        assert f"{expected[name][0]}/{expected[name][1]}" in train.stdout
        assert {"video_level", "segment", "test_timeline"} <= set(metrics)
    assert (DEFAULT_MODEL, DEFAULT_AGGREGATION) == ("ridge", "minirocket")  # as README documents
    bad = manage(
        "train_task_classifier", "--dataset", str(out / "dataset"), "--output", str(out / "x.pkl"), "--agg", "median"
    )
    assert bad.returncode != 0 and "median" in bad.stderr


def test_missing_video_is_one_line_and_writes_nothing(tmp_path):
    result = manage("extract_features", "--video", str(tmp_path / "nope.mp4"), "--output", str(tmp_path / "o.parquet"))
    assert_one_line_error(result, "video not found")
    assert list(tmp_path.iterdir()) == []


def test_non_video_file_is_refused(tmp_path):
    fake = tmp_path / "clip.avi"
    fake.write_bytes(b"\x00\x01 definitely not a video" * 500)
    result = manage("extract_features", "--video", str(fake), "--output", str(tmp_path / "o.parquet"))
    assert_one_line_error(result, "not a video")
    assert not (tmp_path / "o.parquet").exists()


@pytest.mark.parametrize(
    ("csv_text", "fragment"),
    [
        ("frame,what\n1,a\n", "line 1: columns frame,what not understood"),
        ("frame_index,label\n5,a\n99999,b\n", "line 3: frame 99999 is outside the video"),
        ("frame_index,label\nfive,a\n", "line 2: frame_index 'five' is not an integer"),
    ],
)
def test_bad_labels_are_one_line_errors(megamind, tmp_path, csv_text, fragment):
    labels = tmp_path / "labels.csv"
    labels.write_text(csv_text)
    out = tmp_path / "out.parquet"
    result = manage("extract_features", "--video", str(megamind), "--labels", str(labels), "--output", str(out))
    assert_one_line_error(result, fragment)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.csv"]


def test_unobtainable_yolo_weights_say_how_to_fix(megamind, tmp_path):
    result = manage(
        "extract_features", "--video", str(megamind), "--output", str(tmp_path / "o.parquet"),
        "--yolo-model", str(tmp_path / "absent.pt"),
    )  # fmt: skip
    assert_one_line_error(result, "cannot load YOLO model", "--yolo-model")


def _features_file(path, rows: int, labels) -> None:
    frame = pd.DataFrame({c: np.zeros(rows, np.float32) for c in ALL_FEATURE_COLUMNS})
    frame.insert(0, "video_id", pd.Series(["v"] * rows, dtype="string"))
    frame.insert(1, "frame_index", np.arange(rows, dtype=np.int64))
    frame.insert(2, "t", np.arange(rows) / 10.0)
    frame["label"] = pd.Series(labels, dtype="string")
    write_features(frame, path, {"fps": 10.0})


def test_empty_feature_file_and_one_class(tmp_path):
    empty = tmp_path / "empty.parquet"
    _features_file(empty, 0, [])
    result = manage("build_task_dataset", "--features", str(empty), "--output", str(tmp_path / "ds"))
    assert_one_line_error(result, "empty.parquet has no rows")
    one = tmp_path / "one.parquet"
    _features_file(one, 600, ["a"] * 600)
    result = manage("build_task_dataset", "--features", str(one), "--output", str(tmp_path / "ds"))
    assert_one_line_error(result, "1 class(es)", "need at least two")
    assert not (tmp_path / "ds").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_train_on_a_missing_dataset_and_unknown_model(tmp_path):
    result = manage(
        "train_task_classifier", "--dataset", str(tmp_path), "--model", "rf", "--output", str(tmp_path / "m.pkl")
    )
    assert_one_line_error(result, "not a dataset directory")
    result = manage(
        "train_task_classifier", "--dataset", str(tmp_path), "--model", "svm", "--output", str(tmp_path / "m.pkl")
    )
    assert_one_line_error(result, "model 'svm' unknown")
    assert not (tmp_path / "m.pkl").exists()
