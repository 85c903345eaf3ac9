"""Honest evaluation: one macro-F1 definition everywhere, absent classes listed, warnings for
degenerate test splits, the parameters a model type uses, and group-aware cross-validation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from taskml.pipeline.dataset import build_dataset
from taskml.pipeline.errors import InputError
from taskml.pipeline.estimators import ModelParams, params_used
from taskml.pipeline.training import (
    F1_MACRO_DEFINITION,
    TrainSpec,
    evaluate,
    evaluation_warnings,
    load_dataset,
    train_model,
    window_groups,
)

from .conftest import feature_frame, small_spec, write_feature_file

LABELS = ["assemble", "inspect", "pack"]
FAST = ModelParams(n_estimators=10, max_depth=4)


def test_macro_f1_is_one_number_when_a_class_is_absent_from_test():
    y_true = np.array([0, 0, 0, 1, 1])  # no "pack" in this split
    y_pred = np.array([0, 0, 1, 1, 1])
    result = evaluate(y_true, y_pred, LABELS)
    assert result.f1_macro == pytest.approx(result.classification_report["macro avg"]["f1-score"])
    assert result.f1_weighted == pytest.approx(result.classification_report["weighted avg"]["f1-score"])
    assert result.classes_absent == ["pack"]
    assert result.classes_scored == ["assemble", "inspect"]
    assert result.per_class["pack"] == {"precision": None, "recall": None, "f1": None, "support": 0}
    assert "pack" not in result.classification_report


def test_the_readme_case_one_class_in_test_predicted_right():
    """The README's workflow once gave 1.0 at top level and 0.5 as the report's macro avg."""
    result = evaluate(np.array([1, 1, 1]), np.array([1, 1, 1]), ["holding_glass", "talking"])
    assert result.f1_macro == result.classification_report["macro avg"]["f1-score"] == 1.0
    assert result.classes_absent == ["holding_glass"]
    warnings = evaluation_warnings(np.array([1, 1, 1]), ["holding_glass", "talking"])
    assert any("one class (talking)" in w for w in warnings)
    assert any("fewer than 10 test windows for talking (3)" in w for w in warnings)


def test_a_class_predicted_but_absent_counts_in_both_places():
    result = evaluate(np.array([0, 0, 0, 0]), np.array([0, 0, 2, 0]), LABELS)
    assert result.classes_scored == ["assemble", "pack"]
    assert result.f1_macro == pytest.approx(result.classification_report["macro avg"]["f1-score"])
    assert result.per_class["pack"]["f1"] == 0.0


def test_no_warning_for_a_healthy_test_split():
    assert evaluation_warnings(np.repeat([0, 1, 2], 12), LABELS) == []


def test_parameters_a_model_type_uses():
    assert params_used("ridge", "minirocket") == ("rocket_features",)
    assert "n_estimators" not in params_used("ridge", "minirocket")
    assert params_used("rf", "stats") == ("n_estimators", "max_depth")
    assert "learning_rate" in params_used("lightgbm", "stats")
    assert "n_estimators" not in params_used("lstm", "sequence") and "epochs" in params_used("lstm", "sequence")
    assert set(ModelParams().used_by("ridge", "stats")) == set()


@pytest.fixture(scope="module")
def five_video_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluation")
    paths = [
        write_feature_file(root / f"v{i}.parquet", feature_frame(f"v{i}", seed=i, segment_sec=4.0 + i))
        for i in range(5)
    ]
    build_dataset(paths, root / "ds", spec=small_spec(groups=("pose",)))
    return root / "ds"


def test_metrics_file_agrees_with_itself_and_says_which_params(five_video_dataset, tmp_path):
    result = train_model(five_video_dataset, tmp_path / "m.pkl", spec=TrainSpec(model_type="ridge", seed=0))
    metrics = json.loads(result.metrics_path.read_text())
    assert metrics["f1_macro"] == metrics["test"]["f1_macro"]
    assert metrics["f1_macro"] == pytest.approx(metrics["classification_report"]["macro avg"]["f1-score"])
    assert metrics["val"]["f1_macro"] == pytest.approx(metrics["val"]["classification_report"]["macro avg"]["f1-score"])
    assert metrics["f1_macro_definition"] == F1_MACRO_DEFINITION
    assert metrics["params_used"] == {"rocket_features": None}
    assert "warnings" in metrics and metrics["cv"] is None


def test_cv_by_video(five_video_dataset, tmp_path):
    spec = TrainSpec(model_type="rf", aggregation="stats", params=FAST, seed=0, cv_folds=3)
    seen = []
    result = train_model(five_video_dataset, tmp_path / "m.pkl", spec=spec, progress=lambda d, t: seen.append((d, t)))
    cv = result.metrics.cv
    assert cv["k"] == 3 and cv["grouped_by"] == "video" and cv["groups"] == 5
    assert cv["folds_scored"] == 3
    tested = [g for fold in cv["folds"] for g in fold["test_groups"]]
    assert sorted(tested) == [f"v{i}" for i in range(5)]  # every video tested exactly once
    for metric in ("accuracy", "f1_macro"):
        values = [fold[metric] for fold in cv["folds"]]
        assert cv[metric]["mean"] == pytest.approx(np.mean(values))
        assert cv[metric]["std"] == pytest.approx(np.std(values))
    assert cv["accuracy"]["mean"] > 0.5  # the synthetic classes are learnable
    # One progress bar over the folds (the first 3/4) and the final fit: it never goes back and ends full.
    assert seen[-1] == (1000, 1000)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert any(700 <= d <= 760 for d, _ in seen)  # the folds end at 3/4 of the bar


def test_cv_by_time_block_on_one_recording(tmp_path):
    path = write_feature_file(tmp_path / "rec.parquet", feature_frame("rec", seconds=90.0, segment_sec=6.0))
    build_dataset([path], tmp_path / "ds", spec=small_spec(groups=("pose",)))
    data = load_dataset(tmp_path / "ds")
    groups, kind = window_groups(data)
    assert kind == "time_block" and len(groups) == sum(len(data.y[s]) for s in ("train", "val", "test"))
    assert all(g.startswith("rec#") for g in groups)
    spec = TrainSpec(model_type="rf", aggregation="stats", params=FAST, seed=0, cv_folds=3)
    cv = train_model(tmp_path / "ds", tmp_path / "m.pkl", spec=spec).metrics.cv
    assert cv["grouped_by"] == "time_block" and cv["folds_scored"] >= 2
    # A fold never tests on a block it trained on.
    for fold in cv["folds"]:
        assert fold["train_windows"] + fold["test_windows"] == len(groups)


def test_cv_with_more_folds_than_groups_is_refused(five_video_dataset, tmp_path):
    spec = TrainSpec(model_type="rf", params=FAST, cv_folds=6)
    with pytest.raises(InputError, match=r"cv 6 needs at least 6 groups but this dataset has 5 videos; use cv ≤ 5"):
        train_model(five_video_dataset, tmp_path / "m.pkl", spec=spec)
    assert not (tmp_path / "m.pkl").exists()
    with pytest.raises(InputError, match="cv must be between 2 and 20"):
        TrainSpec(cv_folds=1)
