"""Websocket origin checks and credentials on ws/jobs/ (ws/streams/ has its own end-to-end tests in
tests/streaming/test_live_auth.py), in-process through the real ASGI application."""

from __future__ import annotations

import asyncio

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from tests.security.ws import Socket, handshake

pytestmark = pytest.mark.django_db(transaction=True)
SITE = (b"origin", b"http://localhost:8001")


def cookie_for(user) -> tuple[bytes, bytes]:
    browser = Client()
    browser.force_login(user)
    return (b"cookie", f"sessionid={browser.cookies['sessionid'].value}".encode())


def test_jobs_socket_checks_origin_and_credentials(alice):
    token = Token.objects.create(user=alice).key
    cookie = cookie_for(alice)
    cases = {
        # (path, headers): accepted?
        ("ws/jobs/", (SITE, cookie)): True,  # a page of this site with its session
        (f"ws/jobs/?token={token}", ()): True,  # a script: no Origin, a token
        ("ws/jobs/", ((b"authorization", f"Token {token}".encode()),)): True,
        (f"ws/jobs/?token={token}", (SITE,)): True,
        ("ws/jobs/", ((b"origin", b"http://evil.example"), cookie)): False,  # another site riding the cookie
        (f"ws/jobs/?token={token}", ((b"origin", b"http://evil.example"),)): False,
        ("ws/jobs/", ((b"origin", b"null"), cookie)): False,  # a sandboxed frame
        ("ws/jobs/", (cookie,)): False,  # a cookie without Origin is not a script's handshake
        ("ws/jobs/", (SITE,)): False,  # nobody
        (f"ws/jobs/?token={'0' * 40}", ()): False,
        ("ws/jobs/", (SITE, (b"cookie", b"sessionid=forged"))): False,
    }
    for (path, headers), accepted in cases.items():
        assert asyncio.run(handshake(path, list(headers))) is accepted, (path, headers)


def test_an_inactive_users_token_is_refused(alice):
    token = Token.objects.create(user=alice).key
    alice.is_active = False
    alice.save()
    assert asyncio.run(handshake(f"ws/jobs/?token={token}")) is False


def test_jobs_socket_delivers_only_the_users_own_updates(alice, bob):
    from channels.layers import get_channel_layer

    from jobs.services import job_group

    alice_token, bob_token = (Token.objects.create(user=u).key for u in (alice, bob))

    async def main():
        mine, theirs = Socket(f"ws/jobs/?token={alice_token}"), Socket(f"ws/jobs/?token={bob_token}")
        assert await mine.connect() and await theirs.connect()
        try:
            job = {"id": 7, "stage": "extracting", "status": "running", "progress": 0.5}
            await get_channel_layer().group_send(job_group(alice.pk), {"type": "job.update", "job": job})
            got = await mine.receive()
            assert got["stage"] == "job" and got["job"] == job  # the job as announced, its own stage kept
            assert got["id"] == 7 and got["job_stage"] == "extracting"  # the flat shape earlier clients read
            assert await theirs.app.receive_nothing(timeout=1.5)
        finally:
            await mine.close()
            await theirs.close()

    asyncio.run(main())
