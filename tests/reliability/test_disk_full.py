"""The data disk full while a worker writes features or a model.

The test mounts small tmpfs filesystems over the private data directory's ``processed`` and
``mlruns`` folders, fills one up, and runs a job that writes there: the job fails saying "no
space left on device" (error kind ``disk_full``), no partial file is left, and what earlier jobs
wrote is unchanged (same sha256). Once space is freed, a retry succeeds.
"""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path

import pytest
import requests

from taskml.pipeline.files import sha256_file

pytestmark = [pytest.mark.slow]


def _mount_tmpfs(path: Path, size: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)


def _fill(folder: Path) -> Path:
    """Write a file until the filesystem is full; returns it (delete it to free the space)."""
    filler = folder / "filler.bin"
    with open(filler, "wb") as out, contextlib.suppress(OSError):
        while True:
            out.write(b"\0" * 65536)
            out.flush()
    subprocess.run(["sync"], check=False)
    return filler


def _files(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden temporaries included) with its sha256."""
    return {str(p.relative_to(folder)): sha256_file(p) for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def disk(stack, megamind):
    mounts = [stack.data_dir / "processed", stack.data_dir / "mlruns"]
    for mount in mounts:
        _mount_tmpfs(mount, "8m")
    try:
        stack.start_server()
        stack.start_worker("disk")
        stack.alice = stack.user("disk-alice")
        stack.trained = stack.train_model(stack.alice, megamind)
        yield stack
    finally:
        for worker in stack.workers.values():
            worker.kill()
        stack.workers.clear()
        for mount in mounts:
            subprocess.run(["umount", "-l", str(mount)], check=False)


def _job_failed_disk_full(app, job_id: int) -> dict:
    job = app.wait_job(job_id, timeout=180)
    assert job["status"] == "failed", job
    assert job["error_kind"] == "disk_full", job
    assert job["error"].startswith("no space left on device"), job
    return job


def test_features_on_a_full_disk_fail_clearly_and_leave_earlier_files_intact(disk):
    processed = disk.data_dir / "processed"
    before = _files(processed)
    first = disk.trained["feature_file"]
    row = disk.sql("SELECT path, sha256 FROM videos_featurefile WHERE id = %s", (first["id"],))[0]
    assert sha256_file(disk.data_dir / row[0]) == row[1]

    filler = _fill(processed)
    second = disk.extract(disk.alice, disk.trained["video"], sample_rate=1)
    job = _job_failed_disk_full(disk, second["job"]["id"])
    assert job["error"].endswith(f"({disk.data_dir}): free space and retry"), job["error"]
    print("disk-full error:", job["error"])
    status, path = disk.sql("SELECT status, path FROM videos_featurefile WHERE id = %s", (second["id"],))[0]
    assert status == "failed"
    assert not (disk.data_dir / path).exists()
    filler.unlink()
    assert _files(processed) == before, "a partial file was left, or an earlier file changed"

    r = requests.post(f"{disk.http}/api/v1/jobs/{second['job']['id']}/retry/", headers=disk.alice, timeout=30)
    assert r.status_code in (200, 201, 202), r.text
    assert disk.wait_job(r.json()["id"], timeout=180)["status"] == "succeeded"
    assert sha256_file(disk.data_dir / row[0]) == row[1]


def test_a_model_on_a_full_disk_fails_clearly_and_leaves_earlier_models_intact(disk):
    models = disk.data_dir / "mlruns"
    before = _files(models)
    assert any(name.endswith(".pkl") for name in before), before
    model_id = disk.trained["model"]["id"]
    dataset_id = disk.sql("SELECT dataset_id FROM models_app_trainedmodel WHERE id = %s", (model_id,))
    filler = _fill(models)
    r = requests.post(
        f"{disk.http}/api/v1/models/", headers=disk.alice,
        json={"dataset": dataset_id[0][0], "model_type": "rf", "n_estimators": 30}, timeout=60,
    )  # fmt: skip
    assert r.status_code == 202, r.text
    _job_failed_disk_full(disk, r.json()["job"]["id"])
    assert disk.sql("SELECT status FROM models_app_trainedmodel WHERE id = %s", (r.json()["id"],))[0][0] == "failed"
    filler.unlink()
    assert _files(models) == before, "a partial model was left, or an earlier model changed"
