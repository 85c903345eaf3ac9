"""Admin for retraining: policies (run now, roll back), runs with their holdout comparison, promotion history."""

from __future__ import annotations

from django.contrib import admin

from jobs.admin import ReadOnlyAdmin, ServiceDeletionAdmin, admin_link, job_summary, pretty_json, report_each
from retraining.models import Promotion, RetrainPolicy, RetrainRun
from retraining.services import retrain_policy_rollback, retrain_run_request


@admin.register(RetrainPolicy)
class RetrainPolicyAdmin(ServiceDeletionAdmin):
    list_display = ("name", "owner", "champion_link", "enabled", "min_new_labels", "schedule", "margin", "incremental")
    list_filter = ("enabled", "incremental", ("owner", admin.RelatedOnlyFieldListFilter))
    search_fields = ("name",)
    list_select_related = ("owner", "champion")
    readonly_fields = (
        "name", "owner", "training_scope", "training", "holdout", "detector", "dataset_pretty", "model_type",
        "aggregation", "model_pretty", "seed", "min_new_labels", "schedule", "margin", "incremental", "enabled",
        "champion_link", "labels_since", "created_at", "updated_at",
    )  # fmt: skip
    fields = readonly_fields
    actions = ("run_now", "roll_back")

    @admin.display(description="champion")
    def champion_link(self, policy: RetrainPolicy) -> str:
        return admin_link(policy.champion, policy.champion.version_label if policy.champion else None)

    @admin.display(description="schedule")
    def schedule(self, policy: RetrainPolicy) -> str:
        if policy.schedule_interval_seconds:
            return f"every {policy.schedule_interval_seconds} s"
        return policy.schedule_crontab or "-"

    @admin.display(description="training videos")
    def training(self, policy: RetrainPolicy) -> str:
        if policy.training_scope == RetrainPolicy.Scope.ALL:
            return "all labelled videos but the held-out ones"
        return ", ".join(v.stored_name for v in policy.training_videos.all())

    @admin.display(description="held-out videos (frozen)")
    def holdout(self, policy: RetrainPolicy) -> str:
        return ", ".join(v.stored_name for v in policy.holdout_videos.all())

    @admin.display(description="dataset parameters")
    def dataset_pretty(self, policy: RetrainPolicy) -> str:
        return pretty_json(policy.dataset_params)

    @admin.display(description="model parameters")
    def model_pretty(self, policy: RetrainPolicy) -> str:
        return pretty_json(policy.model_params)

    @admin.action(description="Run now (rebuild, train a challenger, compare)")
    def run_now(self, request, queryset):
        report_each(
            self, request, queryset, lambda p: retrain_run_request(policy=p), lambda p, run: f"{p}: run {run.pk} queued"
        )

    @admin.action(description="Roll back to the previous champion")
    def roll_back(self, request, queryset):
        report_each(
            self,
            request,
            queryset,
            lambda p: retrain_policy_rollback(policy=p, user=request.user),
            lambda p, promotion: f"{p}: champion {promotion.model.version_label} again",
        )


@admin.register(RetrainRun)
class RetrainRunAdmin(ReadOnlyAdmin):
    list_display = ("id", "policy", "trigger", "status", "decision", "champion_f1", "challenger_f1", "created_at")
    list_filter = ("status", "decision", "trigger", ("owner", admin.RelatedOnlyFieldListFilter))
    search_fields = ("policy__name", "reason")
    list_select_related = ("policy", "job")
    readonly_fields = (
        "policy", "trigger", "status", "job_status", "new_labels", "dataset_link", "challenger_link",
        "champion_before_link", "decision", "reason", "champion_pretty", "challenger_pretty", "incremental_pretty",
        "report_pretty", "created_at", "finished_at",
    )  # fmt: skip
    fields = readonly_fields

    @admin.display(description="champion F1 (holdout)")
    def champion_f1(self, run: RetrainRun):
        return run.champion_metrics.get("f1_macro")

    @admin.display(description="challenger F1 (holdout)")
    def challenger_f1(self, run: RetrainRun):
        return run.challenger_metrics.get("f1_macro")

    @admin.display(description="job")
    def job_status(self, run: RetrainRun) -> str:
        return job_summary(run.job)

    @admin.display(description="dataset")
    def dataset_link(self, run: RetrainRun) -> str:
        return admin_link(run.dataset)

    @admin.display(description="challenger")
    def challenger_link(self, run: RetrainRun) -> str:
        return admin_link(run.challenger)

    @admin.display(description="champion at the time")
    def champion_before_link(self, run: RetrainRun) -> str:
        return admin_link(run.champion_before)

    @admin.display(description="champion on the holdout")
    def champion_pretty(self, run: RetrainRun) -> str:
        return pretty_json(run.champion_metrics)

    @admin.display(description="challenger on the holdout")
    def challenger_pretty(self, run: RetrainRun) -> str:
        return pretty_json(run.challenger_metrics)

    @admin.display(description="incremental vs full retrain")
    def incremental_pretty(self, run: RetrainRun) -> str:
        return pretty_json(run.incremental)

    @admin.display(description="report")
    def report_pretty(self, run: RetrainRun) -> str:
        return pretty_json(run.report)


@admin.register(Promotion)
class PromotionAdmin(ReadOnlyAdmin):
    list_display = ("at", "policy", "action", "model", "previous", "user", "reason")
    list_filter = ("action", ("owner", admin.RelatedOnlyFieldListFilter))
    search_fields = ("policy__name", "reason")
    list_select_related = ("policy", "model", "previous", "user")
