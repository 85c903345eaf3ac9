import os

from django.http import HttpResponse
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from taskml import deletion, storage
from taskml.domain import TooLarge, ValidationFailed
from taskml.pipeline.errors import InputError
from taskml.pipeline.interchange import (
    DEFAULT_BACKGROUND,
    LS_FROM_NAME,
    LS_TO_NAME,
    MAX_LABEL_FILE_BYTES,
    ImportOptions,
)
from taskml.pipeline.sources import frame_jpeg
from videos.interchange import labels_export, labels_import
from videos.models import LabelSpan
from videos.selectors import feature_file_list, label_span_list, video_list
from videos.serializers import (
    ExtractRequestSerializer,
    FeatureFileSerializer,
    LabelExportQuerySerializer,
    LabelImportReportSerializer,
    LabelImportSerializer,
    LabelSpanSerializer,
    VideoClockSerializer,
    VideoExtractResponseSerializer,
    VideoSerializer,
    VideoUploadSerializer,
)
from videos.services import (
    feature_file_request,
    label_span_create,
    label_span_delete,
    label_span_update,
    video_clock,
    video_create,
)
from videos.uploads import upload_limit_mb

CASCADE = OpenApiParameter(
    "cascade", OpenApiTypes.BOOL, description="also delete what depends on it (feature files, datasets, models)"
)


def wants_cascade(request) -> bool:
    return request.query_params.get("cascade", "").lower() in ("1", "true", "yes")


class FormatIsAFileFormat(DefaultContentNegotiation):
    """``?format=`` names the label file's format here, not a DRF renderer: errors stay JSON."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class VideoViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """Uploaded videos; upload with an optional labels CSV, start extraction, delete."""

    serializer_class = VideoSerializer
    parser_classes = [MultiPartParser, FormParser, JSONParser]
    throttle_scope = "uploads"  # POSTs (upload, extract): TASKML_THROTTLE_UPLOADS per user
    filterset_fields = {"video_id": ["exact"], "created_at": ["gte", "lte"]}
    search_fields = ["video_id", "original_name", "stored_name"]
    ordering_fields = ["created_at", "duration", "size_bytes"]

    def get_queryset(self):
        return video_list(user=self.request.user).select_related("owner")

    @extend_schema(request={"multipart/form-data": VideoUploadSerializer}, responses={201: VideoSerializer})
    def create(self, request):
        data = request.data  # parsing the body is what runs the upload handler that marks an oversized file
        too_large = getattr(request._request, "upload_too_large", None)
        if too_large:
            raise TooLarge(too_large, f"the upload is larger than the limit of {upload_limit_mb()} MB")
        form = VideoUploadSerializer(data=data)
        form.is_valid(raise_exception=True)
        video = video_create(
            owner=request.user,
            upload=form.validated_data["video"],
            video_id=form.validated_data.get("video_id"),
            labels_upload=form.validated_data.get("labels_csv"),
        )
        return Response(VideoSerializer(video, context={"request": request}).data, status=status.HTTP_201_CREATED)

    @extend_schema(parameters=[CASCADE])
    def destroy(self, request, pk=None):
        deletion.delete(self.get_object(), cascade=wants_cascade(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        parameters=[OpenApiParameter("width", OpenApiTypes.INT, description="largest width (64..1920, default 960)")],
        responses={(200, "image/jpeg"): OpenApiTypes.BINARY},
    )
    @action(detail=True, methods=["get"], url_path=r"frames/(?P<index>\d+)")
    def frame(self, request, pk=None, index=None):
        """One frame as JPEG: the labeller's frame-accurate player (any codec, any browser)."""
        video = self.get_object()
        try:
            width = min(max(int(request.query_params.get("width", 960)), 64), 1920)
        except ValueError:
            raise ValidationFailed("width", "must be an integer") from None
        clock = video_clock(video=video)
        index = int(index)
        if index >= clock.frame_count and not clock.synthetic:
            raise ValidationFailed("index", f"frame {index} is outside the video (0..{clock.frame_count - 1})")
        # An irregular clock (variable rate, gaps): the frame is found by its timestamp, not index / fps.
        at = clock.first_timestamp + clock.start_of(index) if clock.irregular else None
        try:
            data = frame_jpeg(storage.absolute(video.file), index, max_width=width, container_time=at)
        except InputError as exc:
            raise ValidationFailed("index", str(exc)) from None
        response = HttpResponse(data, content_type="image/jpeg")
        response["Cache-Control"] = "private, max-age=86400"
        return response

    @extend_schema(request=ExtractRequestSerializer, responses={202: VideoExtractResponseSerializer})
    @action(detail=True, methods=["post"])
    def extract(self, request, pk=None):
        """Start feature extraction; follow the returned job."""
        video = self.get_object()
        form = ExtractRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        feature_file = feature_file_request(
            owner=request.user,
            video=video,
            detector=form.validated_data["detector_type"],
            sample_rate=form.validated_data["sample_rate"],
        )
        context = {"request": request}
        return Response(
            {
                "feature_file": FeatureFileSerializer(feature_file, context=context).data,
                "job": FeatureFileSerializer(feature_file, context=context).data["job"],
            },
            status=status.HTTP_202_ACCEPTED,
        )

    @extend_schema(responses={200: VideoClockSerializer})
    @action(detail=True, methods=["get"])
    def clock(self, request, pk=None):
        """The video's frame clock: what probing found and every frame's time (seconds from frame 0)."""
        clock = video_clock(video=self.get_object())
        return Response({**clock.facts(), "timestamps": [round(float(t), 6) for t in clock.timestamps]})

    @extend_schema(request={"multipart/form-data": LabelImportSerializer}, responses={200: LabelImportReportSerializer})
    @action(detail=True, methods=["post"], url_path="labels/import", parser_classes=[MultiPartParser, FormParser])
    def labels_import(self, request, pk=None):
        """Import a label file (csv, label_studio, cvat_images, boris, activitynet, mstcn) as label spans."""
        video = self.get_object()
        data = request.data
        too_large = getattr(request._request, "upload_too_large", None)
        if too_large:
            raise TooLarge(too_large, f"the upload is larger than the limit of {upload_limit_mb()} MB")
        form = LabelImportSerializer(data=data)
        form.is_valid(raise_exception=True)
        v = form.validated_data
        upload = v["file"]
        mapping = v.get("mapping")
        options = ImportOptions(
            key=v.get("key") or None,
            fps=v.get("fps"),
            source=v["source"],
            background=v.get("background") or DEFAULT_BACKGROUND,
            mapping=read_capped(mapping, "mapping") if mapping is not None else None,
        )
        report = labels_import(
            video=video,
            user=request.user,
            fmt=v["format"],
            data=read_capped(upload, "file"),
            filename=os.path.basename(upload.name or "labels"),
            mode=v["mode"],
            force=v["force"],
            options=options,
        )
        return Response(report)

    @extend_schema(
        parameters=[LabelExportQuerySerializer],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
    )
    @action(detail=True, methods=["get"], url_path="labels/export", content_negotiation_class=FormatIsAFileFormat)
    def labels_export(self, request, pk=None):
        """The video's labels as a file (csv, csv_frames, label_studio, cvat_images, boris, activitynet, mstcn)."""
        video = self.get_object()
        form = LabelExportQuerySerializer(data=request.query_params)
        form.is_valid(raise_exception=True)
        v = form.validated_data
        exported = labels_export(
            video=video,
            fmt=v["format"],
            url=v.get("url") or "",
            from_name=v.get("from_name") or LS_FROM_NAME,
            to_name=v.get("to_name") or LS_TO_NAME,
            background=v.get("background") or DEFAULT_BACKGROUND,
        )
        return file_response(exported)


