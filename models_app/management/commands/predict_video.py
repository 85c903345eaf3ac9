from django.core.management.base import BaseCommand, CommandError

from models_app.models import TrainedModel
from models_app.predictions import video_predictions_export
from taskml.domain import ServiceError
from taskml.pipeline.errors import PipelineError
from taskml.pipeline.interchange import PREDICTION_FORMATS
from videos.management.commands._video_arg import find_video
from videos.management.commands.export_labels import write_output


class Command(BaseCommand):
    help = "A trained model's predictions over a whole video: csv, csv_frames, activitynet results, label_studio."

    def add_arguments(self, parser):
        parser.add_argument("--model", required=True, help="the trained model: id or file name")
        parser.add_argument("--video-id", required=True, help="the video: id, stored name or video_id")
        parser.add_argument("--format", default="csv", choices=PREDICTION_FORMATS)
        parser.add_argument("--output", help="output file (default: standard output)")

    def handle(self, *args, **opts):
        key = str(opts["model"])
        model = TrainedModel.objects.filter(pk=int(key)).first() if key.isdigit() else None
        model = model or TrainedModel.objects.filter(filename=key).first()
        if model is None:
            raise CommandError(f"--model: no trained model {key!r}")
        video = find_video(opts["video_id"])
        try:
            exported = video_predictions_export(model=model, video=video, fmt=opts["format"])
        except (ServiceError, PipelineError) as exc:
            raise CommandError(str(exc)) from None
        write_output(exported.data, opts["output"])
        if opts["output"]:
            self.stdout.write(f"wrote {opts['output']} ({len(exported.data):,} bytes, {opts['format']})")
