"""What every worker does besides running tasks: re-queue jobs whose worker died, or whose
message the broker lost.

A thread in the worker's main process checks for running jobs whose heartbeat went
stale (a worker killed mid-job) and puts them back on their queue; the job row's claim
makes sure only one worker runs each. Apps above jobs add their own checks (jobs.registry's
``reaper_checks``): the streaming app fails live sessions whose worker died (a live moment
cannot be re-run).

It also watches the broker: when Redis comes back as a new instance (it restarted and,
without persistence, lost every queued message), pending jobs are sent again, and the
registered checks send their own pending work (live sessions) again.
A message that survived only makes a second delivery, which the claim ignores.
"""

from __future__ import annotations

import logging
import threading

from celery.signals import worker_process_init, worker_ready, worker_shutdown
from django.conf import settings
from django.db import connection

from jobs.registry import reaper_checks

log = logging.getLogger(__name__)
_stop = threading.Event()


class BrokerWatch:
    """Tells when the Redis broker is a different instance than last time it answered."""

    def __init__(self, url: str):
        self.url = url if url.startswith(("redis://", "rediss://")) else ""
        self.client = None
        self.run_id: str | None = None

    def restarted(self) -> bool:
        if not self.url:
            return False
        import redis

        try:
            if self.client is None:
                self.client = redis.Redis.from_url(self.url, socket_timeout=2, socket_connect_timeout=2)
            run_id = self.client.info("server")["run_id"]
        except redis.RedisError:  # down right now: decide once it answers again
            return False
        before, self.run_id = self.run_id, run_id
        if before is not None and before != run_id:
            log.warning("the broker restarted (Redis run_id %s → %s)", before, run_id)
            return True
        return False


def _reap_forever() -> None:
    from jobs.services import job_requeue_pending, job_requeue_stale
    from taskml.celery import app

    interval = max(1.0, settings.TASKML_JOB_STALE_SECONDS / 3)
    broker = BrokerWatch(app.conf.broker_url)
    resend = False
    while not _stop.is_set():
        try:
            resend = broker.restarted() or resend
            if resend:
                job_requeue_pending()
                for check in reaper_checks.values():
                    if check.after_broker_restart is not None:
                        check.after_broker_restart()
                resend = False
            job_requeue_stale()
            for check in reaper_checks.values():
                if check.every_round is not None:
                    check.every_round()
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


@worker_process_init.connect
def mark_pool_process(**_kwargs) -> None:
    """Jobs run in this process: a job the memory watch cannot stop may end it (jobs.memory); its
    malloc arenas are capped (TASKML_MALLOC_ARENAS)."""
    from jobs.memory import IN_POOL, limit_malloc_arenas

    IN_POOL.set()
    limit_malloc_arenas(settings.TASKML_MALLOC_ARENAS)
