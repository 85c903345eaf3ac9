from rest_framework import serializers

from jobs.serializers import JobSerializer
from models_app.models import TrainedModel
from taskml.api_fields import param_field
from taskml.pipeline.aggregation import TABULAR_AGGREGATIONS
from taskml.pipeline.estimators import MODEL_PARAMS, MODEL_TYPES
from taskml.pipeline.params import SEED
from taskml.pipeline.training import CV_FOLDS, DEFAULT_AGGREGATION, DEFAULT_MODEL


class TrainedModelSerializer(serializers.ModelSerializer):
    dataset_dir = serializers.CharField(source="dataset.name", read_only=True)
    version_label = serializers.CharField(read_only=True)
    job = JobSerializer(read_only=True, allow_null=True)
    warnings = serializers.SerializerMethodField(
        help_text="why the test figures may mean little (a test split with one class, fewer than 10 windows "
        "of a class); empty when none"
    )
    params_used = serializers.SerializerMethodField(help_text="the parameters this model type reads")
    cv = serializers.SerializerMethodField(help_text="cross-validation: k, grouped_by, mean/std per metric, folds")

    def get_warnings(self, obj) -> list[str]:
        return list((obj.metrics or {}).get("warnings") or [])

    def get_params_used(self, obj) -> dict:
        from taskml.pipeline.estimators import params_used

        names = params_used(obj.model_type, obj.aggregation) if obj.model_type else ()
        return {k: v for k, v in (obj.params or {}).items() if k in names or k in ("seed", "cv")}

    def get_cv(self, obj) -> dict | None:
        return (obj.metrics or {}).get("cv")

    class Meta:
        model = TrainedModel
        fields = [
            "id", "filename", "path", "status", "version", "version_label", "dataset", "dataset_dir",
            "model_type", "aggregation", "params", "params_used", "sha256", "size_bytes", "accuracy", "f1_macro",
            "warnings", "cv", "metrics", "created_at", "job",
        ]  # fmt: skip
        read_only_fields = fields


class TrainingParamsSerializer(serializers.Serializer):
    """The estimator parameters every training request takes (all optional; unset means the default)."""

    n_estimators = param_field(MODEL_PARAMS["n_estimators"], default=None)
    max_depth = param_field(MODEL_PARAMS["max_depth"], default=None)
    learning_rate = param_field(MODEL_PARAMS["learning_rate"], default=None)
    epochs = param_field(MODEL_PARAMS["epochs"], default=None)
    lr = param_field(MODEL_PARAMS["lr"], default=None)
    hidden_dim = param_field(MODEL_PARAMS["hidden_dim"], default=None)
    num_layers = param_field(MODEL_PARAMS["num_layers"], default=None)
    batch_size = param_field(MODEL_PARAMS["batch_size"], default=None)
    patience = param_field(MODEL_PARAMS["patience"], default=None)
    rocket_features = param_field(MODEL_PARAMS["rocket_features"], default=None)
    seed = param_field(SEED)

    @classmethod
    def params_of(cls, data: dict) -> dict:
        """The estimator parameters given in validated ``data`` (the seed is passed on its own)."""
        return {name: data[name] for name in TRAINING_PARAMS if name in data}


TRAINING_PARAMS = tuple(MODEL_PARAMS)


class TrainRequestSerializer(TrainingParamsSerializer):
    dataset = serializers.IntegerField(help_text="id of one of your built datasets")
    cv = param_field(CV_FOLDS)
    model_type = serializers.ChoiceField(
        choices=[*MODEL_TYPES, "lightgbm"],
        default=None,
        allow_null=True,
        help_text=f"left out with aggregation: the default configuration, {DEFAULT_MODEL} on {DEFAULT_AGGREGATION}",
    )
    aggregation = serializers.ChoiceField(
        choices=[*TABULAR_AGGREGATIONS, "sequence"],
        default=None,
        allow_null=True,
        help_text="window representation; left out: the model's usual one (stats for rf and lgbm, minirocket for "
        "ridge, sequence for lstm, tcn and transformer)",
    )
