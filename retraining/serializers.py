from rest_framework import serializers

from jobs.serializers import JobSerializer
from retraining.models import Promotion, RetrainPolicy, RetrainRun
from retraining.services import POLICY_PARAMS
from taskml.api_fields import param_field
from taskml.pipeline.dataset import DATASET_PARAMS
from taskml.pipeline.params import SEED


class RetrainPolicySerializer(serializers.ModelSerializer):
    training_videos = serializers.SerializerMethodField()
    holdout_videos = serializers.SerializerMethodField()
    champion_version = serializers.CharField(source="champion.version_label", read_only=True, allow_null=True)
    new_labels = serializers.SerializerMethodField()
    periodic_task = serializers.CharField(source="periodic_task.name", read_only=True, allow_null=True)

    class Meta:
        model = RetrainPolicy
        fields = [
            "id", "name", "training_scope", "training_videos", "holdout_videos", "detector", "dataset_params",
            "model_type", "aggregation", "model_params", "seed", "min_new_labels", "new_labels",
            "schedule_interval_seconds", "schedule_crontab", "periodic_task", "margin", "incremental", "enabled",
            "champion", "champion_version", "labels_since", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = fields

    def get_training_videos(self, policy: RetrainPolicy) -> list[int]:
        return sorted(v.pk for v in policy.training_videos.all())

    def get_holdout_videos(self, policy: RetrainPolicy) -> list[int]:
        return sorted(v.pk for v in policy.holdout_videos.all())

    def get_new_labels(self, policy: RetrainPolicy) -> int:
        from retraining.selectors import policy_new_labels

        return policy_new_labels(policy)


class DatasetParamsSerializer(serializers.Serializer):
    """A dataset build's parameters; left out: the pipeline's defaults (DatasetSpec)."""

    window_sec = param_field(DATASET_PARAMS["window_sec"], default=None)
    step_sec = param_field(DATASET_PARAMS["step_sec"], default=None)
    balance_method = serializers.CharField(required=False)
    train_ratio = param_field(DATASET_PARAMS["train_ratio"], default=None)
    val_ratio = param_field(DATASET_PARAMS["val_ratio"], default=None)
    test_ratio = param_field(DATASET_PARAMS["test_ratio"], default=None)
    seed = param_field(DATASET_PARAMS["seed"], default=None)
    groups = serializers.ListField(child=serializers.CharField(), required=False)
    min_purity = param_field(DATASET_PARAMS["min_purity"], default=None)
    resample_fps = param_field(DATASET_PARAMS["resample_fps"], default=None)


class RetrainPolicyInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    holdout_videos = serializers.ListField(
        child=serializers.IntegerField(), help_text="ids of your videos kept out of training (frozen at creation)"
    )
    training_videos = serializers.ListField(
        child=serializers.IntegerField(),
        required=False,
        allow_null=True,
        help_text="ids of your videos to train on; leave out (or null) for all your labelled videos but the holdout",
    )
    detector = serializers.CharField(required=False, allow_blank=True, default="")
    dataset_params = DatasetParamsSerializer(required=False)
    model_type = serializers.CharField(required=False, allow_blank=True, default="", help_text="blank: the default")
    aggregation = serializers.CharField(required=False, allow_blank=True, default="")
    model_params = serializers.DictField(required=False, default=dict)
    seed = param_field(SEED)
    min_new_labels = param_field(POLICY_PARAMS["min_new_labels"])
    schedule_interval_seconds = param_field(POLICY_PARAMS["schedule_interval_seconds"], default=None)
    schedule_crontab = serializers.CharField(required=False, allow_blank=True, default="")
    margin = param_field(POLICY_PARAMS["margin"])
    incremental = serializers.BooleanField(required=False, default=False)
    enabled = serializers.BooleanField(required=False, default=True)


class PromoteSerializer(serializers.Serializer):
    model = serializers.IntegerField(help_text="id of one of your trained models")
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class RollbackSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class RetrainRunSerializer(serializers.ModelSerializer):
    policy_name = serializers.CharField(source="policy.name", read_only=True)
    dataset_dir = serializers.CharField(source="dataset.name", read_only=True, allow_null=True)
    challenger_version = serializers.CharField(source="challenger.version_label", read_only=True, allow_null=True)
    champion_before_version = serializers.CharField(
        source="champion_before.version_label", read_only=True, allow_null=True
    )
    job = JobSerializer(read_only=True)

    class Meta:
        model = RetrainRun
        fields = [
            "id", "policy", "policy_name", "trigger", "status", "new_labels", "dataset", "dataset_dir",
            "challenger", "challenger_version", "champion_before", "champion_before_version", "incremental_model",
            "champion_metrics", "challenger_metrics", "incremental", "report", "decision", "reason", "created_at",
            "finished_at", "job",
        ]  # fmt: skip
        read_only_fields = fields


class PromotionSerializer(serializers.ModelSerializer):
    policy_name = serializers.CharField(source="policy.name", read_only=True)
    model_version = serializers.CharField(source="model.version_label", read_only=True, allow_null=True)
    previous_version = serializers.CharField(source="previous.version_label", read_only=True, allow_null=True)
    user = serializers.CharField(source="user.username", read_only=True, allow_null=True)

    class Meta:
        model = Promotion
        fields = [
            "id", "policy", "policy_name", "model", "model_version", "previous", "previous_version", "action",
            "reason", "run", "user", "at",
        ]  # fmt: skip
        read_only_fields = fields
