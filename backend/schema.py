"""The /backend/ contract in OpenAPI: request fields and answers as existing clients know them.

These serializers only describe (the views read their form fields with backend.forms, which
keeps the contract's leniencies: blank means the default, numbers may come as text or as JSON
numbers). The numeric fields carry the pipeline's ranges (taskml.pipeline.params), the same
definitions every other interface checks against. Every operation is tagged ``backend``, the
compatibility contract: field names, defaults and response keys do not change.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers

from taskml.api_fields import param_field
from taskml.pipeline.aggregation import TABULAR_AGGREGATIONS
from taskml.pipeline.dataset import DATASET_PARAMS
from taskml.pipeline.detectors import DETECTOR_KINDS
from taskml.pipeline.estimators import MODEL_PARAMS, MODEL_TYPES
from taskml.pipeline.params import SAMPLE_RATE, SEED
from taskml.pipeline.training import CV_FOLDS
from taskml.pipeline.windows import BALANCE_METHODS

TAG = "backend (compatibility contract)"


class BackendAlertSerializer(serializers.Serializer):
    status = serializers.CharField(help_text='"error"')
    alert = serializers.CharField(help_text="<field>: <message>")
    job_id = serializers.IntegerField(required=False, help_text="the job, when one ran and failed")
    job_url = serializers.CharField(required=False)
    suggestion = serializers.DictField(
        required=False,
        child=serializers.FloatField(),
        help_text="a refused dataset build's parameters that would work, e.g. {window_sec, step_sec}",
    )


class BackendJobPendingSerializer(serializers.Serializer):
    """202: the job is still running after TASKML_BACKEND_WAIT_SECONDS; follow job_url."""

    status = serializers.CharField(help_text="pending or running")
    stage = serializers.CharField()
    progress = serializers.FloatField()
    job_id = serializers.IntegerField()
    job_url = serializers.CharField()


# ---------------------------------------------------------------- requests


class BackendUploadRequestSerializer(serializers.Serializer):
    video = serializers.FileField(help_text="the video file")
    video_id = serializers.CharField(required=False, help_text="identifier stored in the feature file")
    labels_csv = serializers.FileField(
        required=False, help_text="frame_index,label or start_frame,end_frame,label (UTF-8 CSV)"
    )
    detector_type = serializers.ChoiceField(choices=DETECTOR_KINDS, default="fusion")
    sample_rate = param_field(SAMPLE_RATE)


class BackendBuildRequestSerializer(serializers.Serializer):
    feature_files = serializers.CharField(help_text="comma-separated names of your feature files")
    window_sec = param_field(DATASET_PARAMS["window_sec"])
    step_sec = param_field(DATASET_PARAMS["step_sec"])
    balance_method = serializers.ChoiceField(choices=BALANCE_METHODS, default="none")
    train_ratio = param_field(DATASET_PARAMS["train_ratio"])
    val_ratio = param_field(DATASET_PARAMS["val_ratio"])
    test_ratio = param_field(DATASET_PARAMS["test_ratio"])
    seed = param_field(SEED)


class BackendTrainRequestSerializer(serializers.Serializer):
    dataset_dir = serializers.CharField(help_text="dataset_<id>, one of your built datasets")
    model_type = serializers.ChoiceField(
        choices=[*MODEL_TYPES, "lightgbm"],
        required=False,
        allow_null=True,
        help_text="left out with aggregation: the default configuration",
    )
    aggregation = serializers.ChoiceField(
        choices=[*TABULAR_AGGREGATIONS, "sequence"], required=False, allow_null=True, help_text="window representation"
    )
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
    cv = param_field(CV_FOLDS)


# ---------------------------------------------------------------- answers


class BackendUploadAnswerSerializer(serializers.Serializer):
    status = serializers.CharField(help_text='"success"')
    feature_file = serializers.CharField()
    video_id = serializers.CharField()
    num_frames = serializers.IntegerField()
    num_labeled = serializers.IntegerField()
    columns = serializers.ListField(child=serializers.CharField())
    video_file = serializers.CharField()
    job_id = serializers.IntegerField()
    job_url = serializers.CharField()


class BackendUploadPendingSerializer(BackendJobPendingSerializer):
    feature_file = serializers.CharField()
    video_id = serializers.CharField()
    video_file = serializers.CharField()


class BackendFeatureItemSerializer(serializers.Serializer):
    filename = serializers.CharField()
    path = serializers.CharField()
    size_mb = serializers.FloatField()
    created = serializers.CharField()


class BackendFeatureListSerializer(serializers.Serializer):
    features = BackendFeatureItemSerializer(many=True)


class BackendFeatureDetailSerializer(serializers.Serializer):
    filename = serializers.CharField()
    num_frames = serializers.IntegerField()
    columns = serializers.ListField(child=serializers.CharField())
    video_id = serializers.CharField()
    has_labels = serializers.BooleanField()
    label_distribution = serializers.DictField(child=serializers.IntegerField())
    status = serializers.CharField()


class BackendBuildAnswerSerializer(serializers.Serializer):
    status = serializers.CharField(help_text='"success"')
    dataset_dir = serializers.CharField()
    dataset_id = serializers.IntegerField()
    train_size = serializers.IntegerField()
    val_size = serializers.IntegerField()
    test_size = serializers.IntegerField()
    labels = serializers.ListField(child=serializers.CharField())
    num_features = serializers.IntegerField()
    job_id = serializers.IntegerField()
    job_url = serializers.CharField()


class BackendBuildPendingSerializer(BackendJobPendingSerializer):
    dataset_dir = serializers.CharField()
    dataset_id = serializers.IntegerField()


class BackendDatasetItemSerializer(serializers.Serializer):
    dataset_dir = serializers.CharField()
    dataset_id = serializers.IntegerField()
    path = serializers.CharField()
    created = serializers.CharField()
    size_mb = serializers.FloatField()
    train_size = serializers.IntegerField()
    val_size = serializers.IntegerField()
    test_size = serializers.IntegerField()
    labels = serializers.ListField(child=serializers.CharField())
    num_features = serializers.IntegerField()
    window_sec = serializers.FloatField()
    step_sec = serializers.FloatField()


class BackendDatasetListSerializer(serializers.Serializer):
    datasets = BackendDatasetItemSerializer(many=True)


class BackendTrainAnswerSerializer(serializers.Serializer):
    status = serializers.CharField(help_text='"success"')
    model_path = serializers.CharField()
    model_id = serializers.IntegerField()
    model_type = serializers.CharField()
    metrics = serializers.DictField(help_text="accuracy, f1_macro, per-class report, confusion matrix, …")
    version = serializers.IntegerField()
    job_id = serializers.IntegerField()
    job_url = serializers.CharField()


class BackendTrainPendingSerializer(BackendJobPendingSerializer):
    model_path = serializers.CharField()
    model_id = serializers.IntegerField()
    model_type = serializers.CharField()


class BackendModelItemSerializer(serializers.Serializer):
    filename = serializers.CharField()
    path = serializers.CharField()
    size_mb = serializers.FloatField()
    created = serializers.CharField()
    accuracy = serializers.FloatField(allow_null=True)
    f1_macro = serializers.FloatField(allow_null=True)
    model_id = serializers.IntegerField()
    model_type = serializers.CharField()
    dataset_dir = serializers.CharField()
    version = serializers.IntegerField()


class BackendModelListSerializer(serializers.Serializer):
    models = BackendModelItemSerializer(many=True)


class BackendStopWebcamSerializer(serializers.Serializer):
    status = serializers.CharField(help_text='"success"')
    stopped = serializers.ListField(child=serializers.IntegerField())
    message = serializers.CharField()


def _errors(*codes: int) -> dict:
    meaning = {
        400: "bad input: the alert names the field",
        401: "not logged in",
        403: "not allowed",
        404: "no such object of yours: the alert names the field",
        409: "a conflict, or the job was cancelled",
        413: "too large: an upload, or work past a size or memory limit (the alert names the field, "
        "the estimate and the limit)",
        429: "too many: uploads per minute, or jobs pending or running (Retry-After says when to try again)",
        500: "the job failed unexpectedly (no stack trace)",
        503: "the database is unavailable for a moment (Retry-After)",
    }
    return {
        code: OpenApiResponse(BackendAlertSerializer, description=meaning[code]) for code in (401, 403, 503, *codes)
    }


def _post(summary: str, request, answer, pending, *errors: int, multipart: bool = False):
    content = (
        {"multipart/form-data": request}
        if multipart
        else {"application/x-www-form-urlencoded": request, "multipart/form-data": request, "application/json": request}
    )
    return extend_schema(
        tags=[TAG],
        summary=summary,
        request=content,
        responses={200: answer, 202: pending, **_errors(400, 404, 409, 413, 429, 500, *errors)},
    )


def _get(summary: str, answer, *errors: int, operation_id: str | None = None):
    return extend_schema(
        tags=[TAG], summary=summary, responses={200: answer, **_errors(*errors)}, operation_id=operation_id
    )


upload_schema = _post(
    "Upload a video (and labels) and extract its features",
    BackendUploadRequestSerializer,
    BackendUploadAnswerSerializer,
    BackendUploadPendingSerializer,
    multipart=True,
)
features_schema = _get(
    "Your extracted feature files", BackendFeatureListSerializer, operation_id="backend_features_list"
)
feature_schema = _get(
    "One feature file", BackendFeatureDetailSerializer, 400, 404, operation_id="backend_feature_retrieve"
)
build_schema = _post(
    "Build a windowed dataset from feature files",
    BackendBuildRequestSerializer,
    BackendBuildAnswerSerializer,
    BackendBuildPendingSerializer,
)
datasets_schema = _get("Your built datasets", BackendDatasetListSerializer)
train_schema = _post(
    "Train a task model on a dataset",
    BackendTrainRequestSerializer,
    BackendTrainAnswerSerializer,
    BackendTrainPendingSerializer,
)
models_schema = _get("Your trained models", BackendModelListSerializer)
stop_webcam_schema = extend_schema(tags=[TAG], summary="Stop your camera sessions", request=None, responses={
    200: BackendStopWebcamSerializer, **_errors()
})  # fmt: skip
