"""Admin for trained models: registry rows, their metrics and artifacts."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html, format_html_join

from datasets.models import Dataset
from jobs.admin import (
    AddedAction,
    ServiceDeletionAdmin,
    added_actions,
    admin_link,
    existing_paths,
    job_summary,
    megabytes,
    pretty_json,
    report_each,
)
from models_app.models import TrainedModel
from models_app.services import trained_model_files, trained_model_request
from taskml import storage


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
        present = existing_paths(*trained_model_files(model))
        if not present:
            return "no files on disk"
        rows = ((path, storage.absolute(path).stat().st_size) for path in present)
        return format_html(
            "<table><thead><tr><th>file</th><th>bytes</th></tr></thead><tbody>{}</tbody></table>",
            format_html_join("", "<tr><td>{}</td><td>{}</td></tr>", rows),
        )


def train_lgbm(modeladmin, request, queryset) -> None:
    """On the dataset list: a LightGBM model for each selected dataset, owned by the dataset's owner."""
    report_each(
        modeladmin,
        request,
        queryset.select_related("owner").order_by("id"),
        lambda dataset: trained_model_request(
            owner=dataset.owner or request.user, dataset=dataset, model_type="lgbm", aggregation="stats"
        ),
        lambda dataset, model: f"{dataset.name}: training {model.filename} (v{model.version}) in job {model.job_id}",
        name=lambda dataset: dataset.name,
    )


added_actions.register(
    "train_lgbm",
    AddedAction(
        model=Dataset,
        function=train_lgbm,
        description="Train a model (LightGBM) from selected datasets",
        permission="models_app.add_trainedmodel",
    ),
)
