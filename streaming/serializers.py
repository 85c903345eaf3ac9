from rest_framework import serializers

from streaming.models import LiveSession
from taskml.api_fields import param_field
from taskml.pipeline.online import SMOOTHING_PARAMS
from taskml.pipeline.sources import CAMERA_INDEX


class LiveSessionSerializer(serializers.ModelSerializer):
    model = serializers.IntegerField(source="trained_model_id", read_only=True)
    model_file = serializers.CharField(source="trained_model.filename", read_only=True)
    video_file = serializers.CharField(source="video.stored_name", read_only=True, allow_null=True)
    websocket = serializers.SerializerMethodField()

    class Meta:
        model = LiveSession
        fields = [
            "id", "model", "model_file", "policy", "source_kind", "video", "video_file", "url", "camera_index",
            "realtime", "smoothing", "status", "error", "frames_processed", "windows_predicted", "frames_dropped",
            "last_prediction", "created_at", "started_at", "finished_at", "websocket",
        ]  # fmt: skip
        read_only_fields = fields

    def get_websocket(self, session: LiveSession) -> str:
        return f"/ws/streams/{session.pk}/"


class SmoothingSerializer(serializers.Serializer):
    method = serializers.ChoiceField(choices=["none", "median", "ema", "hysteresis"], default="none")
    k = param_field(SMOOTHING_PARAMS["k"])
    alpha = param_field(SMOOTHING_PARAMS["alpha"])
    min_duration = param_field(SMOOTHING_PARAMS["min_duration"])


class LiveSessionCreateSerializer(serializers.Serializer):
    model = serializers.IntegerField(required=False, help_text="id of one of your trained models")
    policy = serializers.IntegerField(
        required=False, help_text="id of one of your retraining policies: follow its champion (the model if none given)"
    )
    source = serializers.ChoiceField(choices=LiveSession.Source.choices)
    video = serializers.IntegerField(required=False, help_text="video source: id of one of your videos")
    url = serializers.CharField(required=False, help_text="url source: rtsp://, http(s)://, rtmp://, udp://, tcp://")
    camera_index = param_field(CAMERA_INDEX)
    realtime = serializers.BooleanField(default=True, help_text="video source: play at the video's own speed")
    smoothing = SmoothingSerializer(required=False)
