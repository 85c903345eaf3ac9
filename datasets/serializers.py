from rest_framework import serializers

from datasets.models import Dataset
from jobs.serializers import JobSerializer
from taskml.api_fields import param_field
from taskml.pipeline.dataset import DATASET_PARAMS, DEFAULT_BALANCE
from taskml.pipeline.features import FEATURE_GROUPS
from taskml.pipeline.windows import BALANCE_METHODS


class DatasetSerializer(serializers.ModelSerializer):
    name = serializers.CharField(read_only=True)
    split_method = serializers.SerializerMethodField(
        help_text="how the windows were split: strategy, note, seed, ratios, time blocks per video "
        "(temporal_blocks) and a warning when a split lacks a class"
    )
    classes_missing = serializers.SerializerMethodField(help_text="{split: [labels it holds no window of]}")

    def get_split_method(self, obj) -> dict | None:
        return (obj.split_info or {}).get("method")

    def get_classes_missing(self, obj) -> dict[str, list[str]] | None:
        return (obj.split_info or {}).get("classes_missing")

    feature_files = serializers.SlugRelatedField(source="sources", slug_field="filename", many=True, read_only=True)
    job = JobSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Dataset
        fields = [
            "id", "name", "status", "path", "feature_files", "window_sec", "step_sec", "balance_method",
            "train_ratio", "val_ratio", "test_ratio", "params", "labels", "class_counts", "train_size",
            "val_size", "test_size", "num_features", "split_strategy", "split_method", "classes_missing",
            "size_bytes", "created_at", "job", "leakage",
        ]  # fmt: skip
        read_only_fields = fields


class DatasetCreateSerializer(serializers.Serializer):
    feature_files = serializers.ListField(
        child=serializers.CharField(), allow_empty=False, help_text="names of your feature files"
    )
    window_sec = param_field(DATASET_PARAMS["window_sec"])
    step_sec = param_field(DATASET_PARAMS["step_sec"])
    balance_method = serializers.ChoiceField(choices=BALANCE_METHODS, default=DEFAULT_BALANCE)
    train_ratio = param_field(DATASET_PARAMS["train_ratio"])
    val_ratio = param_field(DATASET_PARAMS["val_ratio"])
    test_ratio = param_field(DATASET_PARAMS["test_ratio"])
    seed = param_field(DATASET_PARAMS["seed"])
    groups = serializers.ListField(
        child=serializers.ChoiceField(choices=list(FEATURE_GROUPS)), required=False, allow_empty=False
    )
    splits = serializers.DictField(
        child=serializers.ChoiceField(choices=["train", "val", "test"]),
        required=False,
        help_text="explicit video_id → split assignment (overrides the ratios)",
    )
    min_purity = param_field(DATASET_PARAMS["min_purity"])
    resample_fps = param_field(DATASET_PARAMS["resample_fps"])


class DatasetPreviewSerializer(serializers.Serializer):
    """What a build would produce: windows per split and class, before anything is written."""

    feature_files = serializers.ListField(child=serializers.CharField())
    labels = serializers.ListField(child=serializers.CharField())
    counts = serializers.DictField(
        child=serializers.DictField(child=serializers.IntegerField()),
        help_text="{split: {label: windows}} as the dataset will hold them (train after balancing)",
    )
    counts_before_balance = serializers.DictField(child=serializers.DictField(child=serializers.IntegerField()))
    sizes = serializers.DictField(child=serializers.IntegerField(), help_text="{split: windows}")
    windows = serializers.IntegerField(help_text="windows in all splits together")
    balance_method = serializers.CharField()
    split_strategy = serializers.CharField(help_text="explicit, video or temporal_blocks")
    split_method = serializers.DictField(
        help_text="strategy, note, seed, ratios, the time blocks per video (temporal_blocks) and a warning "
        "when a split lacks a class"
    )
    classes_missing = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), help_text="{split: [labels it holds no window of]}"
    )
    feature_groups = serializers.ListField(child=serializers.CharField())
    groups_note = serializers.CharField(
        allow_null=True, help_text="set when the files hold only their own columns and group other was used"
    )
    splits = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))
    dropped = serializers.DictField(child=serializers.IntegerField(), help_text="windows dropped, by reason")
    sources = serializers.ListField(child=serializers.DictField())
