"""The MediaPipe models a detector configuration needs are refused in one line when missing."""

from __future__ import annotations

import pytest


def test_a_pose_model_the_installation_lacks_is_refused_in_one_line_not_downloaded():
    from pathlib import Path

    import mediapipe as mp

    from taskml.pipeline.detectors import POSE_MODELS, pose_model_check
    from taskml.pipeline.errors import InputError

    folder = Path(mp.__file__).parent / "modules" / "pose_landmark"
    for complexity, name in POSE_MODELS.items():
        if (folder / name).is_file():
            pose_model_check(complexity)
        else:
            with pytest.raises(InputError) as refused:
                pose_model_check(complexity)
            assert f"pose complexity {complexity} needs MediaPipe's {name}" in str(refused.value)
            assert "\n" not in str(refused.value)
    pose_model_check(1)  # the full model ships with the wheel: the default always works
