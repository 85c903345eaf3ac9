from django.apps import AppConfig


class DatasetsConfig(AppConfig):
    name = "datasets"

    def ready(self) -> None:
        from django.db.models import Sum

        from datasets.models import Dataset
        from datasets.services import dataset_build, dataset_delete
        from jobs.models import Job
        from jobs.quotas import storage_register
        from jobs.registry import JobType, job_type_register
        from taskml import deletion
        from videos.models import FeatureFile

        job_type_register(
            JobType(
                kind=Job.Kind.DATASET,
                task="datasets.build_dataset",
                queue="datasets",
                handler=dataset_build,
                target_input="dataset_id",
            )
        )
        deletion.deletable(
            Dataset, field="dataset", delete=lambda d: dataset_delete(dataset=d), files=lambda d: [d.path]
        )
        deletion.depends(
            FeatureFile,
            "datasets built from it",
            deletion.Dependence.CASCADE,
            find=lambda feature_file: feature_file.datasets.all(),
            refusal=lambda feature_file, datasets: (
                f"{feature_file.filename} is a source of {len(datasets)} dataset(s) "
                f"({', '.join(d.name for d in datasets[:5])}); delete them first or cascade"
            ),
        )
        storage_register(
            "datasets", lambda owner: Dataset.objects.filter(owner=owner).aggregate(n=Sum("size_bytes"))["n"]
        )
