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
3. MiniRocket's convolution in onnxruntime, measured in one run on the cost models: the exported
   graph (nine exact taps per dilation) against the same model with one depthwise ``Conv`` per
   dilation, each in the graph optimisation levels that pick onnxruntime's x86 NCHWc kernels
   (ALL, the default) or its generic one (BASIC, as on CPUs without those kernels); printed per
   variant: one-window ONNX call p50/p95, the ratio to the exported graph, and parity with the
   server's ModelRunner over every window of the dataset (max |Δp|, labels). The exported graph
   stays: a Conv adds its taps in an order of onnxruntime's choosing. ``--compare-with REV`` adds
   the graph as the exporter of git revision REV wrote it (before/after in the same run).

    .venv/bin/python bench/portable.py [--repeat 3] [--skip-parity] [--wall] [--minirocket-only]
                                       [--compare-with REV]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from taskml.pipeline import onnx_export  # noqa: E402
from taskml.pipeline.artifacts import load_artifact  # noqa: E402
from taskml.pipeline.dataset import DatasetSpec, build_dataset  # noqa: E402
from taskml.pipeline.detectors import Detector, DetectorConfig  # noqa: E402
from taskml.pipeline.estimators import ModelParams  # noqa: E402
from taskml.pipeline.extraction import extract_features, iter_frames, probe_video  # noqa: E402
from taskml.pipeline.online import LivePredictor, ModelRunner, top_class  # noqa: E402
from taskml.pipeline.onnx_export import build_onnx, detector_metadata, export_onnx, raw_split_windows  # noqa: E402
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


def _conv_taps(g, sums, weights, dilations, frames):
    """The variant: one depthwise Conv per dilation block in place of onnx_export._convolution."""
    outputs = []
    for d in np.unique(dilations):
        d = int(d)
        block = np.flatnonzero(dilations == d)
        part = g.op("Unsqueeze", g.slice(sums, int(block[0]), int(block[-1]) + 1, 1), g.ints([2]))
        kernel = g.const(weights[block].reshape(len(block), 1, 1, -1), "kernel")
        conv = g.op(
            "Conv", part, kernel, group=len(block), kernel_shape=[1, weights.shape[1]], dilations=[1, d],
            pads=[0, 4 * d, 0, 4 * d],
        )  # fmt: skip
        outputs.append((int(block[0]), g.squeeze(conv, 2)))
    return outputs


def exporter_at(revision: str):
    """onnx_export.py as git revision ``revision`` has it, imported beside the current one."""
    import importlib.util
    import subprocess

    source = subprocess.run(
        ["git", "show", f"{revision}:taskml/pipeline/onnx_export.py"], cwd=ROOT, capture_output=True, text=True,
        check=True,
    ).stdout  # fmt: skip
    path = Path(tempfile.mkdtemp(prefix="taskml-exporter-")) / "onnx_export.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"taskml.pipeline._onnx_export_{revision[:12]}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # a module of the taskml.pipeline package: its relative imports work
    return module


