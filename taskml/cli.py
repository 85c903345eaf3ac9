"""What the management commands share: a progress bar on stderr and one-line errors."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

from django.core.management.base import CommandError

from taskml.native_logs import quiet_native_logs  # noqa: F401 - the commands import it from here
from taskml.pipeline.errors import PipelineError


@contextlib.contextmanager
def progress_bar(description: str, *, unit: str = "step", enabled: bool = True) -> Iterator[Callable[[int, int], None]]:
    """A ``progress(done, total)`` callback drawing a tqdm bar on stderr."""
    from tqdm import tqdm

    bar = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if not enabled:
            return
        if bar is None:
            bar = tqdm(total=total, desc=description, unit=unit, file=sys.stderr, leave=False, dynamic_ncols=True)
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        yield update
    finally:
        if bar is not None:
            bar.close()


@contextlib.contextmanager
def one_line_errors() -> Iterator[None]:
    """Pipeline errors become Django's CommandError: one line on stderr, exit status 1."""
    try:
        yield
    except PipelineError as exc:
        raise CommandError(str(exc)) from None
    except KeyboardInterrupt:
        raise CommandError("interrupted; nothing was written") from None


def add_training_arguments(parser, *, model: str | None = None, aggregation: str | None = None) -> None:
    """The model, representation and estimator flags every command that trains takes."""
    from taskml.pipeline.aggregation import TABULAR_AGGREGATIONS
    from taskml.pipeline.estimators import MODEL_TYPES
    from taskml.pipeline.training import DEFAULT_AGGREGATION, DEFAULT_MODEL

    default = f"default {model}" if model else f"without --model and --agg: {DEFAULT_MODEL} on {DEFAULT_AGGREGATION}"
    parser.add_argument("--model", default=model, help=f"{', '.join(MODEL_TYPES)} (lgbm also as lightgbm); {default}")
    parser.add_argument(
        "--agg",
        default=aggregation,
        choices=TABULAR_AGGREGATIONS,
        help="window representation for rf/lgbm/ridge (default: stats for rf and lgbm, minirocket for ridge; "
        "lstm, tcn and transformer always take the window as a sequence)",
    )
    parser.add_argument("--n-estimators", type=int, default=200)
    parser.add_argument("--max-depth", type=int, default=None)
    parser.add_argument("--learning-rate", type=float, default=0.1, help="LightGBM learning rate")
    parser.add_argument(
        "--epochs", type=int, default=60, help="lstm/tcn/transformer: maximum epochs (early stopping on val)"
    )
    parser.add_argument("--lr", type=float, default=1e-3, help="lstm/tcn/transformer learning rate")
    parser.add_argument("--hidden-dim", type=int, default=64)
    parser.add_argument("--num-layers", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--patience", type=int, default=8, help="epochs without a better val loss before stopping")
    parser.add_argument(
        "--rocket-features",
        type=int,
        default=None,
        help="minirocket: number of features (default 10,000 below 1,000 train windows, else 2,000)",
    )
    parser.add_argument("--seed", type=int, default=42)


def train_spec_from(opts: dict):
    """The TrainSpec the flags of ``add_training_arguments`` describe (pipeline errors for bad values)."""
    from taskml.pipeline.estimators import ModelParams
    from taskml.pipeline.training import TrainSpec

    params = ModelParams(
        **{
            name: opts[name]
            for name in (
                "n_estimators", "max_depth", "learning_rate", "epochs", "lr", "hidden_dim", "num_layers",
                "batch_size", "patience", "rocket_features",
            )
        }
    )  # fmt: skip
    return TrainSpec(
        model_type=opts["model"],
        aggregation=opts["agg"],
        params=params,
        seed=opts["seed"],
        cv_folds=opts.get("cv") or 0,
    )
