"""Admin for trained models: registry rows, their metrics and artifacts."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html, format_html_join

from jobs.admin import ServiceDeletionAdmin, admin_link, existing_paths, job_summary, megabytes, pretty_json
from models_app.models import TrainedModel
from models_app.services import trained_model_delete
from taskml import storage
from taskml.pipeline.artifacts import sidecar_paths


def artifact_paths(model: TrainedModel) -> list[str]:
    """The model file and the JSON files beside it, relative to the data directory."""
    if not model.path:
        return []
    try:
        model_path = storage.absolute(model.path)
    except ValueError:
        return [model.path]
    return [model.path, *(storage.relative(p) for p in sidecar_paths(model_path))]


@admin.register(TrainedModel)
class TrainedModelAdmin(ServiceDeletionAdmin):
    list_display = (
        "filename",
        "owner",
        "version",
        "model_type",
        "aggregation",
        "status",
        "accuracy",
        "f1_macro",
        "dataset_link",
        "created_at",
    )
    list_filter = ("status", "model_type", "aggregation", ("owner", admin.RelatedOnlyFieldListFilter), "created_at")
    search_fields = ("filename", "sha256", "model_type")
    list_select_related = ("owner", "dataset")
    fieldsets = (
        (None, {"fields": ("filename", "version_label", "owner", "status", "job_status", "dataset_link")}),
        ("Training", {"fields": ("model_type", "aggregation", "params_pretty")}),
        ("Evaluation", {"fields": ("accuracy", "f1_macro", "metrics_pretty")}),
        ("Artifact", {"fields": ("path", "sha256", "size", "files_table", "created_at")}),
    )
    readonly_fields = (
        "filename",
        "version_label",
        "owner",
        "status",
        "job_status",
        "dataset_link",
        "model_type",
        "aggregation",
        "params_pretty",
        "accuracy",
        "f1_macro",
        "metrics_pretty",
        "path",
        "sha256",
        "size",
        "files_table",
        "created_at",
    )

    @admin.display(description="dataset", ordering="dataset_id")
    def dataset_link(self, model: TrainedModel) -> str:
        return admin_link(model.dataset)

    @admin.display(description="version")
    def version_label(self, model: TrainedModel) -> str:
        return model.version_label

    @admin.display(description="job")
    def job_status(self, model: TrainedModel) -> str:
        return job_summary(model.job)

    @admin.display(description="parameters")
    def params_pretty(self, model: TrainedModel) -> str:
        return pretty_json(model.params)

    @admin.display(description="metrics")
    def metrics_pretty(self, model: TrainedModel) -> str:
        return pretty_json(model.metrics)

    @admin.display(description="size", ordering="size_bytes")
    def size(self, model: TrainedModel) -> str:
        return megabytes(model.size_bytes)

    @admin.display(description="files")
    def files_table(self, model: TrainedModel) -> str:
        present = existing_paths(*artifact_paths(model))
        if not present:
            return "no files on disk"
        rows = ((path, storage.absolute(path).stat().st_size) for path in present)
        return format_html(
            "<table><thead><tr><th>file</th><th>bytes</th></tr></thead><tbody>{}</tbody></table>",
            format_html_join("", "<tr><td>{}</td><td>{}</td></tr>", rows),
        )

    def stored_paths(self, model: TrainedModel) -> list[str]:
        return artifact_paths(model)

    def deletion_dependents(self, model: TrainedModel) -> list:
        from streaming.models import LiveSession

        # Ended sessions go with their model; a running one stays protected (the service refuses).
        return list(LiveSession.objects.filter(trained_model=model).exclude(status__in=LiveSession.ACTIVE))

    def service_delete(self, model: TrainedModel) -> None:
        trained_model_delete(trained_model=model)
