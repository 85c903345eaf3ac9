from django.apps import AppConfig


class VideosConfig(AppConfig):
    name = "videos"

    def ready(self) -> None:
        from django.db.models import Sum

        from jobs.quotas import storage_register
        from videos.models import FeatureFile, Video

        storage_register("videos", lambda owner: Video.objects.filter(owner=owner).aggregate(n=Sum("size_bytes"))["n"])
        storage_register(
            "feature_files", lambda owner: FeatureFile.objects.filter(owner=owner).aggregate(n=Sum("size_bytes"))["n"]
        )
