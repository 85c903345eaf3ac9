from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from datasets.selectors import dataset_get
from learning.models import SuggestedSpan
from learning.selectors import ablation_list, labelling_round_list, suggested_span_list
from learning.serializers import (
    AblationCreateSerializer,
    AblationSerializer,
    CorrectSerializer,
    LabellingRoundSerializer,
    RoundCloseSerializer,
    RoundCreateSerializer,
    SuggestedSpanSerializer,
)
from learning.services import (
    SUGGESTION_FIELDS,
    ablation_request,
    labelling_round_close,
    labelling_round_request,
    suggested_span_decide,
)
from models_app.selectors import trained_model_get
from taskml import deletion
from videos.selectors import video_get


class LabellingRoundViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """Active-learning rounds: a model's most uncertain spans on your videos, ranked, to accept, correct or reject."""

    serializer_class = LabellingRoundSerializer
    filterset_fields = {"model": ["exact"], "state": ["exact"], "status": ["exact"], "videos": ["exact"]}
    ordering_fields = ["created_at"]

    def get_queryset(self):
        return labelling_round_list(user=self.request.user).prefetch_related("videos", "feature_files").distinct()

    @extend_schema(request=RoundCreateSerializer, responses={202: LabellingRoundSerializer})
    def create(self, request):
        form = RoundCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        round_ = labelling_round_request(
            owner=request.user,
            model=trained_model_get(user=request.user, pk=data["model"]),
            videos=[video_get(user=request.user, pk=pk, field="videos") for pk in data["videos"]],
            params={name: data[name] for name in SUGGESTION_FIELDS if name in data},
        )
        return Response(self.get_serializer(round_).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=RoundCloseSerializer, responses={200: LabellingRoundSerializer})
    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        """Close the round; with ``{"retrain": true}`` a job rebuilds the dataset and trains the model again."""
        form = RoundCloseSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        round_ = labelling_round_close(
            round_=self.get_object(), retrain=form.validated_data["retrain"], user=request.user
        )
        code = status.HTTP_202_ACCEPTED if round_.retrain else status.HTTP_200_OK
        return Response(self.get_serializer(round_).data, status=code)

    def destroy(self, request, pk=None):
        deletion.delete(self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class SuggestedSpanFilter(filters.FilterSet):
    class Meta:
        model = SuggestedSpan
        fields = {"round": ["exact"], "video": ["exact"], "status": ["exact"], "predicted_label": ["exact"]}


class SuggestedSpanViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Suggested spans of your rounds (most uncertain first within a round); decide each one."""

    serializer_class = SuggestedSpanSerializer
    filterset_class = SuggestedSpanFilter
    ordering_fields = ["rank", "uncertainty", "start_frame"]
    ordering = ["round_id", "rank"]

    def get_queryset(self):
        return suggested_span_list(user=self.request.user)

    def _decide(self, request, decision: str, label: str | None = None):
        span = suggested_span_decide(span=self.get_object(), decision=decision, user=request.user, label=label)
        return Response(self.get_serializer(span).data)

    @extend_schema(request=None, responses={200: SuggestedSpanSerializer})
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        """Label the span's frames with the predicted label."""
        return self._decide(request, "accept")

    @extend_schema(request=CorrectSerializer, responses={200: SuggestedSpanSerializer})
    @action(detail=True, methods=["post"])
    def correct(self, request, pk=None):
        """Label the span's frames with another label."""
        form = CorrectSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        return self._decide(request, "correct", form.validated_data["label"])

    @extend_schema(request=None, responses={200: SuggestedSpanSerializer})
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        """Leave the span's labels as they are."""
        return self._decide(request, "reject")


class AblationViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """One model configuration trained on pose only, hands only, objects only and fused, on identical splits."""

    serializer_class = AblationSerializer
    filterset_fields = {"dataset": ["exact"], "status": ["exact"], "model_type": ["exact"]}
    ordering_fields = ["created_at"]

    def get_queryset(self):
        return ablation_list(user=self.request.user).select_related("job__target_type")

    @extend_schema(request=AblationCreateSerializer, responses={202: AblationSerializer})
    def create(self, request):
        form = AblationCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        ablation = ablation_request(
            owner=request.user,
            dataset=dataset_get(user=request.user, pk=data["dataset"]),
            model_type=data["model_type"],
            aggregation=data["aggregation"],
            params=AblationCreateSerializer.params_of(data),
            seed=data["seed"],
            groups=data.get("groups"),
        )
        return Response(self.get_serializer(ablation).data, status=status.HTTP_202_ACCEPTED)

    def destroy(self, request, pk=None):
        deletion.delete(self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