def minirocket_table(dataset: Path, folder: Path, clock, calls: int = 400, compare_with: str | None = None) -> None:
    import onnxruntime as ort

    levels = {"ALL": ort.GraphOptimizationLevel.ORT_ENABLE_ALL, "BASIC": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC}
    print(
        "\n| model | variant | ONNX call p50 / p95 ms | p50 ratio to exported | parity: windows, max abs diff, labels |"
    )
    print("| --- | --- | ---: | ---: | --- |")
    params = ModelParams(n_estimators=200, epochs=4)  # as cost_table, whose models it reuses
    for model_type in ("ridge", "rf", "lgbm"):
        path = folder / f"cost-{model_type}-minirocket.pkl"  # the cost table's model, when it ran
        sha = onnx_export.recorded_sha256(path) if path.is_file() else None
        if sha is None:
            spec = TrainSpec(model_type=model_type, aggregation="minirocket", params=params)
            sha = train_model(dataset, path, spec=spec).sha256
        bundle = load_artifact(path, expected_sha256=sha)
        runner = ModelRunner(bundle)
        exported = build_onnx(bundle, model_sha256=sha).SerializeToString()
        with mock.patch.object(onnx_export, "_convolution", _conv_taps):
            conv = build_onnx(bundle, model_sha256=sha).SerializeToString()
        windows = np.concatenate([raw_split_windows(dataset, s, runner.spec, runner.feature_names) for s in SPLITS])
        expected = runner.predict(windows)
        variants = [("exported graph, ALL (the runtime)", exported, "ALL")]
        if compare_with:
            # as a dict: the shape every revision's build_onnx reads (ModelBundle.from_dict takes it too)
            earlier = exporter_at(compare_with).build_onnx(bundle.to_dict(), model_sha256=sha).SerializeToString()
            variants.append((f"exported graph at {compare_with}, ALL", earlier, "ALL"))
        sessions = {}
        for name, data, level in (
            *variants,
            ("exported graph, BASIC", exported, "BASIC"),
            ("Conv per dilation, ALL (x86 NCHWc)", conv, "ALL"),
            ("Conv per dilation, BASIC (generic)", conv, "BASIC"),
        ):
            options = ort.SessionOptions()
            options.intra_op_num_threads, options.inter_op_num_threads = 1, 1
            options.graph_optimization_level = levels[level]
            options.log_severity_level = 3
            sessions[name] = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        times: dict[str, list[float]] = {name: [] for name in sessions}
        for i in range(calls + 20):  # interleaved, one window a call, as a live stream calls it
            x = np.ascontiguousarray(windows[i % len(windows)][None])
            for name, session in sessions.items():
                began = clock()
                session.run(["probabilities"], {"window": x})
                if i >= 20:
                    times[name].append(clock() - began)
        base = np.percentile(times[next(iter(times))], 50)
        for name, session in sessions.items():
            got = session.run(["probabilities"], {"window": windows})[0]
            same = [top_class(a) for a in got] == [top_class(b) for b in expected]
            t = np.array(times[name]) * 1000
            print(
                f"| {model_type} | {name} | {np.percentile(t, 50):.2f} / {np.percentile(t, 95):.2f} | "
                f"{np.percentile(t, 50) / 1000 / base:.2f} | {len(windows)}, {np.abs(got - expected).max():.1e}, "
                f"{'same' if same else 'DIFFER'} |",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", default=str(ROOT / "data" / "samples" / "Megamind.avi"))
    parser.add_argument("--repeat", type=int, default=3, help="times the video's detections are streamed per model")
    parser.add_argument("--skip-parity", action="store_true")
    parser.add_argument("--wall", action="store_true", help="time with the wall clock instead of thread CPU time")
    parser.add_argument("--minirocket-only", action="store_true", help="only the MiniRocket convolution variants")
    parser.add_argument("--compare-with", metavar="REV", help="also time the MiniRocket graph of git revision REV")
    args = parser.parse_args()
    clock = time.perf_counter if args.wall else time.thread_time
    folder = Path(tempfile.mkdtemp(prefix="taskml-portable-"))
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
    if args.minirocket_only:
        minirocket_table(folder / "default-window", folder, clock, compare_with=args.compare_with)
        return
    features = folder / "megamind.parquet"
    extract_features(args.video, features, config=MEDIAPIPE, labels=ROOT / "samples" / "Megamind_labels.csv")
    build_dataset(
        [features],
        folder / "megamind",
        spec=DatasetSpec(window=WindowSpec(window_sec=1.0, step_sec=0.25), ratios=(0.5, 0.25, 0.25)),
    )
    if not args.skip_parity:
        parity_table({"Megamind": folder / "megamind", "synthetic": synthetic_dataset(folder)}, folder)
    info = probe_video(args.video)
    with Detector(MEDIAPIPE) as detector:
        detections = list(detector.process_stream(iter_frames(info), queue_size=2))
    print(f"\n{len(detections)} frames of {Path(args.video).name}; 2 s windows every 0.5 s (30 × 243), x{args.repeat}")
    # CPU time of this thread by default: what the work costs, not how long a machine shared
    # with other jobs made it wait (onnxruntime runs a one-thread session in the caller's thread).
    print(f"clock: {'wall (perf_counter)' if args.wall else 'CPU time of the calling thread (thread_time)'}")
    cost_table(folder / "default-window", detections, (info.width, info.height), folder, args.repeat, clock)
    minirocket_table(folder / "default-window", folder, clock, compare_with=args.compare_with)


if __name__ == "__main__":
    main()
