"""manage.py export_model --model <id | file.pkl> --output model.onnx"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from taskml import storage
from taskml.cli import one_line_errors
from taskml.domain import ServiceError


class Command(BaseCommand):
    help = (
        "Export a trained model as one ONNX file (raw feature windows in, probabilities and label out) "
        "for python -m taskml.runtime or any ONNX runtime."
    )

    def add_arguments(self, parser):
        parser.add_argument("--model", required=True, help="a model id from the registry, or a model .pkl file")
        parser.add_argument("--output", required=True, help="the ONNX file to write, e.g. model.onnx")

    def handle(self, *args, **opts):
        output = Path(opts["output"])
        if output.suffix.lower() != ".onnx":
            raise CommandError(f"output {output.name!r} must end in .onnx")
        with one_line_errors():
            try:
                written, digest, bundle = self._export(opts["model"].strip(), output)
            except ServiceError as exc:
                raise CommandError(str(exc)) from None
        window = bundle.window
        self.stdout.write(
            f"wrote {written} (sha256 {digest}, {written.stat().st_size / 1e6:.1f} MB): "
            f"{bundle.model_type}/{bundle.aggregation}, {len(bundle.labels)} classes, "
            f"{window.window_sec:g} s windows at {window.fps:g} fps × {len(bundle.feature_names)} features"
        )

    def _export(self, value: str, output: Path):
        from models_app.models import TrainedModel
        from models_app.services import trained_model_detector_metadata, trained_model_load
        from taskml.pipeline.artifacts import load_artifact
        from taskml.pipeline.onnx_export import dataset_detector, export_onnx, recorded_sha256

        row = None
        if value.isdigit():
            row = TrainedModel.objects.select_related("dataset").filter(pk=int(value)).first()
            if row is None:
                raise CommandError(f"no model {value} in the registry")
        else:
            path = Path(value)
            if not path.is_file():
                raise CommandError(f"model file not found: {path}")
            try:
                relative = storage.relative(path)
            except ValueError:  # outside the data directory: not a registered model's file
                relative = None
            if relative is not None:
                row = TrainedModel.objects.select_related("dataset").filter(path=relative).first()
        if row is not None:
            # A registered model: its row's checksum decides (trained_model_load).
            bundle = trained_model_load(trained_model=row)
            sha256, detector = row.sha256, trained_model_detector_metadata(trained_model=row)
        else:
            # A file train_task_classifier wrote: loaded only if it matches the sha256 recorded
            # beside it at save time (<stem>_meta.json); anything else is refused unread.
            sha256 = recorded_sha256(path)
            if sha256 is None:
                raise CommandError(
                    f"{path.name} has no checksum on record (no registered model, no {path.stem}_meta.json "
                    "beside it); refusing to load it"
                )
            bundle = load_artifact(path, expected_sha256=sha256)
            detector = dataset_detector((bundle.dataset or {}).get("path"))
        written, digest = export_onnx(bundle, output, model_sha256=sha256, detector=detector)
        return written, digest, bundle
