"""Settings for the test suite: real PostgreSQL and Redis, files in a throw-away data directory.

The defaults point at the services this machine runs (and `.ci/run` starts); set
DATABASE_URL / REDIS_URL to use others. Broker and channel layer use their own Redis
database so a developer's running worker never takes the tests' jobs.
"""

import os
import tempfile

# One id per test session, inherited by the worker processes the tests start: its own
# database (test_taskml_<id>) and its own broker keys, so sessions running at once
# (two checkouts, a CI run beside a developer) never share jobs or tables.
RUN_ID = os.environ.setdefault("TASKML_TEST_RUN", f"{os.getpid()}")
os.environ.setdefault("DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/taskml_{RUN_ID}")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
os.environ.setdefault("TASKML_DATA_DIR", tempfile.mkdtemp(prefix="taskml-test-"))
# Unset: the default pretrained COCO SSD (scripts/fetch_models.sh, fetched by tests/conftest.py),
# real objects and faster than an untrained YOLO; tests that need YOLO name it (tests.conftest.YOLO_SPEC).
os.environ.setdefault("TASKML_YOLO_MODEL", "")
os.environ.setdefault("SECRET_KEY", "test-only-not-secret")
os.environ.setdefault("TASKML_JOB_HEARTBEAT_SECONDS", "1")
os.environ.setdefault("TASKML_JOB_STALE_SECONDS", "6")

from taskml.settings import *  # noqa: E402,F403
from taskml.settings import CHANNEL_LAYERS  # noqa: E402

CELERY_BROKER_TRANSPORT_OPTIONS = {
    **globals().get("CELERY_BROKER_TRANSPORT_OPTIONS", {}),  # noqa: F405
    "global_keyprefix": f"t{RUN_ID}:",
}
for _alias in ("default", "live"):
    CHANNEL_LAYERS[_alias].setdefault("CONFIG", {})
    if "hosts" in CHANNEL_LAYERS[_alias]["CONFIG"]:
        CHANNEL_LAYERS[_alias]["CONFIG"]["prefix"] = f"t{RUN_ID}"

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests
