"""Deleting a user: everything they own goes through the deletion orchestrator.

Foreign keys between the apps PROTECT (a model's dataset, a dataset's feature files, a live
session's model), and a plain row delete would leave the files behind, so the user's objects are
deleted through taskml.deletion, which calls each owning app's delete service (dependents
first) and removes stored files once the transaction commits. What is left (jobs, label spans,
rows of apps without files) goes by the database's cascade from the user row.
"""

from __future__ import annotations

import shutil

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import ProtectedError

from jobs.models import Job
from jobs.services import job_cancel
from streaming.selectors import live_sessions_using_models_of
from taskml import deletion, storage
from taskml.domain import Conflict


def user_owned_objects(*, user) -> list:
    """What deleting ``user`` removes through services, dependents before what they depend on.

    Anyone's live sessions running one of the user's models come first: the models go, so the
    sessions cannot go on (their runners find their rows gone and end).
    """
    return list(dict.fromkeys([*live_sessions_using_models_of(user=user), *deletion.owned_by(user)]))


@transaction.atomic
def user_delete(*, user) -> None:
    """Delete ``user``, their objects and their files; other users' objects are untouched.

    A dataset of someone else's built from this user's feature files goes too (its sources are
    gone), exactly as when the user deletes those files with ``cascade``.
    """
    user = get_user_model().objects.select_for_update().get(pk=user.pk)
    deletion.delete_all(user_owned_objects(user=user), cascade=True)
    for job in Job.objects.filter(owner=user).exclude(status__in=Job.TERMINAL):
        job_cancel(job=job)
    folders = [storage.uploads_dir(user.pk), storage.features_dir(user.pk)]
    try:
        user.delete()
    except ProtectedError as exc:
        names = ", ".join(sorted({type(obj)._meta.verbose_name_plural for obj in exc.protected_objects}))
        raise Conflict("user", f"{user.username} still owns {names} that cannot be deleted with them") from None
    transaction.on_commit(lambda: [shutil.rmtree(folder, ignore_errors=True) for folder in folders])
