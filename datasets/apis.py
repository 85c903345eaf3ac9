from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from datasets.selectors import dataset_list
from datasets.serializers import DatasetCreateSerializer, DatasetPreviewSerializer, DatasetSerializer
from datasets.services import dataset_params_check, dataset_preview, dataset_rebuild, dataset_request
from taskml import deletion
from videos.apis import CASCADE, wants_cascade
from videos.selectors import feature_file_get


class DatasetViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """Windowed datasets built from your feature files."""

    serializer_class = DatasetSerializer
    filterset_fields = {"status": ["exact"], "balance_method": ["exact"], "created_at": ["gte", "lte"]}
    ordering_fields = ["created_at", "train_size"]

    def get_queryset(self):
        return (
            dataset_list(user=self.request.user).select_related("job", "job__target_type").prefetch_related("sources")
        )

    def _build_request(self, request):
        """(feature files, checked parameters) of a create or preview request."""
        form = DatasetCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        feature_files = [
            feature_file_get(user=request.user, filename=n, field="feature_files") for n in data["feature_files"]
        ]
        params = dataset_params_check(
            window_sec=data["window_sec"],
            step_sec=data["step_sec"],
            balance_method=data["balance_method"],
            ratios=(data["train_ratio"], data["val_ratio"], data["test_ratio"]),
            seed=data["seed"],
            groups=data.get("groups"),
            splits=data.get("splits"),
            min_purity=data["min_purity"],
            resample_fps=data["resample_fps"],
        )
        return feature_files, params

    @extend_schema(request=DatasetCreateSerializer, responses={202: DatasetSerializer})
    def create(self, request):
        feature_files, params = self._build_request(request)
        dataset = dataset_request(owner=request.user, feature_files=feature_files, params=params)
        return Response(self.get_serializer(dataset).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=DatasetCreateSerializer, responses={200: DatasetPreviewSerializer})
    @action(detail=False, methods=["post"])
    def preview(self, request):
        """What a create with this body would build (windows per class and split), writing nothing."""
        feature_files, params = self._build_request(request)
        return Response(DatasetPreviewSerializer(dataset_preview(feature_files=feature_files, params=params)).data)

    @extend_schema(parameters=[CASCADE])
    def destroy(self, request, pk=None):
        deletion.delete(self.get_object(), cascade=wants_cascade(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={202: DatasetSerializer})
    @action(detail=True, methods=["post"])
    def rebuild(self, request, pk=None):
        dataset = dataset_rebuild(dataset=self.get_object(), owner=request.user)
        return Response(self.get_serializer(dataset).data, status=status.HTTP_202_ACCEPTED)
