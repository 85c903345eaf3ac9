"""Admin for videos, their label spans and the feature files extracted from them."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.utils.html import format_html_join

from jobs.admin import ServiceDeletionAdmin, admin_link, existing_paths, job_summary, megabytes, pretty_json
from videos.models import FeatureFile, LabelSpan, Video
from videos.services import label_span_create, label_span_delete, label_span_update

SPAN_FIELDS = ("start_frame", "end_frame", "label", "source")


class LabelSpanForm(forms.ModelForm):
    class Meta:
        model = LabelSpan
        fields = SPAN_FIELDS

    def clean(self):
        # The model's constraint checks end >= start; the frame range depends on the video.
        data = super().clean()
        end, video = data.get("end_frame"), getattr(self.instance, "video", None)
        if end is not None and video is not None and end >= video.frame_count:
            self.add_error("end_frame", f"{end} is outside the video ({video.frame_count} frames)")
        return data


class LabelSpanInline(admin.TabularInline):
    model = LabelSpan
    form = LabelSpanForm
    fields = (*SPAN_FIELDS, "created_by", "updated_at")
    readonly_fields = ("created_by", "updated_at")
    extra = 0


class FeatureFileInline(admin.TabularInline):
    model = FeatureFile
    fields = ("filename", "detector", "sample_rate", "status", "num_frames", "num_labeled", "size", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="size")
    def size(self, feature_file: FeatureFile) -> str:
        return megabytes(feature_file.size_bytes)


@admin.register(Video)
class VideoAdmin(ServiceDeletionAdmin):
    list_display = ("stored_name", "video_id", "owner", "duration", "frame_count", "size", "created_at")
    list_filter = (("owner", admin.RelatedOnlyFieldListFilter), "variable_frame_rate", "created_at")
    search_fields = ("video_id", "stored_name", "original_name", "sha256")
    list_select_related = ("owner",)
    date_hierarchy = "created_at"
    fields = (
        "stored_name",
        "video_id",
        "original_name",
        "owner",
        "file",
        "on_disk",
        "sha256",
        "size",
        "fps",
        "frame_count",
        "duration",
        "width",
        "height",
        "nominal_fps",
        "mean_fps",
        "variable_frame_rate",
        "first_timestamp",
        "duplicated_timestamps",
        "missing_timestamps",
        "clock_gaps",
        "created_at",
    )
    readonly_fields = fields
    inlines = (LabelSpanInline, FeatureFileInline)

    # Label spans are edited in the inline; the video's own fields are what probing found.
    def has_change_permission(self, request, obj=None) -> bool:
        return admin.ModelAdmin.has_change_permission(self, request, obj)

    @admin.display(description="size", ordering="size_bytes")
    def size(self, video: Video) -> str:
        return megabytes(video.size_bytes)

    @admin.display(description="file on disk", boolean=True)
    def on_disk(self, video: Video) -> bool:
        return bool(existing_paths(video.file))

    def save_model(self, request, obj, form, change) -> None:
        """Nothing of the video's own is editable; its spans are saved in :meth:`save_formset`."""

    def save_formset(self, request, form, formset, change) -> None:
        if formset.model is not LabelSpan:
            return super().save_formset(request, form, formset, change)
        video = form.instance
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for span_form in formset.deleted_forms:
            if span_form.instance.pk is not None:
                label_span_delete(span=span_form.instance)
                formset.deleted_objects.append(span_form.instance)
        for span_form in formset.forms:
            if span_form in formset.deleted_forms or not span_form.has_changed():
                continue
            values = {name: span_form.cleaned_data[name] for name in SPAN_FIELDS}
            if span_form.instance.pk is None:
                span = label_span_create(video=video, user=request.user, **values)
                formset.new_objects.append(span)
            else:
                span = label_span_update(span=span_form.instance, **values)
                formset.changed_objects.append((span, span_form.changed_data))
        return None


@admin.register(FeatureFile)
class FeatureFileAdmin(ServiceDeletionAdmin):
    list_display = (
        "filename",
        "video_link",
        "owner",
        "detector",
        "sample_rate",
        "status",
        "num_frames",
        "num_labeled",
        "size",
        "created_at",
    )
    list_filter = ("status", "detector", ("owner", admin.RelatedOnlyFieldListFilter), "created_at")
    search_fields = ("filename", "video__video_id")
    list_select_related = ("owner", "video")
    fields = (
        "filename",
        "video_link",
        "owner",
        "status",
        "job_status",
        "path",
        "detector",
        "sample_rate",
        "yolo_model",
        "num_frames",
        "num_labeled",
        "label_distribution_pretty",
        "detected_pretty",
        "columns_list",
        "datasets_list",
        "sha256",
        "size",
        "created_at",
    )
    readonly_fields = fields

    @admin.display(description="video", ordering="video__stored_name")
    def video_link(self, feature_file: FeatureFile) -> str:
        return admin_link(feature_file.video)

    @admin.display(description="size", ordering="size_bytes")
    def size(self, feature_file: FeatureFile) -> str:
        return megabytes(feature_file.size_bytes)

    @admin.display(description="job")
    def job_status(self, feature_file: FeatureFile) -> str:
        return job_summary(feature_file.job)

    @admin.display(description="label distribution")
    def label_distribution_pretty(self, feature_file: FeatureFile) -> str:
        return pretty_json(feature_file.label_distribution)

    @admin.display(description="detected")
    def detected_pretty(self, feature_file: FeatureFile) -> str:
        return pretty_json(feature_file.detected)

    @admin.display(description="columns")
    def columns_list(self, feature_file: FeatureFile) -> str:
        return ", ".join(feature_file.columns) or "-"

    @admin.display(description="used by datasets")
    def datasets_list(self, feature_file: FeatureFile) -> str:
        datasets = list(feature_file.datasets.order_by("id"))
        return format_html_join(", ", "{}", ((admin_link(d),) for d in datasets)) or "-"
