from django.core.management.base import BaseCommand, CommandError

from jobs.models import Job
from jobs.services import job_wait
from retraining.management.commands._policy import add_policy_arguments, find_policy, service_errors
from retraining.services import retrain_run_request


class Command(BaseCommand):
    help = "Start a retraining run of a policy (a job for the training workers); --wait for its decision."

    def add_arguments(self, parser):
        add_policy_arguments(parser)
        parser.add_argument("--wait", action="store_true", help="wait for the run to end and print its decision")
        parser.add_argument("--timeout", type=float, default=3600.0, help="seconds --wait waits (3600)")

    def handle(self, *args, **options):
        policy = find_policy(options["policy"], options["user"])
        with service_errors():
            run = retrain_run_request(policy=policy)
        self.stdout.write(f"run {run.pk} of {policy.name}: job {run.job_id} queued")
        if not options["wait"]:
            return
        job = job_wait(job=run.job, timeout=options["timeout"])
        run.refresh_from_db()
        if not job.is_terminal:
            raise CommandError(f"run {run.pk} still {job.status} after {options['timeout']:g} s (is a worker running?)")
        if job.status != Job.Status.SUCCEEDED:
            raise CommandError(f"run {run.pk} {job.status}: {job.error}")
        self.stdout.write(f"run {run.pk}: {run.decision} — {run.reason}")
