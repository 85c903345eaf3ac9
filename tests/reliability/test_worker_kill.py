"""A worker SIGKILLed mid-job: the reaper re-queues the job, another worker runs it again from the start.

Real worker processes, Redis broker and PostgreSQL; the outputs are checked on disk, and a
thread watches the output folder through the whole run: no file ever appears under a final
name with content other than the finished file's (half-written files only ever exist under
hidden ``.<name>.<random>.tmp`` names).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from jobs.models import Job
from jobs.services import job_run
from models_app.models import TrainedModel
from taskml import storage
from taskml.pipeline.artifacts import sidecar_paths
from taskml.pipeline.files import sha256_file
from tests.jobs.conftest import build_dataset, extract, upload
from tests.platform import wait_for
from videos.models import FeatureFile

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _never_called(job, reporter):
    raise AssertionError(f"job {job.pk} was run a second time")


def _snapshot(job_id: int) -> dict:
    return Job.objects.filter(pk=job_id).values(
        "status", "attempts", "worker", "started_at", "finished_at", "outputs", "error"
    )[0]


def _running(job_id: int, *, progress: float = 0.0, stage: str | None = None) -> Job | None:
    job = Job.objects.get(pk=job_id)
    assert not job.is_terminal, f"job ended before it could be caught running: {job.status} {job.error}"
    if job.status == Job.Status.RUNNING and job.progress > progress and (stage is None or job.stage == stage):
        return job
    return None


def _terminal(job_id: int) -> Job | None:
    job = Job.objects.get(pk=job_id)
    return job if job.is_terminal else None


def _temporaries(directory: Path) -> list[Path]:
    return sorted(directory.glob(".*.tmp")) + sorted(directory.glob(".*.old-*"))


class FolderWatch:
    """Polls a folder every few milliseconds and remembers each visible file's sha256 each time it changes."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.seen: dict[str, set[str]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        stamps: dict[str, tuple] = {}
        while not self._stop.wait(0.02):
            if not self.folder.is_dir():
                continue
            for path in self.folder.iterdir():
                if path.name.startswith("."):
                    continue  # temporaries: hidden, never read by anyone
                try:
                    stat = path.stat()
                    stamp = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
                    if stamps.get(path.name) != stamp:
                        stamps[path.name] = stamp
                        self.seen.setdefault(path.name, set()).add(sha256_file(path))
                except FileNotFoundError:
                    continue

    def stop(self) -> dict[str, set[str]]:
        self._stop.set()
        self._thread.join(timeout=10)
        return self.seen

    def assert_only_final(self, expected: dict[str, str]) -> None:
        """Every visible file seen had exactly its final content, and is one of ``expected`` (name → sha256)."""
        seen = self.stop()
        assert seen, "the watcher never saw a file"
        for name, digests in seen.items():
            assert name in expected, f"{name} appeared in {self.folder}"
            assert digests == {expected[name]}, f"{name} was visible with other content: {digests}"


