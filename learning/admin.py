"""Admin for the learning loop: labelling rounds with their spans, and ablations with their comparison."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html, format_html_join

from jobs.admin import ServiceDeletionAdmin, admin_link, job_summary, pretty_json, report_each
from learning.models import Ablation, LabellingRound, SuggestedSpan
from learning.services import labelling_round_close, suggested_span_decide


class SuggestedSpanInline(admin.TabularInline):
    model = SuggestedSpan
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ("rank", "video", "start_frame", "end_frame", "predicted_label", "confidence", "uncertainty", "status",
              "final_label")  # fmt: skip
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(LabellingRound)
class LabellingRoundAdmin(ServiceDeletionAdmin):
    list_display = ("__str__", "owner", "state", "status", "spans_shown", "labels_added", "accuracy_before",
                    "accuracy_after", "created_at", "closed_at")  # fmt: skip
    list_filter = ("state", "status", ("owner", admin.RelatedOnlyFieldListFilter), "created_at")
    list_select_related = ("owner", "model")
    search_fields = ("model__filename",)
    inlines = [SuggestedSpanInline]
    actions = ["close_rounds", "close_and_retrain"]
    fieldsets = (
        (None, {"fields": ("owner", "model_link", "videos_list", "state", "job_status", "params_pretty")}),
        (
            "Outcome",
            {
                "fields": (
                    "spans_shown",
                    "labels_added",
                    "retrain",
                    "accuracy_before",
                    "f1_before",
                    "accuracy_after",
                    "f1_after",
                    "dataset_link",
                    "retrained_link",
                )
            },
        ),  # fmt: skip
        ("Times", {"fields": ("created_at", "closed_at")}),
    )
    readonly_fields = ("owner", "model_link", "videos_list", "state", "job_status", "params_pretty", "spans_shown",
                       "labels_added", "retrain", "accuracy_before", "f1_before", "accuracy_after", "f1_after",
                       "dataset_link", "retrained_link", "created_at", "closed_at")  # fmt: skip

    @admin.display(description="model")
    def model_link(self, round_: LabellingRound) -> str:
        return admin_link(round_.model)

    @admin.display(description="videos")
    def videos_list(self, round_: LabellingRound) -> str:
        return format_html_join(", ", "{}", ((admin_link(v),) for v in round_.videos.all()))

    @admin.display(description="job")
    def job_status(self, round_: LabellingRound) -> str:
        return job_summary(round_.job)

    @admin.display(description="parameters")
    def params_pretty(self, round_: LabellingRound) -> str:
        return pretty_json(round_.params)

    @admin.display(description="rebuilt dataset")
    def dataset_link(self, round_: LabellingRound) -> str:
        return admin_link(round_.dataset)

    @admin.display(description="retrained model")
    def retrained_link(self, round_: LabellingRound) -> str:
        return admin_link(round_.retrained_model)

    @admin.action(description="Close the selected rounds (no retraining)")
    def close_rounds(self, request, queryset):
        report_each(self, request, queryset, lambda r: labelling_round_close(round_=r, retrain=False,
                    user=request.user), lambda r, _: f"{r}: closed")  # fmt: skip

    @admin.action(description="Close the selected rounds and retrain")
    def close_and_retrain(self, request, queryset):
        report_each(self, request, queryset, lambda r: labelling_round_close(round_=r, retrain=True,
                    user=request.user), lambda r, _: f"{r}: closed, retraining queued")  # fmt: skip


@admin.register(SuggestedSpan)
class SuggestedSpanAdmin(admin.ModelAdmin):
    list_display = ("__str__", "round_link", "rank", "video", "predicted_label", "confidence", "uncertainty",
                    "status", "final_label")  # fmt: skip
    list_filter = ("status", "predicted_label", "round__state")
    list_select_related = ("round", "video")
    search_fields = ("predicted_label", "final_label", "video__stored_name")
    actions = ["accept_spans", "reject_spans"]
    readonly_fields = ("round_link", "video", "start_frame", "end_frame", "start_time", "end_time",
                       "predicted_label", "confidence", "uncertainty", "entropy", "windows", "reasons", "rank",
                       "status", "final_label", "label_span", "decided_by", "decided_at")  # fmt: skip
    fields = readonly_fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="round", ordering="round_id")
    def round_link(self, span: SuggestedSpan) -> str:
        return admin_link(span.round)

    @admin.action(description="Accept the selected spans (their predicted label)")
    def accept_spans(self, request, queryset):
        report_each(self, request, queryset, lambda s: suggested_span_decide(span=s, decision="accept",
                    user=request.user), lambda s, r: f"{s}: accepted as {r.final_label}")  # fmt: skip

    @admin.action(description="Reject the selected spans")
    def reject_spans(self, request, queryset):
        report_each(self, request, queryset, lambda s: suggested_span_decide(span=s, decision="reject",
                    user=request.user), lambda s, _: f"{s}: rejected")  # fmt: skip


@admin.register(Ablation)
class AblationAdmin(ServiceDeletionAdmin):
    list_display = ("__str__", "owner", "dataset_link", "model_type", "aggregation", "status", "created_at")
    list_filter = ("status", "model_type", ("owner", admin.RelatedOnlyFieldListFilter), "created_at")
    list_select_related = ("owner", "dataset")
    fields = ("owner", "dataset_link", "model_type", "aggregation", "params_pretty", "groups", "job_status",
              "comparison", "results_pretty", "created_at")  # fmt: skip
    readonly_fields = fields

    @admin.display(description="dataset", ordering="dataset_id")
    def dataset_link(self, ablation: Ablation) -> str:
        return admin_link(ablation.dataset)

    @admin.display(description="job")
    def job_status(self, ablation: Ablation) -> str:
        return job_summary(ablation.job)

    @admin.display(description="parameters")
    def params_pretty(self, ablation: Ablation) -> str:
        return pretty_json(ablation.params)

    @admin.display(description="results")
    def results_pretty(self, ablation: Ablation) -> str:
        return pretty_json(ablation.results)

    @admin.display(description="comparison")
    def comparison(self, ablation: Ablation) -> str:
        results = ablation.results or {}
        groups = results.get("groups") or {}
        if not groups:
            return "-"
        rows = (
            (g, r["num_features"], f"{r['accuracy']:.3f}", f"{r.get('delta_accuracy', 0):+.3f}",
             f"{r['f1_macro']:.3f}", f"{r.get('delta_f1_macro', 0):+.3f}")
            for g, r in ((g, groups[g]) for g in results.get("order", groups))
        )  # fmt: skip
        skipped = "; ".join(f"{g}: {why}" for g, why in (results.get("skipped") or {}).items())
        return format_html(
            "<table><thead><tr><th>group</th><th>features</th><th>accuracy</th><th>Δ</th><th>F1 macro</th>"
            "<th>Δ</th></tr></thead><tbody>{}</tbody></table>{}",
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows),
            format_html("<p>skipped: {}</p>", skipped) if skipped else "",
        )
