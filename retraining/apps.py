from django.apps import AppConfig


class RetrainingConfig(AppConfig):
    name = "retraining"
    verbose_name = "retraining (policies, champion/challenger)"

    def ready(self) -> None:
        from jobs.models import Job
        from jobs.registry import JobType, job_type_register
        from retraining.models import RetrainPolicy
        from retraining.selectors import retrain_policy_champion_id, retrain_policy_get
        from retraining.services import retrain_policy_delete, retrain_run_execute
        from streaming.registry import POLICY, ChampionSource, champion_sources
        from taskml import deletion
        from videos.models import Video

        job_type_register(
            JobType(
                kind=Job.Kind.RETRAINING,
                task="retraining.run_retraining",
                queue="training",
                handler=retrain_run_execute,
            )
        )
        champion_sources.register(
            POLICY, ChampionSource(get=retrain_policy_get, champion_id=retrain_policy_champion_id)
        )
        deletion.deletable(RetrainPolicy, field="policy", delete=lambda p: retrain_policy_delete(policy=p))
        # Even a cascading delete stops here: a frozen held-out set that shrinks no longer compares runs fairly.
        deletion.depends(
            Video,
            "retraining policies holding it out",
            deletion.Dependence.BLOCKS,
            find=lambda video: RetrainPolicy.objects.filter(holdout_videos=video),
            refusal=lambda video, policies: (
                f"{video.stored_name} is held out by retraining policy "
                f"{', '.join(repr(p.name) for p in policies[:5])}; delete the policy first"
            ),
        )