def test_second_delivery_while_running_and_after_success_does_nothing_and_killed_extraction_recovers(
    alice, client_for, megamind, start_worker
):
    api = client_for(alice)
    first = start_worker("first")
    video = upload(api, megamind, video_id="mega")
    # Every frame through MediaPipe: ten-odd seconds on this machine, long enough to catch it midway.
    feature_file = extract(api, video, detector="mediapipe", sample_rate=1)
    job_id = feature_file["job"]["id"]
    watch = FolderWatch(storage.absolute(FeatureFile.objects.get(pk=feature_file["id"]).path).parent)

    job = wait_for(lambda: _running(job_id, progress=0.1), timeout=120, what="the extraction to pass 10 %")
    assert job.worker == first.nodename
    assert job.stage == "extracting"

    # A second delivery of the message while the job runs with a fresh heartbeat: not run again.
    before = _snapshot(job_id)
    assert job_run(job_id=job_id, handler=_never_called, worker="intruder@test") is None
    assert _snapshot(job_id) == before

    first.kill()
    output = storage.absolute(FeatureFile.objects.get(pk=feature_file["id"]).path)
    assert not output.exists(), "a killed extraction left a file under the final name"
    assert FeatureFile.objects.get(pk=feature_file["id"]).status == "running"
    # What a worker killed while writing the Parquet file would leave beside it.
    output.parent.mkdir(parents=True, exist_ok=True)
    half_written = output.parent / f".{output.name}.dead1234.tmp"
    half_written.write_bytes(b"PAR1 half a file")

    second = start_worker("second")
    job = wait_for(lambda: _terminal(job_id), timeout=180, what="the re-queued extraction to finish")
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.attempts == 2
    assert job.worker == second.nodename
    assert job.progress == 1.0

    rows = FeatureFile.objects.filter(video_id=video["id"])
    assert rows.count() == 1
    row = rows.get()
    assert row.status == "succeeded" and row.job_id == job_id
    assert row.num_frames in (269, 270)
    assert output.is_file()
    assert row.sha256 == sha256_file(output)
    assert row.size_bytes == output.stat().st_size
    assert job.outputs["feature_file"] == row.filename
    assert _temporaries(output.parent) == []
    watch.assert_only_final({output.name: row.sha256})

    # The message delivered once more (late acknowledgement, a reaper race): nothing changes.
    before = _snapshot(job_id)
    assert job_run(job_id=job_id, handler=_never_called, worker="intruder@test") is None
    assert _snapshot(job_id) == before
    assert sha256_file(output) == row.sha256
    second.stop()


def test_killed_training_is_recovered(alice, client_for, megamind, start_worker):
    api = client_for(alice)
    first = start_worker("first")
    video = upload(api, megamind, labels=True, video_id="mega")
    feature_file = extract(api, video, detector="mediapipe", sample_rate=2)
    wait_for(lambda: _terminal(feature_file["job"]["id"]), timeout=180, what="the extraction")
    dataset = build_dataset(api, feature_file)
    wait_for(lambda: _terminal(dataset["job"]["id"]), timeout=180, what="the dataset build")
    assert Job.objects.get(pk=dataset["job"]["id"]).status == Job.Status.SUCCEEDED

    # Many trees on a few dozen windows: several seconds of fitting to catch it in.
    r = api.post("/api/v1/models/", {"dataset": dataset["id"], "model_type": "rf", "n_estimators": 6000}, format="json")
    assert r.status_code == 202, r.content
    model_id, job_id = r.json()["id"], r.json()["job"]["id"]
    watch = FolderWatch(storage.absolute(TrainedModel.objects.get(pk=model_id).path).parent)
    job = wait_for(lambda: _running(job_id, stage="training"), timeout=120, what="training to start")
    time.sleep(1.0)  # well inside the fit
    assert _running(job_id, stage="training")
    assert job.worker == first.nodename
    first.kill()

    model = TrainedModel.objects.get(pk=model_id)
    artifact = storage.absolute(model.path)
    assert not artifact.exists(), "a killed training left an artifact under the final name"
    assert model.status == "running"

    second = start_worker("second")
    job = wait_for(lambda: _terminal(job_id), timeout=180, what="the re-queued training to finish")
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.attempts == 2
    assert job.worker == second.nodename

    assert TrainedModel.objects.filter(dataset_id=dataset["id"]).count() == 1
    model.refresh_from_db()
    assert model.status == "succeeded"
    assert artifact.is_file()
    assert model.sha256 == sha256_file(artifact)
    assert 0.0 <= model.accuracy <= 1.0
    assert _temporaries(artifact.parent) == []
    watch.assert_only_final({path.name: sha256_file(path) for path in artifact.parent.iterdir() if path.is_file()})
    assert {artifact.name, *(p.name for p in sidecar_paths(artifact))} <= set(watch.seen)
    second.stop()
