"""Fixtures for fault tests: an app stack on private PostgreSQL and Redis that tests may break."""

from __future__ import annotations

import pytest

from tests.jobs.conftest import quiet_workers, start_worker  # noqa: F401 - fixtures reused here


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """Private PostgreSQL + Redis (migrated), a private data directory; no web server or worker yet."""
    from tests.reliability.stack import AppStack

    app = AppStack(tmp_path_factory.mktemp("stack"))
    yield app
    app.close()
