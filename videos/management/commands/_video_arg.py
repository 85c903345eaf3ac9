"""How the label commands find a video: its id, stored name or video_id (unique)."""

from __future__ import annotations

from django.core.management.base import CommandError

from videos.models import Video


def find_video(key: str) -> Video:
    key = str(key).strip()
    if key.isdigit():
        video = Video.objects.select_related("owner").filter(pk=int(key)).first()
        if video is not None:
            return video
    matches = list(Video.objects.select_related("owner").filter(stored_name=key)[:2]) or list(
        Video.objects.select_related("owner").filter(video_id=key)[:2]
    )
    if not matches:
        raise CommandError(f"--video-id: no video {key!r} (give its id, stored name or video_id)")
    if len(matches) > 1:
        raise CommandError(f"--video-id: {key!r} names more than one video; give its id")
    return matches[0]
