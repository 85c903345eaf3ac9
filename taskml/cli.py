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
    from taskml.pipeline.estimators import MODEL_PARAMS, MODEL_TYPES
    from taskml.pipeline.params import SEED
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
    for param in MODEL_PARAMS.values():
        add_param_argument(parser, param)
    add_param_argument(parser, SEED)


def add_param_argument(parser, param) -> None:
    """A flag for one of the pipeline's numeric parameters (taskml.pipeline.params): its default and
    range in the help; the range itself is checked by the spec the value goes into (one line, exit 1)."""
    shown = f"; default {param.default}" if param.default is not None else ""
    parser.add_argument(
        param.flag, type=param.kind, default=param.default, help=f"{param.help} ({param.describe()}{shown})"
    )


def train_spec_from(opts: dict):
    """The TrainSpec the flags of ``add_training_arguments`` describe (pipeline errors for bad values)."""
    from taskml.pipeline.estimators import MODEL_PARAMS, ModelParams
    from taskml.pipeline.training import TrainSpec

    params = ModelParams(**{name: opts[name] for name in MODEL_PARAMS})
    return TrainSpec(  # checks the seed and the folds
        model_type=opts["model"],
        aggregation=opts["agg"],
        params=params,
        seed=opts["seed"],
        cv_folds=opts.get("cv") or 0,
    )
