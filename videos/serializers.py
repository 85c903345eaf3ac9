from rest_framework import serializers

from jobs.serializers import JobSerializer
from taskml.api_fields import param_field
from taskml.pipeline.detectors import DETECTOR_KINDS
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
        ]  # fmt: skip
        read_only_fields = fields


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

    class Meta:
        model = FeatureFile
        fields = [
            "id", "filename", "path", "video", "video_file", "detector", "sample_rate", "yolo_model", "status",
            "num_frames", "num_labeled", "columns", "label_distribution", "detected", "sha256", "size_bytes",
            "created_at", "job",
        ]  # fmt: skip
        read_only_fields = fields


class VideoExtractResponseSerializer(serializers.Serializer):
    feature_file = FeatureFileSerializer()
    job = JobSerializer()
