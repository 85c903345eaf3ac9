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


MODELS = ROOT / "data" / "models"


@pytest.fixture(scope="session", autouse=True)
def object_detector() -> Path:
    """The default pretrained COCO detector (scripts/fetch_models.sh; `make test` fetches it too).

    The suite's extraction jobs, workers and live sessions use it (tests/settings.py leaves
    TASKML_YOLO_MODEL unset), so it is there before any of them starts.
    """
    from taskml.pipeline.objects import default_detector_paths

    model, labels = default_detector_paths(MODELS)
    if not model.is_file() or not labels.is_file():
        subprocess.run(["bash", str(ROOT / "scripts" / "fetch_models.sh"), str(MODELS)], check=True)
    return model


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("model-cache")


# ---------------------------------------------------------------- platform fixtures
# Jobs run in a real Celery worker process over the real Redis broker, against the real
# PostgreSQL test database; tests that use it need committed data (transactional_db).


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker, tmp_path_factory):
    from tests.platform import Worker, purge_broker

    with django_db_blocker.unblock():
        purge_broker()
        worker = Worker(tmp_path_factory.mktemp("workers"), name="shared")
    yield worker
    worker.stop()


def _make_user(username: str, *, staff: bool = False):
    from django.contrib.auth.models import User

    return User.objects.create_user(username, password=f"{username}-password-1", is_staff=staff)


@pytest.fixture
def alice(db):
    return _make_user("alice")


@pytest.fixture
def bob(db):
    return _make_user("bob")


@pytest.fixture
def staff_user(db):
    return _make_user("staffer", staff=True)


@pytest.fixture
def client_for():
    """``client_for(user)``: a DRF test client authenticated with the user's token."""
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    def make(user):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
        return client

    return make


@pytest.fixture(autouse=True)
def _fresh_artifacts(request):
    """Before a transactional test, clear the artefact folders of the shared data directory.

    Such a test starts from an empty, flushed database whose ids start again at 1, so files
    left by earlier tests (``task_classifier_rf_1.pkl``…) would otherwise stand where this
    test's rows point. Caches (exported models) are kept.
    """
    marker = request.node.get_closest_marker("django_db")
    if "transactional_db" in request.fixturenames or (marker is not None and marker.kwargs.get("transaction")):
        import shutil

        from django.conf import settings

        for folder in ("processed", "mlruns"):
            shutil.rmtree(settings.DATA_DIR / folder, ignore_errors=True)
        uploads = settings.DATA_DIR / "uploads"
        if uploads.is_dir():
            for child in uploads.iterdir():
                if child.name != ".incoming":
                    shutil.rmtree(child, ignore_errors=True)
    yield


@pytest.fixture(scope="session")
def megamind_mediapipe(megamind, tmp_path_factory):
    """Megamind through real MediaPipe (pose + hands) with its labels, and a dataset built from it
    (1 s windows every 0.25 s, time blocks 0.5/0.25/0.25): (features path, dataset dir)."""
    from taskml.pipeline.dataset import DatasetSpec, build_dataset
    from taskml.pipeline.detectors import DetectorConfig
    from taskml.pipeline.extraction import extract_features
    from taskml.pipeline.windows import WindowSpec

    folder = tmp_path_factory.mktemp("megamind-mediapipe")
    features = folder / "megamind.parquet"
    extract_features(megamind, features, config=DetectorConfig(kind="mediapipe"), labels=MEGAMIND_LABELS)
    build_dataset(
        [folder / "megamind.parquet"],
        folder / "dataset",
        spec=DatasetSpec(window=WindowSpec(window_sec=1.0, step_sec=0.25), ratios=(0.5, 0.25, 0.25)),
    )
    return folder / "megamind.parquet", folder / "dataset"
