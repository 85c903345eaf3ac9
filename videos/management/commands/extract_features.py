import dataclasses
import time

from django.core.management.base import BaseCommand

from taskml.cli import add_param_argument, one_line_errors, progress_bar, quiet_native_logs
from taskml.pipeline.detectors import DETECTOR_KINDS
from taskml.pipeline.extraction import FrameRange, extract_features
from taskml.pipeline.params import SAMPLE_RATE
from videos.detectors import detector_config


class Command(BaseCommand):
    help = "Extract per-frame pose, hand and object features from a video into a Parquet file."
    # Django's system checks import every app's URLs and admin (about 0.5 s): not needed to read a
    # video and write a file, and start-up is part of what a user waits for.
    requires_system_checks = []

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
        parser.add_argument(
            "--object-every-k",
            type=int,
            default=None,
            help="run the object detector on every k-th frame, carrying its boxes between "
            "(default: TASKML_OBJECT_EVERY_K, 2; 1: every frame)",
        )
        parser.add_argument("--pose-complexity", type=int, default=None, choices=(0, 1, 2), help="MediaPipe pose model")
        parser.add_argument("--hands-complexity", type=int, default=None, choices=(0, 1), help="MediaPipe hands model")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")
        # One chunk of a long video (what a chunk task runs; bench/extraction.py --chunked uses them).
        parser.add_argument("--start-frame", type=int, default=0, help="first frame kept (default 0)")
        parser.add_argument(
            "--stop-frame", type=int, default=None, help="one past the last frame kept (default: the end)"
        )
        parser.add_argument(
            "--settle-frame",
            type=int,
            default=None,
            help="first frame detected, before --start-frame (tracking settles)",
        )

    def handle(self, *args, **opts):
        with one_line_errors():
            config = detector_config(
                kind=opts["detector"], yolo_model=opts["yolo_model"] or "", device=opts["device"] or ""
            )
            overrides = {
                field: opts[field]
                for field in ("object_every_k", "pose_complexity", "hands_complexity")
                if opts[field] is not None
            }
            config = dataclasses.replace(config, **overrides)
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
                    frames=FrameRange(start=opts["start_frame"], stop=opts["stop_frame"], settle=opts["settle_frame"]),
                )
        d = result.detected
        self.stdout.write(
            f"wrote {result.output} — {result.num_frames} frames ({result.num_frames / result.seconds:.1f} fps), "
            f"{result.num_labeled} labelled; pose in {d['pose']}, left hand in {d['left_hand']}, "
            f"right hand in {d['right_hand']}, objects in {d['objects']} frames"
        )
        timing = result.timing
        if timing is not None and timing.first_frame_at is not None:
            costs = ", ".join(
                f"{name} {ms:.1f} ms × {timing.detector_calls[name]}" for name, ms in timing.detector_ms.items()
            )
            self.stdout.write(
                f"start-up {timing.first_frame_at - _process_started():.2f} s (process start → first frame), "
                f"steady {timing.steady_fps:.1f} fps; per model call: {costs}"
            )
        if result.object_detector:
            o = result.object_detector
            self.stdout.write(
                f"objects by {o['backend']} ({o['model']})" + (" — untrained" if o.get("untrained") else "")
            )


def _process_started() -> float:
    """When this process started (wall clock), so that start-up includes Python's and Django's imports."""
    try:
        import psutil

        return psutil.Process().create_time()
    except Exception:  # no psutil, or no /proc: from this module's import instead
        return _IMPORTED


_IMPORTED = time.time()
