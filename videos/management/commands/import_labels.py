import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from taskml.domain import ServiceError
from taskml.pipeline.errors import PipelineError
from taskml.pipeline.interchange import (
    DEFAULT_BACKGROUND,
    IMPORT_FORMATS,
    LABEL_FPS,
    MAX_LABEL_FILE_BYTES,
    ImportOptions,
)
from videos.interchange import labels_import

from ._video_arg import find_video


def read_file(path: str, what: str) -> bytes:
    file = Path(path)
    if not file.is_file():
        raise CommandError(f"{what}: no file {path}")
    if file.stat().st_size > MAX_LABEL_FILE_BYTES:
        raise CommandError(
            f"{what}: {file.stat().st_size:,} bytes; label files are limited to {MAX_LABEL_FILE_BYTES:,}"
        )
    return file.read_bytes()


class Command(BaseCommand):
    help = "Import a label file (csv, label_studio, cvat_images, boris, activitynet, mstcn) as a video's label spans."

    def add_arguments(self, parser):
        parser.add_argument("file", help="the label file")
        parser.add_argument("--video-id", required=True, help="the video: id, stored name or video_id")
        parser.add_argument("--format", required=True, choices=IMPORT_FORMATS)
        parser.add_argument("--mode", default="replace", choices=["replace", "merge"])
        parser.add_argument("--force", action="store_true", help="import a file that does not fit the video")
        parser.add_argument("--key", help="activitynet: the database key; label_studio: the task's file name")
        parser.add_argument("--fps", type=float, help=f"{LABEL_FPS.help} ({LABEL_FPS.describe()})")
        parser.add_argument("--source", default="annotations", choices=["annotations", "predictions"])
        parser.add_argument("--background", default=DEFAULT_BACKGROUND, help="mstcn: the no-task class")
        parser.add_argument("--mapping", help="mstcn: mapping.txt")
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args, **opts):
        video = find_video(opts["video_id"])
        try:
            options = ImportOptions(
                key=opts["key"],
                fps=opts["fps"],
                source=opts["source"],
                background=opts["background"],
                mapping=read_file(opts["mapping"], "--mapping") if opts["mapping"] else None,
            )
            report = labels_import(
                video=video,
                user=video.owner,
                fmt=opts["format"],
                data=read_file(opts["file"], "file"),
                filename=Path(opts["file"]).name,
                mode=opts["mode"],
                force=opts["force"],
                options=options,
            )
        except (ServiceError, PipelineError) as exc:
            raise CommandError(str(exc)) from None
        if opts["json"]:
            self.stdout.write(json.dumps(report, indent=1))
            return
        dropped = ", ".join(f"{k} {v}" for k, v in report["frames_dropped"].items()) or "none"
        labelled = ", ".join(f"{k} {v}" for k, v in report["frames_labelled"].items())
        self.stdout.write(
            f"video {video.pk} ({video.stored_name}): {report['spans_created']} span(s) imported from "
            f"{opts['format']} ({report['mode']}; {report['spans_replaced']} existing span(s) replaced); "
            f"frames labelled: {labelled}; frames dropped: {dropped}"
        )
        for line in report["forced"]:
            self.stdout.write(f"forced: {line}")
        for line in report["notes"]:
            self.stdout.write(f"note: {line}")
