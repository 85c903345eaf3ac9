from django.apps import AppConfig


class ModelsAppConfig(AppConfig):
    name = "models_app"

    def ready(self) -> None:
        from django.db.models import Sum

        from jobs.quotas import storage_register
        from models_app.models import TrainedModel

        storage_register(
            "models", lambda owner: TrainedModel.objects.filter(owner=owner).aggregate(n=Sum("size_bytes"))["n"]
        )
