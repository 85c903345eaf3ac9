"""Admin for jobs, and the pieces every platform admin shares.

Admin pages are an interface like any other: they read rows and call services. Rows that
workers write (jobs, feature files, datasets, models) are shown read-only, because saving a
form would write back a stale copy over a worker's progress.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from django.contrib import admin, messages
from django.contrib.admin.options import IS_POPUP_VAR
from django.contrib.admin.utils import NestedObjects
from django.db import router
from django.db.models import Model
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import capfirst

from jobs.models import Job
from jobs.services import job_cancel, job_retry
from taskml import deletion, storage
from taskml.domain import ServiceError
from taskml.registry import Registry

# ---------------------------------------------------------------- shared helpers


def admin_link(obj: Model | None, text: str | None = None) -> str:
    """A link to ``obj``'s admin page (its text escaped), or plain text where it has none."""
    if obj is None:
        return "-"
    opts = obj._meta
    try:
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    except NoReverseMatch:
        return str(text if text is not None else obj)
    return format_html('<a href="{}">{}</a>', url, text if text is not None else obj)


def pretty_json(value) -> str:
    return format_html('<pre style="margin: 0">{}</pre>', json.dumps(value, indent=2, sort_keys=True, default=str))


def megabytes(size_bytes: int | None) -> str:
    if not size_bytes:
        return "-"
    return f"{size_bytes / (1024 * 1024):.2f} MB"


def existing_paths(*relative_paths: str) -> list[str]:
    """Those of the stored paths that are on disk now (files or directories)."""
    found = []
    for path in relative_paths:
        try:
            if path and storage.absolute(path).exists():
                found.append(path)
        except ValueError:  # a row pointing outside the data directory: nothing of ours to show
            continue
    return found


def job_summary(job: Job | None) -> str:
    if job is None:
        return "-"
    text = f"job {job.pk}: {job.status}, {job.stage}, {job.progress:.0%}"
    if job.error:
        return format_html("{}<br>{}", admin_link(job, text), job.error)
    return admin_link(job, text)


@dataclass(frozen=True)
class AddedAction:
    """An action that an app above a model's app adds to that model's admin list.

    The list's admin lives in the lower app, which may not import the higher one; the higher app
    registers its action in ``added_actions`` from its own admin module (models_app adds "train a
    model" to the dataset list).
    """

    model: type[Model]
    function: Callable  # function(modeladmin, request, queryset), as Django calls actions
    description: str
    permission: str  # "<app label>.<codename>" a user needs to be offered it


added_actions: Registry[AddedAction] = Registry("admin actions added by higher apps")


