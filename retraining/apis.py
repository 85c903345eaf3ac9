from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from models_app.selectors import trained_model_get
from retraining.selectors import promotion_list, retrain_policy_list, retrain_run_list
from retraining.serializers import (
    PromoteSerializer,
    PromotionSerializer,
    RetrainPolicyInputSerializer,
    RetrainPolicySerializer,
    RetrainRunSerializer,
    RollbackSerializer,
)
from retraining.services import (
    retrain_policy_create,
    retrain_policy_promote,
    retrain_policy_rollback,
    retrain_policy_update,
    retrain_run_request,
)
from taskml import deletion
from videos.selectors import video_get


def _videos(user, ids, field: str):
    return [video_get(user=user, pk=pk, field=field) for pk in ids]


class RetrainPolicyViewSet(viewsets.ModelViewSet):
    """Retraining policies: training and frozen held-out videos, trigger, margin, champion."""

    serializer_class = RetrainPolicySerializer
    filterset_fields = {"enabled": ["exact"], "champion": ["exact"]}
    search_fields = ["name"]
    ordering_fields = ["created_at", "name"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return retrain_policy_list(user=self.request.user)

    def _input(self, request, *, partial: bool) -> dict:
        form = RetrainPolicyInputSerializer(data=request.data, partial=partial)
        form.is_valid(raise_exception=True)
        data = dict(form.validated_data)
        if partial:  # only what the request named; the serializer's defaults are for creation
            data = {k: v for k, v in data.items() if k in request.data}
        if "holdout_videos" in data:
            data["holdout_videos"] = _videos(request.user, data["holdout_videos"], "holdout_videos")
        if data.get("training_videos") is not None:
            data["training_videos"] = _videos(request.user, data["training_videos"], "training_videos")
        if "dataset_params" in data:
            data["dataset_params"] = dict(data["dataset_params"])
        return data

    @extend_schema(request=RetrainPolicyInputSerializer, responses={201: RetrainPolicySerializer})
    def create(self, request):
        policy = retrain_policy_create(owner=request.user, **self._input(request, partial=False))
        return Response(self.get_serializer(policy).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=RetrainPolicyInputSerializer, responses=RetrainPolicySerializer)
    def partial_update(self, request, pk=None):
        policy = retrain_policy_update(policy=self.get_object(), **self._input(request, partial=True))
        return Response(self.get_serializer(self.get_queryset().get(pk=policy.pk)).data)

    def destroy(self, request, pk=None):
        deletion.delete(self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={202: RetrainRunSerializer})
    @action(detail=True, methods=["post"])
    def run(self, request, pk=None):
        run = retrain_run_request(policy=self.get_object())
        return Response(
            RetrainRunSerializer(run, context=self.get_serializer_context()).data, status=status.HTTP_202_ACCEPTED
        )

    @extend_schema(request=PromoteSerializer, responses=PromotionSerializer)
    @action(detail=True, methods=["post"])
    def promote(self, request, pk=None):
        policy = self.get_object()
        form = PromoteSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        model = trained_model_get(user=request.user, pk=form.validated_data["model"])
        promotion = retrain_policy_promote(
            policy=policy, model=model, user=request.user, reason=form.validated_data["reason"]
        )
        return Response(PromotionSerializer(promotion, context=self.get_serializer_context()).data)

    @extend_schema(request=RollbackSerializer, responses=PromotionSerializer)
    @action(detail=True, methods=["post"])
    def rollback(self, request, pk=None):
        policy = self.get_object()
        form = RollbackSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        promotion = retrain_policy_rollback(policy=policy, user=request.user, reason=form.validated_data["reason"])
        return Response(PromotionSerializer(promotion, context=self.get_serializer_context()).data)


class RetrainRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Retraining runs: the challenger, both models' holdout metrics and the decision."""

    serializer_class = RetrainRunSerializer
    filterset_fields = {"policy": ["exact"], "status": ["exact"], "decision": ["exact"], "trigger": ["exact"]}
    ordering_fields = ["created_at"]

    def get_queryset(self):
        return retrain_run_list(user=self.request.user)


class PromotionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Every change of a policy's champion: promotions by runs, rollbacks, manual choices."""

    serializer_class = PromotionSerializer
    filterset_fields = {"policy": ["exact"], "action": ["exact"]}
    ordering_fields = ["at"]

    def get_queryset(self):
        return promotion_list(user=self.request.user)
