from django.core.management.base import BaseCommand

from taskml.cli import add_param_argument, one_line_errors, progress_bar, quiet_native_logs
from taskml.pipeline.detectors import DETECTOR_KINDS
from taskml.pipeline.extraction import extract_features
from taskml.pipeline.params import SAMPLE_RATE
from videos.detectors import detector_config


class Command(BaseCommand):
    help = "Extract per-frame pose, hand and object features from a video into a Parquet file."

    def add_arguments(self, parser):
        parser.add_argument("--video", required=True, help="input video file")
        parser.add_argument("--output", required=True, help="output .parquet file")
        parser.add_argument("--labels", help="labels CSV: frame_index,label or start_frame,end_frame,label")
        parser.add_argument("--detector", default="fusion", choices=DETECTOR_KINDS)
        add_param_argument(parser, SAMPLE_RATE)
        parser.add_argument("--video-id", help="identifier stored in the video_id column (default: file name)")
        parser.add_argument("--device", default=None, help="cpu or cuda:N (default: TASKML_DEVICE, cpu)")
        parser.add_argument(
            "--yolo-model",
            default=None,
            help="object model: YOLO weights (.pt/.onnx) or config (.yaml: untrained), or a .tflite SSD "
            "(default: TASKML_YOLO_MODEL, else the pretrained COCO SSD from scripts/fetch_models.sh)",
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, **opts):
        with one_line_errors():
            config = detector_config(
                kind=opts["detector"], yolo_model=opts["yolo_model"] or "", device=opts["device"] or ""
            )
            with (
                quiet_native_logs(),
                progress_bar("extracting", unit="frame", enabled=not opts["no_progress"]) as progress,
            ):
                result = extract_features(
                    opts["video"],
                    opts["output"],
                    config=config,
                    labels=opts["labels"],
                    sample_rate=SAMPLE_RATE.check(opts["sample_rate"]),
                    video_id=opts["video_id"],
                    progress=progress,
                )
        d = result.detected
        self.stdout.write(
            f"wrote {result.output} — {result.num_frames} frames ({result.num_frames / result.seconds:.1f} fps), "
            f"{result.num_labeled} labelled; pose in {d['pose']}, left hand in {d['left_hand']}, "
            f"right hand in {d['right_hand']}, objects in {d['objects']} frames"
        )
        if result.object_detector:
            o = result.object_detector
            self.stdout.write(
                f"objects by {o['backend']} ({o['model']})" + (" — untrained" if o.get("untrained") else "")
            )
