"""Portable models: ONNX parity with the server, and the runtime's cost per window beyond the detectors.

1. Parity: every model type × representation is trained on real Megamind features (MediaPipe)
   and on a synthetic set, exported, and run by onnxruntime on every window of its dataset
   (raw features, as the dataset builder cut them); printed: windows, max |Δp| against the
   server's ModelRunner, and whether every label agrees.
2. Runtime cost: Megamind's detections are computed once; then each frame goes through what
   ``python -m taskml.runtime`` adds on top of the detectors (feature row, rolling buffer,
   window sampling, the ONNX model, smoothing) for each model type, trained with the default
   window (2 s at 15 fps = 30 frames × 243 features) on synthetic recordings of those columns
   (Megamind alone is too short for 2 s windows in three splits). Printed per model: p50/p95 of the
   ONNX call alone and of the whole push() of a frame that completes a window, and the p95 of
   a frame that completes none (features only); the server's ModelRunner beside it. Timed in
   CPU seconds of the calling thread (a shared machine's waits left out); ``--wall`` for wall time.

    .venv/bin/python bench/portable.py [--repeat 3] [--skip-parity] [--wall]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from taskml.pipeline.artifacts import load_artifact  # noqa: E402
from taskml.pipeline.dataset import DatasetSpec, build_dataset  # noqa: E402
from taskml.pipeline.detectors import Detector, DetectorConfig  # noqa: E402
from taskml.pipeline.estimators import ModelParams  # noqa: E402
from taskml.pipeline.extraction import extract_features, iter_frames, probe_video  # noqa: E402
from taskml.pipeline.online import LivePredictor, ModelRunner, top_class  # noqa: E402
from taskml.pipeline.onnx_export import detector_metadata, export_onnx, raw_split_windows  # noqa: E402
from taskml.pipeline.training import TrainSpec, train_model  # noqa: E402
from taskml.pipeline.windows import SPLITS, WindowSpec  # noqa: E402
from taskml.runtime import PortableModel  # noqa: E402

CONFIGS = [(m, a) for m in ("ridge", "rf", "lgbm") for a in ("stats", "flatten", "multiscale", "minirocket")] + [
    (m, "sequence") for m in ("lstm", "tcn", "transformer")
]
MEDIAPIPE = DetectorConfig(kind="mediapipe")


def synthetic_dataset(folder: Path) -> Path:
    from tests.pipeline.conftest import feature_frame, small_spec, write_feature_file

    paths = [
        write_feature_file(folder / f"v{i}.parquet", feature_frame(f"v{i}", seed=i, segment_sec=5.0 + i, seconds=30))
        for i in range(4)
    ]
    build_dataset(paths, folder / "synthetic", spec=small_spec(ratios=(0.5, 0.25, 0.25)))
    return folder / "synthetic"


def parity_table(datasets: dict[str, Path], folder: Path) -> None:
    # The parameters of tests/pipeline/test_onnx_export.py.
    params = ModelParams(n_estimators=40, epochs=4, hidden_dim=16, patience=2, rocket_features=2_000)
    print("\n| model / representation | " + " | ".join(f"{name}: windows, max abs diff, labels" for name in datasets))
    print("| --- | " + " | ".join("---" for _ in datasets) + " |")
    for model_type, aggregation in CONFIGS:
        cells = []
        for name, dataset in datasets.items():
            spec = TrainSpec(model_type=model_type, aggregation=aggregation, params=params)
            trained = train_model(dataset, folder / f"{name}-{model_type}-{aggregation}.pkl", spec=spec)
            bundle = load_artifact(trained.model_path, expected_sha256=trained.sha256)
            runner = ModelRunner(bundle)
            onnx_file = folder / f"{name}-{model_type}-{aggregation}.onnx"
            path, _ = export_onnx(bundle, onnx_file, model_sha256=trained.sha256)
            windows = np.concatenate([raw_split_windows(dataset, s, runner.spec, runner.feature_names) for s in SPLITS])
            got = PortableModel(path).predict(windows)
            expected = runner.predict(windows)
            same = [top_class(a) for a in got] == [top_class(b) for b in expected]
            cells.append(f"{len(windows)}, {np.abs(got - expected).max():.1e}, {'same' if same else 'DIFFER'}")
        print(f"| {model_type} / {aggregation} | " + " | ".join(cells) + " |", flush=True)


def cost_table(dataset: Path, detections, size, folder: Path, repeat: int, clock) -> None:
    print(
        "\n| model / representation | runtime ONNX call p50 / p95 ms | runtime window push p50 / p95 ms "
        "| frame without window p95 ms | server window push p50 / p95 ms |"
    )
    print("| --- | ---: | ---: | ---: | ---: |")
    params = ModelParams(n_estimators=200, epochs=4)  # the default sizes (trees), networks briefly trained
    for model_type, aggregation in CONFIGS:
        spec = TrainSpec(model_type=model_type, aggregation=aggregation, params=params)
        trained = train_model(dataset, folder / f"cost-{model_type}-{aggregation}.pkl", spec=spec)
        bundle = load_artifact(trained.model_path, expected_sha256=trained.sha256)
        path, _ = export_onnx(
            bundle, folder / f"cost-{model_type}-{aggregation}.onnx", model_sha256=trained.sha256,
            detector=detector_metadata(MEDIAPIPE),
        )  # fmt: skip
        figures = []
        for runner in (PortableModel(path), ModelRunner(bundle)):
            calls, windows, plain = [], [], []
            predict = runner.predict

            def timed(x, predict=predict, calls=calls):
                began = clock()
                out = predict(x)
                calls.append(clock() - began)
                return out

            runner.predict = timed
            for _ in range(repeat):
                live = LivePredictor(runner, width=size[0], height=size[1], with_objects=False)
                for _, t, d in detections:
                    began = clock()
                    completed = live.push(t, d)
                    (windows if completed else plain).append(clock() - began)
            figures.append((np.array(calls) * 1000, np.array(windows) * 1000, np.array(plain) * 1000))
        (calls, windows, plain), (_, server, _) = figures
        q = np.percentile
        print(
            f"| {model_type} / {aggregation} | {q(calls, 50):.2f} / {q(calls, 95):.2f} | "
            f"{q(windows, 50):.2f} / {q(windows, 95):.2f} | {q(plain, 95):.2f} | "
            f"{q(server, 50):.2f} / {q(server, 95):.2f} |",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", default=str(ROOT / "data" / "samples" / "Megamind.avi"))
    parser.add_argument("--repeat", type=int, default=3, help="times the video's detections are streamed per model")
    parser.add_argument("--skip-parity", action="store_true")
    parser.add_argument("--wall", action="store_true", help="time with the wall clock instead of thread CPU time")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="taskml-portable-"))
    features = folder / "megamind.parquet"
    extract_features(args.video, features, config=MEDIAPIPE, labels=ROOT / "samples" / "Megamind_labels.csv")
    build_dataset(
        [features],
        folder / "megamind",
        spec=DatasetSpec(window=WindowSpec(window_sec=1.0, step_sec=0.25), ratios=(0.5, 0.25, 0.25)),
    )
    # The cost models: the default window (2 s, 0.5 s, 15 fps) on 243 features, which Megamind
    # alone is too short to split; synthetic recordings of the same columns stand in.
    from tests.pipeline.conftest import feature_frame, write_feature_file

    recordings = [
        write_feature_file(
            folder / f"long{i}.parquet", feature_frame(f"long{i}", seed=i, fps=15.0, seconds=90), fps=15.0
        )
        for i in range(4)
    ]
    build_dataset(recordings, folder / "default-window", spec=DatasetSpec(ratios=(0.5, 0.25, 0.25)))
    if not args.skip_parity:
        parity_table({"Megamind": folder / "megamind", "synthetic": synthetic_dataset(folder)}, folder)
    info = probe_video(args.video)
    with Detector(MEDIAPIPE) as detector:
        detections = list(detector.process_stream(iter_frames(info), queue_size=2))
    print(f"\n{len(detections)} frames of {Path(args.video).name}; 2 s windows every 0.5 s (30 × 243), x{args.repeat}")
    # CPU time of this thread by default: what the work costs, not how long a machine shared
    # with other jobs made it wait (onnxruntime runs a one-thread session in the caller's thread).
    clock = time.perf_counter if args.wall else time.thread_time
    print(f"clock: {'wall (perf_counter)' if args.wall else 'CPU time of the calling thread (thread_time)'}")
    cost_table(folder / "default-window", detections, (info.width, info.height), folder, args.repeat, clock)


if __name__ == "__main__":
    main()
