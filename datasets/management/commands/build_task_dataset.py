from django.core.management.base import BaseCommand

from taskml.cli import one_line_errors, progress_bar
from taskml.pipeline.dataset import DatasetSpec, build_dataset, read_splits_csv
from taskml.pipeline.features import DATASET_GROUPS, FEATURE_GROUPS
from taskml.pipeline.windows import BALANCE_METHODS, WindowSpec


class Command(BaseCommand):
    help = "Build a windowed dataset (X/y .npy per split + metadata.json) from feature files."

    def add_arguments(self, parser):
        parser.add_argument("--features", nargs="+", required=True, help="feature .parquet files")
        parser.add_argument("--output", required=True, help="output dataset directory")
        parser.add_argument("--window-sec", type=float, default=2.0)
        parser.add_argument("--step-sec", type=float, default=0.5)
        parser.add_argument("--balance", default="none", choices=BALANCE_METHODS)
        parser.add_argument("--train-ratio", type=float, default=0.7)
        parser.add_argument("--val-ratio", type=float, default=0.15)
        parser.add_argument("--test-ratio", type=float, default=0.15)
        parser.add_argument("--splits", help="CSV video_id,split assigning whole videos (overrides ratios)")
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--min-purity", type=float, default=0.6, help="minimum majority-label share")
        parser.add_argument("--resample-fps", type=float, default=15.0, help="frames per second in a window")
        parser.add_argument(
            "--groups",
            default=",".join(FEATURE_GROUPS),
            help=f"feature groups, from {','.join(DATASET_GROUPS)} (other: every numeric column outside the "
            "known groups and video_id/t/frame_index/label, e.g. your own sensor channels)",
        )
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **opts):
        with one_line_errors():
            spec = DatasetSpec(
                window=WindowSpec(
                    window_sec=opts["window_sec"],
                    step_sec=opts["step_sec"],
                    resample_fps=opts["resample_fps"],
                    min_purity=opts["min_purity"],
                ),
                balance=opts["balance"],
                ratios=(opts["train_ratio"], opts["val_ratio"], opts["test_ratio"]),
                seed=opts["seed"],
                groups=tuple(g.strip() for g in opts["groups"].split(",") if g.strip()),
                splits=read_splits_csv(opts["splits"]) if opts["splits"] else None,
            )
            with progress_bar("building", enabled=not opts["no_progress"]) as progress:
                result = build_dataset(opts["features"], opts["output"], spec=spec, progress=progress)
        m = result.metadata
        self.stdout.write(
            f"wrote {result.output} — train {m['train_size']}, val {m['val_size']}, test {m['test_size']} windows "
            f"of {m['window_frames']}×{m['num_features']}; classes {', '.join(m['label_to_idx'])}; "
            f"split {m['split_strategy']}; dropped {m['dropped_windows']}"
        )
