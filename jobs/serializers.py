from rest_framework import serializers

from jobs.models import Job


class JobSerializer(serializers.ModelSerializer):
    seconds = serializers.FloatField(read_only=True, allow_null=True)
    queue_seconds = serializers.FloatField(read_only=True, allow_null=True)
    target = serializers.SerializerMethodField()
    url = serializers.HyperlinkedIdentityField(view_name="job-detail")

    class Meta:
        model = Job
        fields = [
            "id", "url", "kind", "status", "stage", "progress", "error", "error_kind", "inputs", "outputs",
            "attempts", "cancel_requested", "retry_of", "target", "celery_task_id", "worker",
            "created_at", "started_at", "finished_at", "heartbeat_at", "seconds", "queue_seconds",
        ]  # fmt: skip
        read_only_fields = fields

    def get_target(self, job: Job) -> dict | None:
        if not job.target_type_id:
            return None
        return {"type": job.target_type.model, "id": job.target_id}


class StorageUsageSerializer(serializers.Serializer):
    total = serializers.IntegerField(help_text="bytes stored")
    limit = serializers.IntegerField(help_text="bytes you may store (TASKML_MAX_STORAGE_MB_PER_USER; 0: no limit)")
    videos = serializers.IntegerField(required=False)
    feature_files = serializers.IntegerField(required=False)
    datasets = serializers.IntegerField(required=False)
    models = serializers.IntegerField(required=False)


class CountUsageSerializer(serializers.Serializer):
    active = serializers.IntegerField(help_text="pending or running")
    limit = serializers.IntegerField(help_text="the most you may have (0: no limit)")


class UsageSerializer(serializers.Serializer):
    """What you have stored and going, against the limits of this deployment."""

    storage = StorageUsageSerializer()
    jobs = CountUsageSerializer(help_text="TASKML_MAX_ACTIVE_JOBS_PER_USER")
    live_sessions = CountUsageSerializer(required=False, help_text="TASKML_MAX_LIVE_SESSIONS_PER_USER")
