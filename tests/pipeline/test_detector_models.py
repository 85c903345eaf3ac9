"""The MediaPipe pose models a configuration needs: the wheel's full model always; the lite and
heavy ones installed from what scripts/fetch_models.sh fetched (sha256-checked) where MediaPipe
looks, as its own download would be; refused in one line when there is nothing to install."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest

from taskml.pipeline.agreement import agreement
from taskml.pipeline.detectors import FETCHED_POSE_SHA256, POSE_MODELS, DetectorConfig, pose_model_check
from taskml.pipeline.errors import InputError
from taskml.pipeline.extraction import extract_features
from taskml.pipeline.objects import DEFAULT_MODELS_DIR


def empty_mediapipe(tmp_path: Path) -> Path:
    """A MediaPipe package folder without the lite and heavy pose models (as the wheel installs)."""
    folder = tmp_path / "mediapipe"
    (folder / "modules" / "pose_landmark").mkdir(parents=True)
    return folder


def installed(mediapipe_dir: Path) -> list[str]:
    return sorted(p.name for p in (mediapipe_dir / "modules" / "pose_landmark").iterdir())


def test_the_full_model_ships_with_the_wheel_so_the_default_always_works():
    pose_model_check(1)


@pytest.mark.parametrize("complexity", [0, 2])
def test_a_pose_model_neither_installed_nor_fetched_is_refused_in_one_line_not_downloaded(tmp_path, complexity):
    mediapipe_dir = empty_mediapipe(tmp_path)
    with pytest.raises(InputError) as refused:
        pose_model_check(complexity, tmp_path / "no-models", mediapipe_dir=mediapipe_dir)
    message = str(refused.value)
    assert message.startswith(f"pose complexity {complexity} needs MediaPipe's {POSE_MODELS[complexity]}")
    assert "run scripts/fetch_models.sh, or use pose complexity 1" in message and "\n" not in message
    assert installed(mediapipe_dir) == []


@pytest.mark.parametrize("complexity", [0, 2])
def test_a_fetched_pose_model_is_installed_where_mediapipe_looks(tmp_path, complexity):
    name = POSE_MODELS[complexity]
    fetched = DEFAULT_MODELS_DIR / "mediapipe" / name  # `make models` fetched it from npm
    mediapipe_dir = empty_mediapipe(tmp_path)
    pose_model_check(complexity, DEFAULT_MODELS_DIR, mediapipe_dir=mediapipe_dir)
    assert installed(mediapipe_dir) == [name]  # and no temporary file left beside it
    target = mediapipe_dir / "modules" / "pose_landmark" / name
    assert hashlib.sha256(target.read_bytes()).hexdigest() == FETCHED_POSE_SHA256[name]
    assert target.read_bytes() == fetched.read_bytes()
    pose_model_check(complexity, tmp_path / "no-models", mediapipe_dir=mediapipe_dir)  # installed: found


def test_a_fetched_file_that_is_not_the_model_is_not_installed(tmp_path):
    models = tmp_path / "models"
    (models / "mediapipe").mkdir(parents=True)
    (models / "mediapipe" / POSE_MODELS[0]).write_bytes(b"not the lite pose model")
    mediapipe_dir = empty_mediapipe(tmp_path)
    with pytest.raises(InputError, match=r"is not the pose_landmark_lite.tflite .*\(sha256 differs\)"):
        pose_model_check(0, models, mediapipe_dir=mediapipe_dir)
    assert installed(mediapipe_dir) == []


def test_the_lite_pose_model_finds_the_pose_the_full_model_finds_in_megamind(megamind, megamind_mediapipe, tmp_path):
    """Real MediaPipe with complexity 0 (installed into the environment's MediaPipe if needed),
    against the full model on the same clip (bench/extraction.py's pose-lite row prices it)."""
    out = tmp_path / "lite.parquet"
    result = extract_features(megamind, out, config=DetectorConfig(kind="mediapipe", pose_complexity=0))
    lite, full = pd.read_parquet(out), pd.read_parquet(megamind_mediapipe[0])
    assert result.num_frames == len(lite) == 270
    assert lite["pose_present"].mean() >= 0.9
    same = agreement(full, lite)
    assert same.frames == 270
    assert 0.6 <= same.pose < 1.0  # another model: close to the full one, not the same output
    assert same.hands == 1.0  # the hands model is the same one
