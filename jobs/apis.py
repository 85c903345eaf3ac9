from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from jobs.models import Job
from jobs.quotas import usage
from jobs.selectors import job_list
from jobs.serializers import JobSerializer, UsageSerializer
from jobs.services import job_cancel, job_retry


class JobFilter(filters.FilterSet):
    class Meta:
        model = Job
        fields = {"status": ["exact"], "kind": ["exact"], "created_at": ["gte", "lte"]}


class JobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Jobs: status, stage, progress, error and timings; cancel and retry."""

    serializer_class = JobSerializer
    filterset_class = JobFilter
    ordering_fields = ["created_at", "finished_at", "status"]

    def get_queryset(self):
        return job_list(user=self.request.user).select_related("target_type")

    @extend_schema(request=None, responses=JobSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        job = job_cancel(job=self.get_object())
        return Response(self.get_serializer(job).data)

    @extend_schema(request=None, responses={202: JobSerializer})
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        job = job_retry(job=self.get_object())
        data = self.get_serializer(job).data
        return Response(data, status=202, headers={"Location": data["url"]})


class UsageView(APIView):
    """Your storage (bytes by kind), jobs and live sessions going, and the limits on each."""

    @extend_schema(responses=UsageSerializer)
    def get(self, request):
        return Response(UsageSerializer(usage(request.user)).data)
