from django.core.management.base import BaseCommand, CommandError

from models_app.models import TrainedModel
from retraining.management.commands._policy import add_policy_arguments, find_policy, service_errors
from retraining.services import retrain_policy_promote


class Command(BaseCommand):
    help = "Make a trained model (an older one too) the champion of a retraining policy; recorded and reversible."

    def add_arguments(self, parser):
        add_policy_arguments(parser)
        parser.add_argument("--model", required=True, help="the model's id or file name")
        parser.add_argument("--reason", default="", help="why (kept in the promotion history)")

    def handle(self, *args, **options):
        policy = find_policy(options["policy"], options["user"])
        value = options["model"]
        models = TrainedModel.objects.filter(owner=policy.owner)
        model = (models.filter(pk=int(value)).first() if value.isdigit() else None) or models.filter(
            filename=value
        ).first()
        if model is None:
            raise CommandError(f"model: no model {value!r} of {policy.owner}")
        with service_errors():
            promotion = retrain_policy_promote(policy=policy, model=model, user=None, reason=options["reason"])
        previous = promotion.previous.version_label if promotion.previous else "none"
        self.stdout.write(f"{policy.name}: champion {model.version_label} (was {previous})")
