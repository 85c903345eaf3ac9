"""The Celery application; tasks live in each app's tasks.py, one queue per kind of job."""

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskml.settings")

app = Celery("taskml")
app.config_from_object("django.conf:settings", namespace="CELERY")
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
