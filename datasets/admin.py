"""Admin for datasets: what went in, how it was built, what came out; rebuild and train from here."""

from __future__ import annotations

import re

from django.contrib import admin
from django.utils.html import format_html, format_html_join

from datasets.models import Dataset
from datasets.services import dataset_rebuild
from jobs.admin import ServiceDeletionAdmin, admin_link, job_summary, megabytes, pretty_json, report_each
from taskml import storage
from taskml.pipeline.windows import SPLITS

_DATASET_NAME = re.compile(r"^dataset_(\d+)$")


def class_counts_table(dataset: Dataset) -> str:
    """Windows per label (rows) and split (columns), with totals; every value escaped."""
    counts = dataset.class_counts or {}
    if not counts:
        return "-"
    splits = [s for s in SPLITS if s in counts] + sorted(s for s in counts if s not in SPLITS)
    labels = list(dataset.labels) + sorted({lab for s in splits for lab in counts[s]} - set(dataset.labels))

    def cells(values, template: str = "<td>{}</td>") -> str:
        return format_html_join("", template, ((v,) for v in values))

    rows = []
    for label in labels:
        per_split = [counts[s].get(label, 0) for s in splits]
        rows.append((label, cells([*per_split, sum(per_split)])))
    totals = [sum(counts[s].values()) for s in splits]
    return format_html(
        '<table class="class-counts"><thead><tr><th>label</th>{}</tr></thead><tbody>{}'
        "<tr><th>total</th>{}</tr></tbody></table>",
        cells([*splits, "total"], "<th>{}</th>"),
        format_html_join("", "<tr><td>{}</td>{}</tr>", rows),
        cells([*totals, sum(totals)], "<th>{}</th>"),
    )


def dataset_files(dataset: Dataset) -> list[tuple[str, int]]:
    """(name, bytes) of the files in the dataset's directory, by name; empty when there is none."""
    if not dataset.path:
        return []
    try:
        directory = storage.absolute(dataset.path)
    except ValueError:
        return []
    if not directory.is_dir():
        return []
    return sorted((p.name, p.stat().st_size) for p in directory.iterdir() if p.is_file())


def _name(dataset: Dataset) -> str:
    return dataset.name


@admin.register(Dataset)
class DatasetAdmin(ServiceDeletionAdmin):
    list_display = (
        "name",
        "owner",
        "status",
        "train_size",
        "val_size",
        "test_size",
        "labels_text",
        "num_features",
        "size",
        "created_at",
    )
    list_filter = ("status", "balance_method", ("owner", admin.RelatedOnlyFieldListFilter), "created_at")
    search_fields = ("sources__filename", "sources__video__video_id", "split_strategy")
    list_select_related = ("owner", "job")
    actions = ("rebuild_datasets",)  # and models_app's "train_lgbm" (jobs.admin.added_actions)
    fieldsets = (
        (None, {"fields": ("name", "owner", "status", "job_status", "path", "created_at")}),
        ("Inputs", {"fields": ("sources_list", "params_pretty")}),
        (
            "Result",
            {
                "fields": (
                    "labels_text",
                    "class_counts_table",
                    "train_size",
                    "val_size",
                    "test_size",
                    "num_features",
                    "split_strategy",
                    "size",
                    "files_table",
                    "models_list",
                )
            },
        ),
    )
    readonly_fields = (
        "name",
        "owner",
        "status",
        "job_status",
        "path",
        "created_at",
        "sources_list",
        "params_pretty",
        "labels_text",
        "class_counts_table",
        "train_size",
        "val_size",
        "test_size",
        "num_features",
        "split_strategy",
        "size",
        "files_table",
        "models_list",
    )

    def get_search_results(self, request, queryset, search_term):
        # Datasets are known by their directory name, dataset_<id>, which is not a column.
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        named = _DATASET_NAME.match(search_term.strip())
        if named:
            results |= queryset.filter(pk=int(named.group(1)))
        return results, may_have_duplicates

    @admin.display(description="name", ordering="pk")
    def name(self, dataset: Dataset) -> str:
        return dataset.name

    @admin.display(description="labels")
    def labels_text(self, dataset: Dataset) -> str:
        return ", ".join(dataset.labels) or "-"

    @admin.display(description="size on disk", ordering="size_bytes")
    def size(self, dataset: Dataset) -> str:
        return megabytes(dataset.size_bytes)

    @admin.display(description="job")
    def job_status(self, dataset: Dataset) -> str:
        return job_summary(dataset.job)

    @admin.display(description="sources")
    def sources_list(self, dataset: Dataset) -> str:
        sources = list(dataset.sources.select_related("video").order_by("datasetsource__id"))
        if not sources:
            return "-"
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li>{} (video {}, {} labelled frames)</li>",
                ((admin_link(f), f.video.video_id, f.num_labeled) for f in sources),
            ),
        )

    @admin.display(description="parameters")
    def params_pretty(self, dataset: Dataset) -> str:
        return pretty_json(dataset.params)

    @admin.display(description="windows per class")
    def class_counts_table(self, dataset: Dataset) -> str:
        return class_counts_table(dataset)

    @admin.display(description="files")
    def files_table(self, dataset: Dataset) -> str:
        files = dataset_files(dataset)
        if not files:
            return "no files on disk"
        return format_html(
            "<table><thead><tr><th>file</th><th>bytes</th></tr></thead><tbody>{}</tbody></table>",
            format_html_join("", "<tr><td>{}</td><td>{}</td></tr>", files),
        )

    @admin.display(description="trained models")
    def models_list(self, dataset: Dataset) -> str:
        models = dataset.trained_models.order_by("id")
        return format_html_join(", ", "{} ({})", ((admin_link(m), m.status) for m in models)) or "-"

    # ------------------------------------------------------------ actions

    def has_rebuild_permission(self, request) -> bool:
        return request.user.has_perm("datasets.change_dataset")

    @admin.action(description="Rebuild selected datasets", permissions=["rebuild"])
    def rebuild_datasets(self, request, queryset) -> None:
        report_each(
            self,
            request,
            queryset.order_by("id"),
            lambda dataset: dataset_rebuild(dataset=dataset, owner=request.user),
            lambda dataset, rebuilt: f"{dataset.name}: rebuilding in job {rebuilt.job_id}",
            name=_name,
        )
