from django.core.management.base import BaseCommand

from taskml.cli import one_line_errors, progress_bar
from taskml.pipeline.aggregation import TABULAR_AGGREGATIONS
from taskml.pipeline.estimators import MODEL_TYPES, ModelParams
from taskml.pipeline.training import DEFAULT_AGGREGATION, DEFAULT_MODEL, TrainSpec, train_model


class Command(BaseCommand):
    help = "Train a task classifier on a windowed dataset; writes the model and <stem>_metrics.json."

    def add_arguments(self, parser):
        parser.add_argument("--dataset", required=True, help="dataset directory from build_task_dataset")
        parser.add_argument(
            "--model",
            default=None,
            help=f"{', '.join(MODEL_TYPES)} (lgbm also as lightgbm). Without --model and --agg: "
            f"{DEFAULT_MODEL} on {DEFAULT_AGGREGATION}, the default configuration",
        )
        parser.add_argument("--output", required=True, help="model file, e.g. model.pkl")
        parser.add_argument(
            "--agg",
            default=None,
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
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **opts):
        with one_line_errors():
            spec = TrainSpec(
                model_type=opts["model"],
                aggregation=opts["agg"],
                params=ModelParams(
                    n_estimators=opts["n_estimators"],
                    max_depth=opts["max_depth"],
                    learning_rate=opts["learning_rate"],
                    epochs=opts["epochs"],
                    lr=opts["lr"],
                    hidden_dim=opts["hidden_dim"],
                    num_layers=opts["num_layers"],
                    batch_size=opts["batch_size"],
                    patience=opts["patience"],
                    rocket_features=opts["rocket_features"],
                ),
                seed=opts["seed"],
            )
            with progress_bar("training", enabled=not opts["no_progress"]) as progress:
                result = train_model(opts["dataset"], opts["output"], spec=spec, progress=progress)
        m = result.metrics
        self.stdout.write(
            f"wrote {result.model_path} (sha256 {result.sha256[:12]}…) and {result.metrics_path} — "
            f"{m['model_type']}/{m['aggregation']}: test accuracy {m['accuracy']:.3f}, "
            f"F1 macro {m['f1_macro']:.3f} on {m['test']['support']} windows"
        )