def read_capped(upload, field: str) -> bytes:
    """An uploaded label file's bytes, refused past the label-file cap before it is read."""
    if upload.size is not None and upload.size > MAX_LABEL_FILE_BYTES:
        raise TooLarge(field, f"{upload.size:,} bytes; label files are limited to {MAX_LABEL_FILE_BYTES:,}")
    return upload.read(MAX_LABEL_FILE_BYTES + 1)


def file_response(exported) -> HttpResponse:
    response = HttpResponse(exported.data, content_type=exported.content_type)
    response["Content-Disposition"] = f'attachment; filename="{exported.filename}"'
    return response


class LabelSpanFilter(filters.FilterSet):
    class Meta:
        model = LabelSpan
        fields = {"video": ["exact"], "label": ["exact"], "source": ["exact"], "start_frame": ["gte", "lte"]}


class LabelSpanViewSet(viewsets.ModelViewSet):
    """Labelled frame spans (inclusive) of your videos."""

    serializer_class = LabelSpanSerializer
    filterset_class = LabelSpanFilter
    ordering_fields = ["start_frame", "created_at"]

    def get_queryset(self):
        return label_span_list(user=self.request.user)

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = label_span_create(
            video=data["video"],
            start_frame=data["start_frame"],
            end_frame=data["end_frame"],
            label=data["label"],
            source=data.get("source", LabelSpan.Source.BROWSER),
            user=self.request.user,
        )

    def perform_update(self, serializer):
        changes = {k: v for k, v in serializer.validated_data.items() if k != "video"}
        serializer.instance = label_span_update(span=serializer.instance, **changes)

    def perform_destroy(self, instance):
        label_span_delete(span=instance)


class FeatureFileViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """Feature files (per-frame Parquet) extracted from your videos."""

    serializer_class = FeatureFileSerializer
    filterset_fields = {"video": ["exact"], "status": ["exact"], "detector": ["exact"], "filename": ["exact"]}
    search_fields = ["filename", "video__video_id"]
    ordering_fields = ["created_at", "num_frames"]

    def get_queryset(self):
        return feature_file_list(user=self.request.user).select_related("job", "job__target_type")

    @extend_schema(parameters=[CASCADE])
    def destroy(self, request, pk=None):
        deletion.delete(self.get_object(), cascade=wants_cascade(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
