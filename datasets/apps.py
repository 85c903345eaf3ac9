from django.apps import AppConfig


class DatasetsConfig(AppConfig):
    name = "datasets"

    def ready(self) -> None:
        from django.db.models import Sum

        from datasets.models import Dataset
        from jobs.quotas import storage_register

        storage_register(
            "datasets", lambda owner: Dataset.objects.filter(owner=owner).aggregate(n=Sum("size_bytes"))["n"]
        )
