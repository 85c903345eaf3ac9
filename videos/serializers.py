from rest_framework import serializers

from jobs.serializers import JobSerializer
from taskml.api_fields import param_field
from taskml.pipeline.detectors import DETECTOR_KINDS
from taskml.pipeline.interchange import EXPORT_FORMATS, IMPORT_FORMATS, LABEL_FPS
from taskml.pipeline.params import SAMPLE_RATE
from videos.models import FeatureFile, LabelSpan, Video


class VideoSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True)
    label_spans = serializers.IntegerField(source="label_spans.count", read_only=True)

    class Meta:
        model = Video
        fields = [
            "id", "owner", "video_id", "stored_name", "original_name", "sha256", "size_bytes", "fps",
            "frame_count", "duration", "width", "height", "label_spans", "created_at",
            "nominal_fps", "mean_fps", "variable_frame_rate", "first_timestamp", "duplicated_timestamps",
            "missing_timestamps", "clock_gaps", "clock_irregular",
        ]  # fmt: skip
        read_only_fields = fields

    clock_irregular = serializers.BooleanField(read_only=True, help_text="the labeller warns about this clock")


class VideoClockSerializer(serializers.Serializer):
    nominal_fps = serializers.FloatField()
    mean_fps = serializers.FloatField()
    variable_frame_rate = serializers.BooleanField()
    interval_spread = serializers.FloatField()
    first_timestamp = serializers.FloatField()
    duplicated_timestamps = serializers.IntegerField()
    missing_timestamps = serializers.IntegerField()
    gaps = serializers.IntegerField()
    frame_count = serializers.IntegerField()
    duration = serializers.FloatField()
    time_base = serializers.CharField()
    irregular = serializers.BooleanField()
    synthetic = serializers.BooleanField()
    timestamps = serializers.ListField(child=serializers.FloatField(), help_text="each frame's time, seconds")


class LabelImportSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="the label file")
    format = serializers.ChoiceField(choices=IMPORT_FORMATS)
    mode = serializers.ChoiceField(choices=["replace", "merge"], default="replace")
    force = serializers.BooleanField(default=False, help_text="import a file that does not fit, dropping what does not")
    key = serializers.CharField(
        required=False, max_length=300, help_text="activitynet: the database key; label_studio: the task's file name"
    )
    fps = param_field(LABEL_FPS, default=None)
    source = serializers.ChoiceField(
        choices=["annotations", "predictions"], default="annotations", help_text="label_studio: which results"
    )
    background = serializers.CharField(required=False, max_length=100, help_text="mstcn: the no-task class")
    mapping = serializers.FileField(required=False, help_text="mstcn: mapping.txt")


class LabelImportReportSerializer(serializers.Serializer):
    video = serializers.IntegerField()
    format = serializers.CharField()
    mode = serializers.CharField()
    source = serializers.CharField()
    spans_created = serializers.IntegerField()
    spans_replaced = serializers.IntegerField()
    frames_labelled = serializers.DictField(child=serializers.IntegerField())
    frames_dropped = serializers.DictField(child=serializers.IntegerField())
    forced = serializers.ListField(child=serializers.CharField())
    notes = serializers.ListField(child=serializers.CharField())
    declared = serializers.DictField()
    clock = serializers.DictField()


class LabelExportQuerySerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=EXPORT_FORMATS)
    from_name = serializers.CharField(required=False, max_length=100, help_text="label_studio: the control's name")
    to_name = serializers.CharField(required=False, max_length=100, help_text="label_studio: the video tag's name")
    background = serializers.CharField(required=False, max_length=100, help_text="mstcn: written for unlabelled frames")
    url = serializers.CharField(
        required=False, max_length=2000, help_text="label_studio: data.video of the task (default: the file name)"
    )


class VideoUploadSerializer(serializers.Serializer):
    video = serializers.FileField(help_text="the video file (probed; the extension is not trusted)")
    video_id = serializers.CharField(required=False, help_text="identifier stored in feature files")
    labels_csv = serializers.FileField(
        required=False, help_text="frame_index,label or start_frame,end_frame,label (UTF-8 CSV)"
    )


class ExtractRequestSerializer(serializers.Serializer):
    detector_type = serializers.ChoiceField(choices=DETECTOR_KINDS, default="fusion")
    sample_rate = param_field(SAMPLE_RATE)


class LabelSpanSerializer(serializers.ModelSerializer):
    video = serializers.PrimaryKeyRelatedField(queryset=Video.objects.all())

    class Meta:
        model = LabelSpan
        fields = ["id", "video", "start_frame", "end_frame", "label", "source", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]

    def get_fields(self):
        fields = super().get_fields()
        request = self.context.get("request")
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            fields["video"].queryset = Video.objects.none()
        elif not user.is_staff:
            fields["video"].queryset = Video.objects.filter(owner=user)
        return fields


class FeatureFileSerializer(serializers.ModelSerializer):
    video_file = serializers.CharField(source="video.stored_name", read_only=True)
    job = JobSerializer(read_only=True, allow_null=True)
    object_detector = serializers.SerializerMethodField(
        help_text="which object detector ran: backend (tflite-ssd, yolo-onnx, yolo-torch), model, sha256 or "
        "weights digest, untrained (a YOLO config); null when objects were not looked for"
    )

    def get_object_detector(self, obj) -> dict | None:
        return (obj.detected or {}).get("object_detector")

    class Meta:
        model = FeatureFile
        fields = [
            "id", "filename", "path", "video", "video_file", "detector", "sample_rate", "yolo_model", "status",
            "num_frames", "num_labeled", "columns", "label_distribution", "detected", "object_detector", "sha256",
            "size_bytes", "created_at", "job",
        ]  # fmt: skip
        read_only_fields = fields


class VideoExtractResponseSerializer(serializers.Serializer):
    feature_file = FeatureFileSerializer()
    job = JobSerializer()
