import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from taskml.domain import ServiceError
from taskml.pipeline.errors import PipelineError
from taskml.pipeline.files import atomic_path
from taskml.pipeline.interchange import DEFAULT_BACKGROUND, EXPORT_FORMATS, LS_FROM_NAME, LS_TO_NAME
from videos.interchange import labels_export

from ._video_arg import find_video


class Command(BaseCommand):
    help = "Export a video's labels (csv, csv_frames, label_studio, cvat_images, boris, activitynet, mstcn)."

    def add_arguments(self, parser):
        parser.add_argument("--video-id", required=True, help="the video: id, stored name or video_id")
        parser.add_argument("--format", required=True, choices=EXPORT_FORMATS)
        parser.add_argument("--output", help="output file (default: standard output)")
        parser.add_argument("--url", default="", help="label_studio: the video's URL in the task (default: its name)")
        parser.add_argument("--from-name", default=LS_FROM_NAME, help="label_studio: the TimelineLabels name")
        parser.add_argument("--to-name", default=LS_TO_NAME, help="label_studio: the Video tag's name")
        parser.add_argument("--background", default=DEFAULT_BACKGROUND, help="mstcn: written for unlabelled frames")

    def handle(self, *args, **opts):
        video = find_video(opts["video_id"])
        try:
            exported = labels_export(
                video=video,
                fmt=opts["format"],
                url=opts["url"],
                from_name=opts["from_name"],
                to_name=opts["to_name"],
                background=opts["background"],
            )
        except (ServiceError, PipelineError) as exc:
            raise CommandError(str(exc)) from None
        write_output(exported.data, opts["output"])
        if opts["output"]:
            self.stdout.write(f"wrote {opts['output']} ({len(exported.data):,} bytes, {opts['format']})")


def write_output(data: bytes, output: str | None) -> None:
    if not output:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    path = Path(output)
    if not path.parent.is_dir():
        raise CommandError(f"--output: no directory {path.parent}")
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)
