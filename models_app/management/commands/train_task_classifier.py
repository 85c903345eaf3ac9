from django.core.management.base import BaseCommand

from taskml.cli import add_training_arguments, one_line_errors, progress_bar, train_spec_from
from taskml.pipeline.training import CV_FOLDS, train_model


class Command(BaseCommand):
    help = "Train a task classifier on a windowed dataset; writes the model and <stem>_metrics.json."

    def add_arguments(self, parser):
        parser.add_argument("--dataset", required=True, help="dataset directory from build_task_dataset")
        parser.add_argument("--output", required=True, help="model file, e.g. model.pkl")
        add_training_arguments(parser)
        parser.add_argument(
            "--cv",
            type=int,
            default=0,
            metavar="K",
            help=f"{CV_FOLDS.help} ({CV_FOLDS.describe()})",
        )
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **opts):
        with one_line_errors():
            spec = train_spec_from(opts)
            with progress_bar("training", enabled=not opts["no_progress"]) as progress:
                result = train_model(opts["dataset"], opts["output"], spec=spec, progress=progress)
        m = result.metrics
        self.stdout.write(
            f"wrote {result.model_path} (sha256 {result.sha256[:12]}…) and {result.metrics_path} — "
            f"{m.model_type}/{m.aggregation}: test accuracy {m.accuracy:.3f}, "
            f"F1 macro {m.f1_macro:.3f} on {m.test.support} windows"
        )
        cv = m.cv
        if cv and cv.get("f1_macro"):
            self.stdout.write(
                f"cv {cv['k']} folds by {cv['grouped_by'].replace('_', ' ')} ({cv['folds_scored']} scored): "
                f"accuracy {cv['accuracy']['mean']:.3f} ± {cv['accuracy']['std']:.3f}, "
                f"F1 macro {cv['f1_macro']['mean']:.3f} ± {cv['f1_macro']['std']:.3f}"
            )
        for warning in m.warnings or []:
            self.stdout.write(f"warning: {warning}")
