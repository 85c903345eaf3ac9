from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from jobs.models import Job
from jobs.services import job_run, job_wait
from learning.models import LabellingRound
from learning.services import SUGGESTION_FIELDS, labelling_round_request, labelling_round_suggest
from models_app.models import TrainedModel
from taskml.cli import one_line_errors
from taskml.domain import ServiceError
from taskml.pipeline.active import SCORES
from videos.models import Video


class Command(BaseCommand):
    help = (
        "Start an active-learning round: predict the videos with a trained model and print its most uncertain "
        "spans, ranked (the round and its spans are stored, to decide in the labeller or the API)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--model", required=True, help="trained model id or file name (task_classifier_…pkl)")
        parser.add_argument("--video", nargs="+", required=True, help="video ids or stored names (the model owner's)")
        parser.add_argument("--threshold", "--min-confidence", dest="min_confidence", type=float,
                            help="mark windows whose top probability is below this (default 0.6)")  # fmt: skip
        parser.add_argument("--min-margin", type=float, help="mark windows whose top-2 margin is below (default 0.2)")
        parser.add_argument("--min-flips", type=int, help="label changes within the neighbourhood (default 2, 0: off)")
        parser.add_argument("--neighbourhood", type=int, help="windows either side checked for flips (default 2)")
        parser.add_argument("--max-gap", type=int, help="unmarked windows bridged inside one span (default 1)")
        parser.add_argument("--min-windows", type=int, help="shortest span kept, in windows (default 1)")
        parser.add_argument("--score", choices=SCORES, help="span uncertainty score (default least_confidence)")
        parser.add_argument("--max-spans", type=int, help="spans kept after ranking (default 50, 0: all)")
        parser.add_argument("--timeout", type=float, default=600, help="seconds to wait when a worker runs it")

    def handle(self, *args, **opts):
        model_key = opts["model"]
        lookup = Q(filename=model_key) | (Q(pk=int(model_key)) if model_key.isdigit() else Q())
        model = TrainedModel.objects.filter(lookup).select_related("owner").first()
        if model is None:
            raise CommandError(f"no trained model {model_key!r}")
        videos = []
        for key in opts["video"]:
            found = Video.objects.filter(
                Q(stored_name=key) | (Q(pk=int(key)) if key.isdigit() else Q()), owner=model.owner
            ).first()
            if found is None:
                raise CommandError(f"no video {key!r} of {model.owner.username}, who owns {model}")
            videos.append(found)
        params = {name: opts[name] for name in SUGGESTION_FIELDS if opts.get(name) is not None}
        try:
            round_ = labelling_round_request(owner=model.owner, model=model, videos=videos, params=params)
        except ServiceError as exc:
            raise CommandError(str(exc)) from None
        with one_line_errors():
            # Run it here; if a worker claimed it first, wait for that worker instead.
            job = job_run(job_id=round_.job_id, handler=labelling_round_suggest, worker="suggest_spans")
            job = job or job_wait(job=round_.job, timeout=opts["timeout"])
        round_ = LabellingRound.objects.get(pk=round_.pk)
        if job.status != Job.Status.SUCCEEDED:
            raise CommandError(f"round {round_.pk}: job {job.pk} {job.status}: {job.error or job.stage}")
        self.stdout.write(
            f"round {round_.pk} of {model} (accuracy {model.accuracy if model.accuracy is not None else '-'}) on "
            f"{', '.join(v.stored_name for v in videos)}: {round_.spans_shown} spans, "
            f"most uncertain first (score {round_.params['score']})"
        )
        self.stdout.write(f"{'rank':>4}  {'span':>6}  {'video':<28} {'frames':>13}  {'seconds':>13}  "
                          f"{'predicted':<16} {'conf':>5}  {'uncert':>6}  reasons")  # fmt: skip
        for span in round_.spans.select_related("video").order_by("rank"):
            self.stdout.write(
                f"{span.rank:>4}  {span.pk:>6}  {span.video.stored_name[:28]:<28} "
                f"{f'{span.start_frame}-{span.end_frame}':>13}  {f'{span.start_time:.2f}-{span.end_time:.2f}':>13}  "
                f"{span.predicted_label[:16]:<16} {span.confidence:>5.2f}  {span.uncertainty:>6.3f}  "
                f"{','.join(span.reasons)}"
            )
