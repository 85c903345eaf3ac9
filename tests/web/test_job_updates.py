"""The pages follow jobs over ws/jobs/ (app.js's followJobs/liveList): an update pushed through the
channel layer, shaped {"stage": "job", "job": {...}}, replaces the row it concerns with the job's
own stage and progress, with no reload of the list and no client-side reshaping of the message."""

from __future__ import annotations

import pytest
from django.utils import timezone

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


@pytest.fixture(scope="module")
def building_dataset(web_user, django_db_blocker):
    """A dataset of web_user's whose (fake) build job runs: no worker ever sees the job. Committed
    outside the test's transaction, as the package's fixtures are, so the server sees it."""
    from datasets.models import Dataset
    from jobs.models import Job

    with django_db_blocker.unblock():
        job = Job.objects.create(
            owner=web_user.user, kind=Job.Kind.DATASET, status=Job.Status.RUNNING, stage="reading", progress=0.1,
            started_at=timezone.now(), heartbeat_at=timezone.now(),
        )  # fmt: skip
        dataset = Dataset.objects.create(
            owner=web_user.user, status="running", job=job, window_sec=2.0, step_sec=0.5, train_ratio=0.7,
            val_ratio=0.15, test_ratio=0.15,
        )  # fmt: skip
        Job.objects.filter(pk=job.pk).update(target_id=dataset.pk)
    yield dataset, job
    with django_db_blocker.unblock():
        dataset.delete()
        job.delete()


def _announce(job, dataset, **changes) -> None:
    """What jobs.services.job_announce sends, with changes the database does not hold: only the
    socket can have brought them to the page."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from channels.layers import get_channel_layer

    from jobs.services import job_group

    payload = {
        "id": job.pk, "owner_id": job.owner_id, "kind": "dataset", "status": "running", "stage": "reading",
        "progress": 0.1, "error": "", "target_id": dataset.pk, "retry_of_id": None, **changes,
    }  # fmt: skip
    send = get_channel_layer().group_send(job_group(job.owner_id), {"type": "job.update", "job": payload})
    with ThreadPoolExecutor(1) as pool:  # Playwright's loop runs in this thread: send from another
        pool.submit(asyncio.run, send).result(timeout=10)


def test_a_job_update_replaces_its_row_with_the_jobs_own_stage(logged_in, building_dataset, shot):
    dataset, job = building_dataset
    page = logged_in
    page.goto("/datasets/")
    row = page.locator(f'tr[data-dataset-id="{dataset.pk}"]')
    bar = row.locator(".status-cell progress")
    assert bar.get_attribute("aria-label") == "reading 10%"  # the list as the API gave it
    page.wait_for_timeout(500)  # the page's socket has joined its group
    _announce(job, dataset, stage="windowing", progress=0.42)
    page.wait_for_function(
        """id => document.querySelector(`tr[data-dataset-id="${id}"] .status-cell progress`)
                   ?.getAttribute("aria-label") === "windowing 42%" """,
        arg=dataset.pk,
        timeout=4_000,  # sooner than the page's 5 s poll, which would read "reading" from the database
    )
    assert "windowing" in row.locator(".status-cell").inner_text()
    shot("row-updated-over-the-socket")
    assert not page.problems, page.problems
