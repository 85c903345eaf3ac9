"""Deleting a user: everything they own goes through the owning app's delete service.

Foreign keys between the apps PROTECT (a model's dataset, a dataset's feature files, a live
session's model), and a plain row delete would leave the files behind, so the user's objects are
deleted top-down through the same services the API and admin use, which also remove stored
files once the transaction commits. What is left (jobs, label spans, rows of apps without
files) goes by the database's cascade from the user row.
"""

from __future__ import annotations

import shutil

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import ProtectedError

from datasets.models import Dataset
from datasets.services import dataset_delete
from jobs.models import Job
from jobs.services import job_cancel
from models_app.models import TrainedModel
from models_app.services import trained_model_delete
from streaming.models import LiveSession
from taskml import storage
from taskml.domain import Conflict
from videos.models import FeatureFile, Video
from videos.services import feature_file_delete, video_delete


def user_owned_objects(*, user) -> list:
    """What deleting ``user`` removes through services, dependents before what they depend on."""
    from learning.models import Ablation, LabellingRound
    from retraining.models import RetrainPolicy

    return [
        *RetrainPolicy.objects.filter(owner=user),
        *LabellingRound.objects.filter(owner=user),
        *Ablation.objects.filter(owner=user),
        *LiveSession.objects.filter(owner=user),
        *TrainedModel.objects.filter(owner=user),
        *Dataset.objects.filter(owner=user),
        *FeatureFile.objects.filter(owner=user),
        *Video.objects.filter(owner=user),
    ]


@transaction.atomic
def user_delete(*, user) -> None:
    """Delete ``user``, their objects and their files; other users' objects are untouched.

    A dataset of someone else's built from this user's feature files goes too (its sources are
    gone), exactly as when the user deletes those files with ``cascade``.
    """
    from learning.models import Ablation, LabellingRound
    from learning.services import ablation_delete, labelling_round_delete
    from retraining.models import RetrainPolicy
    from retraining.services import retrain_policy_delete

    user = get_user_model().objects.select_for_update().get(pk=user.pk)
    for policy in RetrainPolicy.objects.filter(owner=user):
        retrain_policy_delete(policy=policy)  # also its beat schedule, which no foreign key removes
    for round_ in LabellingRound.objects.filter(owner=user):
        labelling_round_delete(round_=round_)
    for ablation in Ablation.objects.filter(owner=user):
        ablation_delete(ablation=ablation)
    for session in LiveSession.objects.filter(owner=user, status__in=LiveSession.ACTIVE):
        # ask the worker to stop; the row goes now, so the runner finds it gone and ends
        LiveSession.objects.filter(pk=session.pk).update(stop_requested=True)
    # sessions of anyone that use this user's models would block the models' deletion
    LiveSession.objects.filter(trained_model__owner=user).delete()
    LiveSession.objects.filter(owner=user).delete()
    for model in TrainedModel.objects.filter(owner=user):
        trained_model_delete(trained_model=model)
    for dataset in Dataset.objects.filter(owner=user):
        dataset_delete(dataset=dataset, cascade=True)
    for feature_file in FeatureFile.objects.filter(owner=user):
        feature_file_delete(feature_file=feature_file, cascade=True)
    for video in Video.objects.filter(owner=user):
        video_delete(video=video, cascade=True)
    for job in Job.objects.filter(owner=user).exclude(status__in=Job.TERMINAL):
        job_cancel(job=job)
    folders = [storage.uploads_dir(user.pk), storage.features_dir(user.pk)]
    try:
        user.delete()
    except ProtectedError as exc:
        names = ", ".join(sorted({type(obj)._meta.verbose_name_plural for obj in exc.protected_objects}))
        raise Conflict("user", f"{user.username} still owns {names} that cannot be deleted with them") from None
    transaction.on_commit(lambda: [shutil.rmtree(folder, ignore_errors=True) for folder in folders])
