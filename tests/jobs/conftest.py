"""Fixtures for job-machinery tests: workers a test owns (and may kill), and API shortcuts."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.conftest import MEGAMIND_LABELS


@pytest.fixture
def quiet_workers():
    """Every worker already running in this session stops taking jobs for the test's duration."""
    from tests.platform import workers_paused

    with workers_paused() as nodes:
        yield nodes


@pytest.fixture
def start_worker(tmp_path, quiet_workers):
    """``start_worker(name, **env)``: a real worker only this test uses; killed at the end if still up."""
    from tests.platform import Worker

    started: list[Worker] = []

    def start(name: str, **env: str) -> Worker:
        worker = Worker(tmp_path, name=f"{name}-{uuid.uuid4().hex[:6]}", **env)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.kill()


def upload(api, video: Path, *, labels: bool = False, video_id: str | None = None) -> dict:
    with open(video, "rb") as handle:
        # A unique video_id, so file names never meet files another test left in the shared data
        # directory (the database is flushed between tests and ids are reused; files stay).
        fields = {"video": handle, "video_id": f"{video_id or video.stem}-{uuid.uuid4().hex[:6]}"}
        if labels:
            fields["labels_csv"] = open(MEGAMIND_LABELS, "rb")  # noqa: SIM115 - closed below
        try:
            r = api.post("/api/v1/videos/", fields, format="multipart")
        finally:
            if labels:
                fields["labels_csv"].close()
    assert r.status_code == 201, r.content
    return r.json()


def extract(api, video: dict, *, detector: str, sample_rate: int) -> dict:
    """Start an extraction; returns the feature file (with its job) as the API shows it."""
    r = api.post(
        f"/api/v1/videos/{video['id']}/extract/",
        {"detector_type": detector, "sample_rate": sample_rate},
        format="json",
    )
    assert r.status_code == 202, r.content
    return r.json()["feature_file"]


def build_dataset(api, feature_file: dict) -> dict:
    r = api.post(
        "/api/v1/datasets/",
        {"feature_files": [feature_file["filename"]], "window_sec": 1.0, "step_sec": 0.25,
         "train_ratio": 0.5, "val_ratio": 0.25, "test_ratio": 0.25},
        format="json",
    )  # fmt: skip
    assert r.status_code == 202, r.content
    return r.json()
