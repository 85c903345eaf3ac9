"""Create the local admin account once and print its credentials and API token.

Used by `make run`: the first run creates the account with a random password kept in
DATA_DIR/admin-credentials.json (mode 600); later runs print the same credentials. An
account that exists without that file (made by hand) keeps its password.
"""

from __future__ import annotations

import json
import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = "Create the local admin account if missing; print its credentials and API token."

    def add_arguments(self, parser):
        parser.add_argument("--username", default=os.environ.get("TASKML_ADMIN_USER", "admin"))

    def handle(self, *args, username: str, **opts):
        credentials = settings.DATA_DIR / "admin-credentials.json"
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        password = None
        if credentials.exists():
            saved = json.loads(credentials.read_text())
            if saved.get("username") == username:
                password = saved.get("password")
        if user is None:
            password = secrets.token_urlsafe(12)
            user = User.objects.create_superuser(username, email="", password=password)
            credentials.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(credentials, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                json.dump({"username": username, "password": password}, out)
        token = Token.objects.get_or_create(user=user)[0].key
        shown = password or "(unchanged: this account existed before; see `manage.py changepassword`)"
        self.stdout.write(f"admin account  {username} / {shown}")
        self.stdout.write(f"API token      {token}   (send 'Authorization: Token {token}')")
