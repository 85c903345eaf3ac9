from __future__ import annotations

from django.db.models import QuerySet

from jobs.models import JobStatus
from taskml import storage
from taskml.domain import NotFound
from taskml.ownership import visible_to
from videos.models import FeatureFile, LabelSpan, Video


def video_list(*, user) -> QuerySet[Video]:
    return visible_to(Video.objects.all(), user)


def video_get(*, user, pk: int | None = None, stored_name: str | None = None, field: str = "video") -> Video:
    videos = video_list(user=user)
    if stored_name is not None:
        storage.check_name(stored_name, field=field)
        found = videos.filter(stored_name=stored_name).first()
    else:
        found = videos.filter(pk=pk).first()
    if found is None:
        raise NotFound(field, f"no video {stored_name or pk!r} of yours")
    return found


def label_span_list(*, user) -> QuerySet[LabelSpan]:
    spans = LabelSpan.objects.select_related("video")
    if not user.is_authenticated:
        return spans.none()
    return spans if user.is_staff else spans.filter(video__owner=user)


def feature_file_list(*, user, ready_only: bool = False) -> QuerySet[FeatureFile]:
    files = visible_to(FeatureFile.objects.select_related("video"), user)
    return files.filter(status=JobStatus.SUCCEEDED) if ready_only else files


def feature_file_get(*, user, filename: str, field: str = "filename") -> FeatureFile:
    storage.check_name(filename, field=field)
    found = feature_file_list(user=user).filter(filename=filename).order_by("-id").first()
    if found is None:
        raise NotFound(field, f"no feature file {filename!r} of yours")
    return found


def feature_file_latest(*, video: Video, detector: str = "") -> FeatureFile | None:
    """The video's newest extracted feature file made with ``detector`` (any detector when blank)."""
    files = video.feature_files.filter(status=JobStatus.SUCCEEDED)
    if detector:
        files = files.filter(detector=detector)
    return files.order_by("-created_at", "-id").first()
