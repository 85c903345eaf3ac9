from django.apps import AppConfig


class VideosConfig(AppConfig):
    name = "videos"

    def ready(self) -> None:
        from django.db.models import Sum

        from jobs.models import Job
        from jobs.quotas import storage_register
        from jobs.registry import JobType, job_type_register
        from taskml import deletion
        from videos.models import FeatureFile, Video
        from videos.services import feature_file_delete, feature_file_extract, video_delete

        job_type_register(
            JobType(
                kind=Job.Kind.EXTRACTION,
                task="videos.extract_features",
                queue="extraction",
                handler=feature_file_extract,
                target_input="feature_file_id",
            )
        )
        deletion.deletable(Video, field="video", delete=lambda v: video_delete(video=v), files=lambda v: [v.file])
        deletion.deletable(
            FeatureFile,
            field="feature_file",
            delete=lambda f: feature_file_delete(feature_file=f),
            files=lambda f: [f.path],
        )
        deletion.depends(
            Video,
            "feature files extracted from it",
            deletion.Dependence.CASCADE,
            find=lambda video: video.feature_files.all(),
            refusal=lambda video, files: (
                f"{video.stored_name} has {len(files)} feature file(s) "
                f"({', '.join(f.filename for f in files[:5])}); delete them first or cascade"
            ),
        )
        storage_register("videos", lambda owner: Video.objects.filter(owner=owner).aggregate(n=Sum("size_bytes"))["n"])
        storage_register(
            "feature_files", lambda owner: FeatureFile.objects.filter(owner=owner).aggregate(n=Sum("size_bytes"))["n"]
        )
