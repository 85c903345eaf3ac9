"""What every worker does besides running tasks: re-queue jobs whose worker died.

A thread in the worker's main process checks for running jobs whose heartbeat went
stale (a worker killed mid-job) and puts them back on their queue; the job row's claim
makes sure only one worker runs each. Live sessions whose worker died are marked failed
(a live moment cannot be re-run).
"""

from __future__ import annotations

import logging
import threading

from celery.signals import worker_ready, worker_shutdown
from django.conf import settings
from django.db import connection

log = logging.getLogger(__name__)
_stop = threading.Event()


def _reap_forever() -> None:
    from jobs.services import job_requeue_stale
    from streaming.services import live_session_fail_stale

    interval = max(1.0, settings.TASKML_JOB_STALE_SECONDS / 3)
    while not _stop.is_set():
        try:
            job_requeue_stale()
            live_session_fail_stale()
        except Exception:  # the database may be restarting; try again on the next round
            log.exception("stale-job check failed")
        finally:
            # No connection stays open between rounds: the pool forks new children from this
            # process (after one dies), and a child must not inherit a socket this thread uses.
            connection.close()
        _stop.wait(interval)


@worker_ready.connect
def start_reaper(**_kwargs) -> None:
    threading.Thread(target=_reap_forever, name="taskml-job-reaper", daemon=True).start()


@worker_shutdown.connect
def stop_reaper(**_kwargs) -> None:
    _stop.set()
