"""``ws/jobs/``: a user's job updates (progress, stage, status) pushed to their pages.

Each update is ``{"stage": "job", "job": {...}}``: ``stage`` names the message's kind, as on every
socket of the site, and ``job`` is the job as ``jobs.services.job_announce`` read it (``id``,
``kind``, ``target_id``, ``status``, ``stage``, ``progress``, ``error``, ``retry_of_id``,
``owner_id``), its own ``stage`` untouched. The job's fields are also spread at the top level, its
stage there as ``job_stage``: the shape clients written before ``job`` existed read.
"""

from __future__ import annotations

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from jobs.services import job_group


class JobsConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close()
            return
        self.group = job_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def job_update(self, event):
        job = event["job"]
        await self.send_json({**job, "job_stage": job["stage"], "stage": "job", "job": job})

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        # Anything a client sends (JSON or not, text or binary, any size) gets the same answer;
        # decoding it first would let a malformed message crash the connection.
        await self.send_json({"stage": "alert", "message": "this socket only sends job updates"})
