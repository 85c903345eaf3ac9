from django.apps import AppConfig


class ModelsAppConfig(AppConfig):
    name = "models_app"

    def ready(self) -> None:
        from django.db.models import Sum

        from datasets.models import Dataset
        from jobs.models import Job
        from jobs.quotas import storage_register
        from jobs.registry import JobType, job_type_register
        from models_app.models import TrainedModel
        from models_app.services import trained_model_delete, trained_model_files, trained_model_train
        from taskml import deletion

        job_type_register(
            JobType(
                kind=Job.Kind.TRAINING,
                task="models_app.train_model",
                queue="training",
                handler=trained_model_train,
                target_input="trained_model_id",
            )
        )
        deletion.deletable(
            TrainedModel,
            field="model",
            delete=lambda m: trained_model_delete(trained_model=m),
            files=trained_model_files,
        )
        deletion.depends(
            Dataset,
            "models trained on it",
            deletion.Dependence.CASCADE,
            find=lambda dataset: dataset.trained_models.all(),
            refusal=lambda dataset, models: (
                f"{dataset.name} has {len(models)} trained model(s) "
                f"({', '.join(str(m) for m in models[:5])}); delete them first or cascade"
            ),
        )
        storage_register(
            "models", lambda owner: TrainedModel.objects.filter(owner=owner).aggregate(n=Sum("size_bytes"))["n"]
        )
