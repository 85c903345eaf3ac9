from rest_framework import serializers

from jobs.serializers import JobSerializer
from learning.models import Ablation, LabellingRound, SuggestedSpan
from models_app.serializers import TrainingParamsSerializer
from taskml.api_fields import param_field
from taskml.pipeline.ablation import ABLATION_GROUPS
from taskml.pipeline.active import SCORES, SUGGESTION_PARAMS
from taskml.pipeline.estimators import MODEL_TYPES
from taskml.pipeline.labels import MAX_LABEL_CHARS


class SuggestedSpanSerializer(serializers.ModelSerializer):
    video_file = serializers.CharField(source="video.stored_name", read_only=True)
    label_span_source = serializers.CharField(source="label_span.source", read_only=True, allow_null=True)

    class Meta:
        model = SuggestedSpan
        fields = [
            "id", "round", "rank", "video", "video_file", "start_frame", "end_frame", "start_time", "end_time",
            "predicted_label", "confidence", "uncertainty", "entropy", "windows", "reasons", "status",
            "final_label", "label_span", "label_span_source", "decided_at",
        ]  # fmt: skip
        read_only_fields = fields


class LabellingRoundSerializer(serializers.ModelSerializer):
    model_file = serializers.CharField(source="model.filename", read_only=True)
    retrained_model_file = serializers.CharField(source="retrained_model.filename", read_only=True, allow_null=True)
    spans = serializers.SerializerMethodField()
    job = JobSerializer(read_only=True)

    class Meta:
        model = LabellingRound
        fields = [
            "id", "model", "model_file", "videos", "feature_files", "params", "state", "status", "retrain",
            "spans_shown", "labels_added", "accuracy_before", "f1_before", "accuracy_after", "f1_after",
            "dataset", "retrained_model", "retrained_model_file", "created_at", "closed_at", "job", "spans",
        ]  # fmt: skip
        read_only_fields = fields

    def get_spans(self, round_: LabellingRound) -> list[dict]:
        spans = round_.spans.select_related("video", "label_span").order_by("rank")
        return SuggestedSpanSerializer(spans, many=True).data


class RoundCreateSerializer(serializers.Serializer):
    model = serializers.IntegerField(help_text="id of one of your trained models")
    videos = serializers.ListField(
        child=serializers.IntegerField(), allow_empty=False, help_text="ids of your videos to look at"
    )
    min_confidence = param_field(SUGGESTION_PARAMS["min_confidence"], default=None)
    min_margin = param_field(SUGGESTION_PARAMS["min_margin"], default=None)
    neighbourhood = param_field(SUGGESTION_PARAMS["neighbourhood"], default=None)
    min_flips = param_field(SUGGESTION_PARAMS["min_flips"], default=None)
    max_gap = param_field(SUGGESTION_PARAMS["max_gap"], default=None)
    min_windows = param_field(SUGGESTION_PARAMS["min_windows"], default=None)
    score = serializers.ChoiceField(choices=SCORES, required=False, help_text="how a span's uncertainty is scored")
    max_spans = param_field(SUGGESTION_PARAMS["max_spans"], default=None)


class RoundCloseSerializer(serializers.Serializer):
    retrain = serializers.BooleanField(default=False)


class CorrectSerializer(serializers.Serializer):
    label = serializers.CharField(max_length=MAX_LABEL_CHARS, help_text="the label the span's frames should carry")


class AblationSerializer(serializers.ModelSerializer):
    dataset_dir = serializers.CharField(source="dataset.name", read_only=True)
    job = JobSerializer(read_only=True)

    class Meta:
        model = Ablation
        fields = [
            "id", "dataset", "dataset_dir", "model_type", "aggregation", "params", "groups", "status",
            "results", "created_at", "job",
        ]  # fmt: skip
        read_only_fields = fields


class AblationCreateSerializer(TrainingParamsSerializer):
    dataset = serializers.IntegerField(help_text="id of one of your built datasets")
    model_type = serializers.ChoiceField(choices=[*MODEL_TYPES, "lightgbm"], default="rf")
    aggregation = serializers.ChoiceField(choices=["stats", "flatten"], default="stats")
    groups = serializers.ListField(
        child=serializers.ChoiceField(choices=list(ABLATION_GROUPS)),
        required=False,
        allow_empty=False,
        help_text="feature groups to train alone (fused, all of the dataset's groups, is always run)",
    )
