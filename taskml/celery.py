"""The Celery application; tasks live in each app's tasks.py, one queue per kind of job."""

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskml.settings")

app = Celery("taskml")
app.config_from_object("django.conf:settings", namespace="CELERY")
# A pool process whose memory has grown past this (after a task ends) is replaced by a fresh one.
# Native detector libraries keep part of what each live session or extraction allocated; bench/load.py
# measured a live worker's process growing by 30-140 MB per session over its first sessions. The same
# setting is what one job may grow its worker by (jobs.memory; settings.TASKML_WORKER_MAX_MEMORY_MB).
app.conf.worker_max_memory_per_child = int(os.environ.get("TASKML_WORKER_MAX_MEMORY_MB", "3072")) * 1024  # KiB
app.conf.task_queues = [Queue(name) for name in ("default", "extraction", "datasets", "training", "live")]
app.conf.task_routes = {
    "videos.*": {"queue": "extraction"},
    "datasets.*": {"queue": "datasets"},
    "models_app.*": {"queue": "training"},
    "learning.*": {"queue": "training"},
    "retraining.*": {"queue": "training"},
    "streaming.*": {"queue": "live"},
}
if app.conf.broker_url.startswith("sqla+"):
    # The embedded broker polls its SQLite table; the default second adds up to a second
    # before every job starts. Ten polls a second cost nothing measurable.
    from kombu.transport import sqlalchemy as sqla_transport

    sqla_transport.Transport.polling_interval = 0.1
app.autodiscover_tasks()
app.autodiscover_tasks(["jobs"], related_name="worker")
