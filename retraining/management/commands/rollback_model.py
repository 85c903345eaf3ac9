from django.core.management.base import BaseCommand

from retraining.management.commands._policy import add_policy_arguments, find_policy, service_errors
from retraining.services import retrain_policy_rollback


class Command(BaseCommand):
    help = "Restore the champion the current one replaced; recorded in the promotion history."

    def add_arguments(self, parser):
        add_policy_arguments(parser)
        parser.add_argument("--reason", default="", help="why (kept in the promotion history)")

    def handle(self, *args, **options):
        policy = find_policy(options["policy"], options["user"])
        with service_errors():
            promotion = retrain_policy_rollback(policy=policy, user=None, reason=options["reason"])
        was = promotion.previous.version_label
        self.stdout.write(f"{policy.name}: champion {promotion.model.version_label} (rolled back from {was})")
