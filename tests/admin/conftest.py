"""Admin test fixtures: a superuser and a test client logged in as them."""

from __future__ import annotations

import pytest
from django.test import Client


@pytest.fixture
def superuser(db):
    from django.contrib.auth.models import User

    return User.objects.create_superuser("root", "root@example.com", "root-password-1")


@pytest.fixture
def admin_web(superuser) -> Client:
    client = Client()
    client.force_login(superuser)
    return client
