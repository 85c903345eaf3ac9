from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from models_app.selectors import trained_model_get
from streaming.registry import POLICY, champion_sources
from streaming.selectors import live_session_list
from streaming.serializers import LiveSessionCreateSerializer, LiveSessionSerializer
from streaming.services import live_session_create, live_session_stop
from videos.selectors import video_get


class LiveSessionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Live sessions: a trained model watching a source; watch at ws/streams/<id>/."""

    serializer_class = LiveSessionSerializer
    filterset_fields = {"status": ["exact"], "source_kind": ["exact"], "trained_model": ["exact"]}
    ordering_fields = ["created_at"]

    def get_queryset(self):
        return live_session_list(user=self.request.user)

    @extend_schema(request=LiveSessionCreateSerializer, responses={201: LiveSessionSerializer})
    def create(self, request):
        form = LiveSessionCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        model = trained_model_get(user=request.user, pk=data["model"]) if data.get("model") is not None else None
        policy = None
        if data.get("policy") is not None:
            policy = champion_sources.get(POLICY).get(user=request.user, pk=data["policy"])
        video = video_get(user=request.user, pk=data["video"]) if data.get("video") is not None else None
        session = live_session_create(
            owner=request.user,
            trained_model=model,
            source_kind=data["source"],
            video=video,
            url=data.get("url", ""),
            camera_index=data["camera_index"],
            realtime=data["realtime"],
            smoothing=data.get("smoothing"),
            policy=policy,
        )
        return Response(self.get_serializer(session).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=LiveSessionSerializer)
    @action(detail=True, methods=["post"])
    def stop(self, request, pk=None):
        return Response(self.get_serializer(live_session_stop(session=self.get_object())).data)
