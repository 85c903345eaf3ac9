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