class ReadOnlyAdmin(admin.ModelAdmin):
    """View-only pages: nothing is added or edited here; actions and deletion go through services."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        if self.actions is None or IS_POPUP_VAR in request.GET:
            return actions
        for name, added in added_actions.items():
            if added.model is self.model and request.user.has_perm(added.permission):
                actions[name] = (added.function, name, added.description)
        return actions


class DeletionPlan:
    """What deleting some objects takes with it (taskml.deletion's plan), for the confirmation page.

    Several relations are PROTECT so that no ORM cascade removes a feature file from under a
    dataset or a dataset from under a model. The deletion orchestrator removes such dependents
    on purpose, through their own apps' services, together with their files. Django's collector
    would call them "protected" and refuse, so here each dependent the orchestrator deletes is
    listed (nested under what it depends on) with the files that go, and only what nothing
    deletes stays protected.
    """

    def __init__(self, admin_site, request):
        self.site = admin_site
        self.request = request
        self.seen: set[Model] = set()
        self.collected: set[Model] = set()
        self.counts: Counter[str] = Counter()
        self.perms_needed: set[str] = set()
        self._protected: list[Model] = []

    def describe(self, obj: Model) -> str:
        opts = obj._meta
        if self.site.is_registered(type(obj)):
            if not self.site.get_model_admin(type(obj)).has_delete_permission(self.request, obj):
                self.perms_needed.add(opts.verbose_name)
            return format_html("{}: {}", capfirst(opts.verbose_name), admin_link(obj))
        text = str(obj)
        if text == f"{type(obj).__name__} object ({obj.pk})":  # a link row without a name: say what it links
            text = " – ".join(str(getattr(obj, f.name)) for f in opts.concrete_fields if f.many_to_one) or text
        return f"{capfirst(opts.verbose_name)}: {text}"

    def tree(self, obj: Model) -> list:
        if obj in self.seen:
            return []
        self.seen.add(obj)
        collector = NestedObjects(using=router.db_for_write(type(obj)), origin=[obj])
        collector.collect([obj])
        for model, found in collector.model_objs.items():
            new = found - self.collected
            self.collected |= new
            if new:
                self.counts[str(model._meta.verbose_name_plural)] += len(new)
        self._protected.extend(collector.protected)
        nested = collector.nested(self.describe)
        children = list(nested[1]) if len(nested) > 1 else []
        for dependent in deletion.deleted_with(obj):
            children.extend(self.tree(dependent))
        for path in existing_paths(*deletion.files_of(obj)):
            children.append(f"File on disk: {path}")
            self.counts["files on disk"] += 1
        return [nested[0], children] if children else [nested[0]]

    def protected(self) -> list[str]:
        """Descriptions of protected objects that nothing in the plan deletes."""
        left, shown = [], set()
        for obj in self._protected:
            if obj not in self.collected and obj not in shown:
                shown.add(obj)
                left.append(self.describe(obj))
        return left


class ServiceDeletionAdmin(ReadOnlyAdmin):
    """Deletes through the deletion orchestrator (cascading), so stored files go with the rows."""

    def get_deleted_objects(self, objs, request):
        plan = DeletionPlan(self.admin_site, request)
        to_delete = [item for obj in objs for item in plan.tree(obj)]
        return to_delete, dict(plan.counts), plan.perms_needed, plan.protected()

    def delete_model(self, request, obj) -> None:
        deletion.delete(obj, cascade=True)

    def delete_queryset(self, request, queryset) -> None:
        # One transaction: files are removed once every row is gone, or nothing changes.
        deletion.delete_all(list(queryset), cascade=True)


def report_each(modeladmin: admin.ModelAdmin, request, objects, act, describe, name=str) -> None:
    """Run ``act(obj)`` for each object and report each outcome; a service's refusal stops only that one."""
    for obj in objects:
        try:
            result = act(obj)
        except ServiceError as exc:
            label = name(obj)
            text = exc.message if label in exc.message else f"{label}: {exc.message}"
            modeladmin.message_user(request, text, messages.ERROR)
        else:
            modeladmin.message_user(request, describe(obj, result), messages.SUCCESS)


# ---------------------------------------------------------------- jobs


def _job_name(job: Job) -> str:
    return f"job {job.pk}"


@admin.register(Job)
class JobAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "kind",
        "status",
        "stage",
        "progress_percent",
        "owner",
        "attempts",
        "created_at",
        "duration",
        "target_link",
    )
    list_filter = ("status", "kind", "error_kind", ("owner", admin.RelatedOnlyFieldListFilter), "created_at")
    search_fields = ("error", "celery_task_id", "worker")
    list_select_related = ("owner", "target_type")
    actions = ("cancel_jobs", "retry_jobs")
    fieldsets = (
        (None, {"fields": ("kind", "status", "stage", "progress_percent", "owner", "target_link", "retry_of_link")}),
        ("Outcome", {"fields": ("error", "error_kind", "inputs_pretty", "outputs_pretty")}),
        (
            "Execution",
            {
                "fields": (
                    "celery_task_id",
                    "worker",
                    "attempts",
                    "cancel_requested",
                    "created_at",
                    "started_at",
                    "finished_at",
                    "heartbeat_at",
                    "duration",
                    "waited",
                    "retries_list",
                )
            },
        ),
    )
    readonly_fields = ("progress_percent", "target_link", "retry_of_link", "inputs_pretty", "outputs_pretty")
    readonly_fields += ("duration", "waited", "retries_list")

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("target")

    def has_delete_permission(self, request, obj=None) -> bool:
        # A job row is what its worker reports to; only finished ones may go.
        return super().has_delete_permission(request, obj) and (obj is None or obj.is_terminal)

    def has_operate_permission(self, request) -> bool:
        return request.user.has_perm("jobs.change_job")

    @admin.display(description="progress", ordering="progress")
    def progress_percent(self, job: Job) -> str:
        return f"{job.progress:.0%}"

    @admin.display(description="seconds")
    def duration(self, job: Job) -> str:
        return "-" if job.seconds is None else f"{job.seconds:.1f}"

    @admin.display(description="seconds queued")
    def waited(self, job: Job) -> str:
        return "-" if job.queue_seconds is None else f"{job.queue_seconds:.1f}"

    @admin.display(description="target")
    def target_link(self, job: Job) -> str:
        if not job.target_type_id:
            return "-"
        target = job.target
        if target is None:
            return f"{job.target_type.model} {job.target_id} (deleted)"
        return admin_link(target)

    @admin.display(description="retry of")
    def retry_of_link(self, job: Job) -> str:
        return admin_link(job.retry_of)

    @admin.display(description="retried as")
    def retries_list(self, job: Job) -> str:
        retries = list(job.retries.order_by("id"))
        if not retries:
            return "-"
        return format_html_join(", ", "{}", ((admin_link(r, f"job {r.pk}"),) for r in retries))

    @admin.display(description="inputs")
    def inputs_pretty(self, job: Job) -> str:
        return pretty_json(job.inputs)

    @admin.display(description="outputs")
    def outputs_pretty(self, job: Job) -> str:
        return pretty_json(job.outputs)

    @admin.action(description="Cancel selected jobs", permissions=["operate"])
    def cancel_jobs(self, request, queryset) -> None:
        def describe(job: Job, cancelled: Job) -> str:
            if cancelled.status == Job.Status.CANCELLED:
                return f"job {job.pk}: cancelled"
            return f"job {job.pk}: cancel requested; it stops at its next progress report"

        report_each(self, request, queryset.order_by("id"), lambda job: job_cancel(job=job), describe, name=_job_name)

    @admin.action(description="Retry selected jobs", permissions=["operate"])
    def retry_jobs(self, request, queryset) -> None:
        report_each(
            self,
            request,
            queryset.order_by("id"),
            lambda job: job_retry(job=job),
            lambda job, new: f"job {job.pk}: retried as job {new.pk}",
            name=_job_name,
        )
