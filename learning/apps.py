from django.apps import AppConfig


class LearningConfig(AppConfig):
    name = "learning"
    verbose_name = "learning loop (active learning, ablations)"

    def ready(self) -> None:
        from jobs.models import Job
        from jobs.registry import JobType, job_type_register
        from learning.models import Ablation, LabellingRound
        from learning.services import (
            ablation_delete,
            ablation_run,
            labelling_round_delete,
            labelling_round_retrain,
            labelling_round_suggest,
        )
        from taskml import deletion

        for kind, task, handler in (
            (Job.Kind.SUGGESTIONS, "learning.compute_suggestions", labelling_round_suggest),
            (Job.Kind.ABLATION, "learning.run_ablation", ablation_run),
            (Job.Kind.LABELLING_ROUND, "learning.retrain_round", labelling_round_retrain),
        ):
            job_type_register(JobType(kind=kind, task=task, queue="training", handler=handler))
        deletion.deletable(LabellingRound, field="round", delete=lambda r: labelling_round_delete(round_=r))
        deletion.deletable(Ablation, field="ablation", delete=lambda a: ablation_delete(ablation=a))
