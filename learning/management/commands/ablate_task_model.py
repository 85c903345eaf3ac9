from pathlib import Path

from django.core.management.base import BaseCommand

from taskml.cli import add_training_arguments, one_line_errors, progress_bar, train_spec_from
from taskml.pipeline.ablation import ABLATION_GROUPS, dumps, format_table, run_ablation
from taskml.pipeline.files import atomic_path


class Command(BaseCommand):
    help = (
        "Train one model configuration on each feature group of a dataset (pose, hands, objects) and on all of "
        "them (fused), on identical splits; print the comparison."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dataset", required=True, help="dataset directory from build_task_dataset")
        parser.add_argument(
            "--groups", nargs="+", default=["pose", "hands", "objects"], choices=ABLATION_GROUPS,
            help="groups trained alone (fused is always trained, as the reference)",
        )  # fmt: skip
        add_training_arguments(parser, model="rf", aggregation="stats")
        parser.add_argument("--output", help="also write the full report as JSON to this file")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **opts):
        with one_line_errors():
            spec = train_spec_from(opts)
            with progress_bar("ablation", unit="group", enabled=not opts["no_progress"]) as progress:
                report = run_ablation(opts["dataset"], spec=spec, groups=opts["groups"], progress=progress)
            if opts["output"]:
                with atomic_path(Path(opts["output"])) as tmp:
                    tmp.write_text(dumps(report))
        self.stdout.write(format_table(report))
        self.stdout.write(
            f"{report['spec']['model_type']}/{report['spec']['aggregation']} on {report['dataset']}: "
            f"train {report['sizes']['train']}, val {report['sizes']['val']}, test {report['sizes']['test']} windows, "
            f"identical splits (digest {report['splits_digest'][:12]}); {report['seconds']:.1f} s"
            + (f"; report in {opts['output']}" if opts["output"] else "")
        )
