"""Shared fixtures: the real sample videos and one real extraction reused across tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "data" / "samples"
MEGAMIND_LABELS = ROOT / "samples" / "Megamind_labels.csv"
# Untrained YOLO built from its config: the real ultralytics/ONNX code path, no download.
YOLO_SPEC = "yolov8n.yaml"


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    if not (SAMPLES / "Megamind.avi").exists() or not (SAMPLES / "vtest.avi").exists():
        subprocess.run(["bash", str(ROOT / "scripts" / "fetch_samples.sh"), str(SAMPLES)], check=True)
    return SAMPLES


@pytest.fixture(scope="session")
def megamind(samples_dir: Path) -> Path:
    return samples_dir / "Megamind.avi"


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("model-cache")
