"""Deployment settings come from the environment: `check --deploy` passes in production, the secret
key is required there and never embedded, and the HTTPS protections are really sent."""

from __future__ import annotations

import json
import os
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # each case starts Django in a fresh process

ROOT = Path(__file__).resolve().parents[2]


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The process environment without the test suite's settings and secrets."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"SECRET_KEY", "DJANGO_SECRET_KEY", "DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "DEBUG"}
        and not k.startswith("TASKML_")
    }
    env.update({"TASKML_DATA_DIR": str(tmp_path / "data"), "DJANGO_SETTINGS_MODULE": "taskml.settings", **extra})
    return env


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)


def production(tmp_path: Path, **extra: str) -> dict[str, str]:
    return clean_env(
        tmp_path,
        TASKML_PRODUCTION="1",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="taskml.example.org,localhost",
        **extra,
    )


def test_check_deploy_passes_in_production(tmp_path):
    r = run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], production(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "no issues" in r.stdout
    # behind a proxy that redirects to HTTPS itself, still clean
    env = production(tmp_path, TASKML_BEHIND_PROXY="1", TASKML_SSL_REDIRECT="0")
    r = run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)
    assert r.returncode == 0, r.stdout + r.stderr


def test_check_deploy_would_catch_a_weak_setup(tmp_path):
    env = production(tmp_path, TASKML_HSTS_SECONDS="0", TASKML_SECURE_COOKIES="0", TASKML_DEBUG="1")
    r = run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)
    assert r.returncode != 0
    for code in ("security.W004", "security.W012", "security.W016", "security.W018"):
        assert code in r.stderr + r.stdout, code


def test_production_without_a_secret_key_refuses_to_start(tmp_path):
    env = production(tmp_path)
    del env["DJANGO_SECRET_KEY"]
    r = run([sys.executable, "manage.py", "check"], env)
    assert r.returncode != 0
    assert "SECRET_KEY (or DJANGO_SECRET_KEY) must be set when TASKML_PRODUCTION=1" in r.stderr
    assert not (tmp_path / "data" / ".secret_key").exists()  # no key was made up


SETTINGS_PROBE = """
import json, django
django.setup()
from django.conf import settings
from django.test import Client
c = Client(HTTP_HOST="localhost")
plain = c.get("/accounts/login/")
secure = c.get("/accounts/login/", secure=True)
print(json.dumps({
    "secret": settings.SECRET_KEY, "debug": settings.DEBUG,
    "plain": [plain.status_code, plain.get("Location", "")],
    "secure": [secure.status_code, secure.get("Strict-Transport-Security", ""),
               secure.cookies["csrftoken"]["secure"] if "csrftoken" in secure.cookies else None],
}))
"""


def probe(env: dict[str, str]) -> dict:
    r = run([sys.executable, "-c", SETTINGS_PROBE], env)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_production_sends_hsts_secure_cookies_and_redirects_to_https(tmp_path):
    env = production(tmp_path)
    seen = probe(env)
    assert seen["secret"] == env["DJANGO_SECRET_KEY"] and seen["debug"] is False
    assert seen["plain"] == [301, "https://localhost/accounts/login/"]
    status, hsts, secure_cookie = seen["secure"]
    assert status == 200 and hsts == "max-age=31536000; includeSubDomains; preload" and secure_cookie is True
    # behind a proxy: X-Forwarded-Proto is trusted only when told so
    assert probe(production(tmp_path, TASKML_BEHIND_PROXY="1", TASKML_SSL_REDIRECT="0"))["plain"][0] == 200


def test_local_runs_keep_working_with_a_generated_key(tmp_path):
    env = clean_env(tmp_path)
    first, second = probe(env), probe(env)
    key_file = tmp_path / "data" / ".secret_key"
    assert first["secret"] == second["secret"] == key_file.read_text().strip()
    assert len(first["secret"]) >= 50 and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert first["plain"][0] == 200 and first["secure"][1] == ""  # no HTTPS rules on a local http run
    # the key is per installation, never a constant in the code
    assert probe(clean_env(tmp_path / "other"))["secret"] != first["secret"]
    # an explicit key wins, under either name
    assert probe(clean_env(tmp_path, SECRET_KEY="k" * 60))["secret"] == "k" * 60


@pytest.mark.parametrize("name", ["TASKML_DEBUG", "DEBUG"])
def test_debug_comes_only_from_the_environment(tmp_path, name):
    assert probe(clean_env(tmp_path))["debug"] is False
    assert probe(clean_env(tmp_path, **{name: "1"}))["debug"] is True
