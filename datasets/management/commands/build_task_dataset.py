from django.conf import settings
from django.core.management.base import BaseCommand

from taskml.cli import add_param_argument, one_line_errors, progress_bar
from taskml.pipeline.dataset import (
    DATASET_PARAMS,
    DEFAULT_BALANCE,
    RATIO_PARAMS,
    DatasetSpec,
    build_dataset,
    read_splits_csv,
)
from taskml.pipeline.features import DATASET_GROUPS, FEATURE_GROUPS
from taskml.pipeline.windows import BALANCE_METHODS, WindowSpec


class Command(BaseCommand):
    help = "Build a windowed dataset (X/y .npy per split + metadata.json) from feature files."

    def add_arguments(self, parser):
        parser.add_argument("--features", nargs="+", required=True, help="feature .parquet files")
        parser.add_argument("--output", required=True, help="output dataset directory")
        for name in ("window_sec", "step_sec"):
            add_param_argument(parser, DATASET_PARAMS[name])
        parser.add_argument("--balance", default=DEFAULT_BALANCE, choices=BALANCE_METHODS)
        for name in RATIO_PARAMS:
            add_param_argument(parser, DATASET_PARAMS[name])
        parser.add_argument("--splits", help="CSV video_id,split assigning whole videos (overrides ratios)")
        for name in ("seed", "min_purity", "resample_fps"):
            add_param_argument(parser, DATASET_PARAMS[name])
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
                result = build_dataset(
                    opts["features"],
                    opts["output"],
                    spec=spec,
                    progress=progress,
                    max_bytes=settings.TASKML_MAX_DATASET_MB * 1024 * 1024,
                    limit_name="TASKML_MAX_DATASET_MB",
                )
        m = result.metadata
        self.stdout.write(
            f"wrote {result.output} — train {m.train_size}, val {m.val_size}, test {m.test_size} windows "
            f"of {m.window_frames}×{m.num_features}; classes {', '.join(m.label_to_idx)}; "
            f"split {m.split_strategy}; dropped {m.dropped_windows}"
        )
