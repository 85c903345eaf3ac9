"""``python -m taskml.runtime --model model.onnx (--video PATH | --camera N | --url URL)``.

Prints one JSON line per window prediction (to stdout, or ``--output FILE``); errors are one
line on stderr and exit status 1. See README.md, *Portable models*.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from taskml.native_logs import quiet_native_logs
from taskml.pipeline.errors import PipelineError
from taskml.pipeline.online import SMOOTHING_METHODS, SmoothingSpec
from taskml.pipeline.sources import Timings

from .model import PortableModel
from .objects import describe
from .run import make_detector, open_source, run


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m taskml.runtime",
        description="Run an exported taskml model (model.onnx) on a video file, a camera or a stream URL.",
    )
    p.add_argument("--model", required=True, help="the ONNX file manage.py export_model (or the API) wrote")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--video", help="a video file (every frame, as fast as it goes; --realtime paces it)")
    source.add_argument("--camera", type=int, help="a camera index OpenCV opens (0 = the first)")
    source.add_argument("--url", help="a stream URL: rtsp://, rtsps://, http(s)://, rtmp://, udp://, tcp://")
    p.add_argument("--smoothing", choices=SMOOTHING_METHODS, default="none", help="as live sessions (default none)")
    p.add_argument("--k", type=int, default=5, help="median: windows to take the median over (5)")
    p.add_argument("--alpha", type=float, default=0.3, help="ema: weight of the newest window (0.3)")
    p.add_argument("--min-duration", type=float, default=1.0, help="hysteresis: seconds a new label must hold (1)")
    p.add_argument("--output", help="write the JSON lines to this file instead of stdout")
    p.add_argument("--realtime", action="store_true", help="--video: at the video's own speed, dropping late frames")
    p.add_argument(
        "--objects-model",
        help="the object detector of a model with objects: its .tflite (default: the fetched COCO SSD) "
        "or, for YOLO models, an ONNX export",
    )
    p.add_argument("--sha256", help="refuse the model file unless its sha256 is this (the export prints it)")
    p.add_argument("--threads", type=int, default=1, help="onnxruntime threads for the model (1)")
    p.add_argument("--quiet", action="store_true", help="no start and end lines on stderr")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        with quiet_native_logs():
            summary = _run(args)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # the reader went away (| head): nothing more to say
        return 0
    if not args.quiet:
        print(
            f"taskml runtime: {summary.frames} frames, {summary.windows} windows, "
            f"{summary.frames_dropped} frames dropped",
            file=sys.stderr,
        )
    return 0


def _run(args: argparse.Namespace):
    smoothing = SmoothingSpec(method=args.smoothing, k=args.k, alpha=args.alpha, min_duration=args.min_duration)
    if args.threads < 1:
        raise PipelineError(f"--threads must be at least 1, got {args.threads}")
    model = PortableModel(args.model, expected_sha256=args.sha256, threads=args.threads)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    timings = Timings()
    # The source first: a video that cannot be decoded is refused before the detectors load.
    frames = open_source(
        video=args.video, camera=args.camera, url=args.url, realtime=args.realtime, timings=timings, stop=stop
    )
    config = model.detector_config()
    if not args.quiet:  # before the detectors start (MediaPipe's own start-up lines)
        meta = model.metadata
        print(
            f"taskml runtime: model {meta.get('model_type')}/{meta.get('aggregation')} "
            f"sha256 {model.version}…, classes {', '.join(model.labels)}, window {model.spec.window_sec:g} s "
            f"every {model.spec.step_sec:g} s, detector {config.kind}, {describe(config, model.object_model())}",
            file=sys.stderr,
            flush=True,
        )
    detector = make_detector(model, args.objects_model)
    out = open(args.output, "w", buffering=1) if args.output else sys.stdout  # closed below
    try:

        def emit(record: dict) -> None:
            out.write(json.dumps(record) + "\n")
            out.flush()

        return run(model, frames, detector, emit, smoothing=smoothing, timings=timings)
    finally:
        if out is not sys.stdout:
            out.close()


if __name__ == "__main__":
    sys.exit(main())
