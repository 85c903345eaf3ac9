from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from datasets.selectors import dataset_get
from models_app.predictions import video_predictions_export
from models_app.selectors import trained_model_list
from models_app.serializers import TrainedModelSerializer, TrainRequestSerializer
from models_app.services import trained_model_onnx, trained_model_request
from taskml import deletion
from taskml.pipeline.interchange import LS_FROM_NAME, LS_TO_NAME, PREDICTION_FORMATS
from videos.apis import FormatIsAFileFormat, file_response
from videos.selectors import video_get

# Per-window and per-feature blocks of the metrics: large, and only a model's own page draws them.
BULKY_METRICS = ("test_timeline", "feature_importance", "history")
COMPACT = OpenApiParameter(
    "compact",
    OpenApiTypes.BOOL,
    description=f"leave the bulky metrics blocks ({', '.join(BULKY_METRICS)}) out of each listed model",
)


class PredictionsQuerySerializer(serializers.Serializer):
    video = serializers.IntegerField(min_value=1, max_value=2**63 - 1, help_text="the video's id")
    format = serializers.ChoiceField(choices=PREDICTION_FORMATS, default="csv")
    from_name = serializers.CharField(required=False, max_length=100, help_text="label_studio: the control's name")
    to_name = serializers.CharField(required=False, max_length=100, help_text="label_studio: the video tag's name")


class TrainedModelViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """Trained models with their metrics, checksum and version; train one from a dataset."""

    serializer_class = TrainedModelSerializer
    filterset_fields = {"status": ["exact"], "model_type": ["exact"], "dataset": ["exact"], "accuracy": ["gte"]}
    search_fields = ["filename"]
    ordering_fields = ["created_at", "accuracy", "f1_macro", "version"]

    def get_queryset(self):
        return trained_model_list(user=self.request.user).select_related("job", "job__target_type")

    @extend_schema(parameters=[COMPACT])
    def list(self, request, *args, **kwargs):
        response = super().list(request, *args, **kwargs)
        if request.query_params.get("compact", "").lower() in ("1", "true", "yes"):
            items = response.data["results"] if isinstance(response.data, dict) else response.data
            for item in items:
                metrics = item.get("metrics") or {}
                item["metrics"] = {k: v for k, v in metrics.items() if k not in BULKY_METRICS}
        return response

    @extend_schema(request=TrainRequestSerializer, responses={202: TrainedModelSerializer})
    def create(self, request):
        form = TrainRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        model = trained_model_request(
            owner=request.user,
            dataset=dataset_get(user=request.user, pk=data["dataset"]),
            model_type=data["model_type"],
            aggregation=data["aggregation"],
            params=TrainRequestSerializer.params_of(data),
            seed=data["seed"],
            dataset_field="dataset",
            cv=data["cv"],
        )
        return Response(self.get_serializer(model).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        parameters=[PredictionsQuerySerializer], responses={(200, "application/octet-stream"): OpenApiTypes.BINARY}
    )
    @action(detail=True, methods=["get"], content_negotiation_class=FormatIsAFileFormat)
    def predictions(self, request, pk=None):
        """The model's windows over a whole video as labels with scores: csv (spans), csv_frames,
        activitynet results, Label Studio predictions."""
        model = self.get_object()
        form = PredictionsQuerySerializer(data=request.query_params)
        form.is_valid(raise_exception=True)
        v = form.validated_data
        exported = video_predictions_export(
            model=model,
            video=video_get(user=request.user, pk=v["video"]),
            fmt=v["format"],
            from_name=v.get("from_name") or LS_FROM_NAME,
            to_name=v.get("to_name") or LS_TO_NAME,
        )
        return file_response(exported)

    def destroy(self, request, pk=None):
        deletion.delete(self.get_object())  # its ended live sessions go with it; a running one refuses
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        responses={
            (200, "application/octet-stream"): OpenApiTypes.BINARY,
            400: OpenApiResponse(description="the model is not trained, or its file fails the integrity check"),
            409: OpenApiResponse(description="this model cannot be exported to ONNX (the detail says why)"),
        },
    )
    @action(detail=True, methods=["get"])
    def onnx(self, request, pk=None):
        """The model as one ONNX file (window [batch, T, F] → probabilities, label), for
        ``python -m taskml.runtime`` or any ONNX runtime; exported on first request, then kept."""
        model = self.get_object()
        path, digest = trained_model_onnx(trained_model=model)
        response = FileResponse(
            open(path, "rb"),  # FileResponse closes it
            as_attachment=True,
            filename=path.name,
            content_type="application/octet-stream",
        )
        response["X-Checksum-Sha256"] = digest  # of this file: python -m taskml.runtime --sha256
        response["X-Model-Sha256"] = model.sha256  # of the trained model it came from
        return response
