"""Property-based fuzzing of every operation in the OpenAPI schema (schemathesis): /api/v1/ and
the /backend/ compatibility contract.

The schema is fetched from the real app at /api/v1/schema/ when the test runs, so endpoints
added later are fuzzed too. Each generated request (schema-conforming and deliberately
malformed ones) goes through the whole Django stack with alice's token against PostgreSQL;
the checks are: no 5xx, and every documented answer matches the schema. Each request runs in
a savepoint that is rolled back, so examples don't pile up rows (and no job is enqueued).
Path ids are drawn from alice's real objects half of the time, so reads, updates, deletes and
actions reach the code behind the lookup; /backend/ names (feature_files, dataset_dir, the
feature file in the path) likewise. Half of the examples then get one value replaced by an
extreme one: 1e308, 1e-9, -0.0, huge integers, 100,000-character and non-ASCII strings. /backend/
POSTs answer at once (TASKML_BACKEND_WAIT_SECONDS=0): nothing runs their jobs here.

Bounded: FUZZ_EXAMPLES examples per operation and mode (env TASKML_FUZZ_EXAMPLES, default 25).
"""

from __future__ import annotations

import contextlib
import os
import time

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance

from streaming.models import LiveSession
from tests.api.factories import job_row, ready_dataset, ready_feature_file, ready_model, video_row
from videos.models import LabelSpan

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

FUZZ_EXAMPLES = int(os.environ.get("TASKML_FUZZ_EXAMPLES", "25"))
CHECKS = [not_a_server_error, response_schema_conformance]
EXTREMES = [
    1e308, -1e308, 1e-9, -0.0, 10**30, -(10**30), 2**63, 2**31, "1e308", "1e-9", "-0.0", "99999999999999999999",
    "NaN", "x" * 100_000, "Zürich ☕ 東京 \u202e", "ü" * 5_000, " ", "\x00",
]  # fmt: skip


@contextlib.contextmanager
def connection_kept():
    """Like Django's test client: requests don't close the test's connection (it holds the transaction)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def seeded_ids(owner) -> dict[str, list[int]]:
    """One of each of alice's objects; path ids are drawn from these half of the time."""
    feature_file = ready_feature_file(owner)
    dataset = ready_dataset(owner, feature_file=feature_file)
    model = ready_model(owner, dataset=dataset)
    span = LabelSpan.objects.create(video=feature_file.video, start_frame=0, end_frame=5, label="a", source="csv")
    job = job_row(owner, target=dataset)
    session = LiveSession.objects.create(owner=owner, trained_model=model, source_kind="push")
    other_video = video_row(owner, name="spare")
    return {
        "videos": [feature_file.video.pk, other_video.pk],
        "label-spans": [span.pk],
        "feature-files": [feature_file.pk],
        "datasets": [dataset.pk],
        "models": [model.pk],
        "jobs": [job.pk],
        "live-sessions": [session.pk],
    }


def known_ids(path: str, ids: dict[str, list[int]]) -> list[int]:
    resource = path.removeprefix("/api/v1/").split("/")[0]
    return ids.get(resource, [1])


def known_names(owner) -> dict[str, str]:
    """alice's objects as /backend/ names them."""
    from datasets.models import Dataset
    from models_app.models import TrainedModel
    from videos.models import FeatureFile

    return {
        "feature_files": FeatureFile.objects.filter(owner=owner).first().filename,
        "filename": FeatureFile.objects.filter(owner=owner).first().filename,
        "dataset_dir": Dataset.objects.filter(owner=owner).first().name,
        "task_model": TrainedModel.objects.filter(owner=owner).first().filename,
    }


def _mutate(case, pick: int, extreme, names: dict[str, str]) -> None:
    """Real /backend/ names in half of the examples; one value made extreme in half of them."""
    body = case.body if isinstance(case.body, dict) else None
    if case.path.startswith("/backend/") and pick < 2:
        for name, value in names.items():
            if body is not None and name in body:
                body[name] = value
            if case.path_parameters and name in case.path_parameters:
                case.path_parameters[name] = value
    if extreme is None:
        return
    for container in (body, case.query):
        if container:
            key = sorted(container)[pick % len(container)]
            container[key] = str(extreme) if case.media_type != "application/json" else extreme
            return


def fuzz_operation(operation, mode: GenerationMode, auth: dict, ids: dict, names: dict) -> list[str]:
    """Run bounded examples of one operation; the distinct failures it found."""
    failures: dict[str, str] = {}
    has_id = "{id}" in operation.path

    @given(
        case=operation.as_strategy(generation_mode=mode),
        pick=st.integers(0, 3),
        extreme=st.one_of(st.none(), st.sampled_from(EXTREMES)),
    )
    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case, pick, extreme):
        if has_id and pick < 2 and case.path_parameters:
            choices = known_ids(operation.path, ids)
            case.path_parameters["id"] = choices[pick % len(choices)]
        _mutate(case, pick, extreme, names)
        with transaction.atomic():
            response = case.call(headers=auth)
            transaction.set_rollback(True)
        try:
            case.validate_response(response, checks=CHECKS)
        except FailureGroup as group:  # collect every distinct failure instead of stopping at the first
            key = ", ".join(sorted(type(f).__name__ + ":" + f.title for f in group.exceptions))
            failures.setdefault(key, f"{operation.label} [{mode.value}] {response.status_code} {str(group)[:1500]}")

    try:
        run()
    except Unsatisfiable:
        # Nothing malformed can be sent to an operation that takes no input at all (GET /backend/models)
        assert mode == GenerationMode.NEGATIVE and not _takes_input(operation), operation.label
    return list(failures.values())


def _takes_input(operation) -> bool:
    definition = operation.definition.raw
    return bool(definition.get("parameters") or definition.get("requestBody") or "{" in operation.path)


def test_every_operation_survives_fuzzing(alice, settings):
    settings.TASKML_BACKEND_WAIT_SECONDS = 0  # /backend/ POSTs answer 202 at once: no worker here
    ids = seeded_ids(alice)
    names = known_names(alice)
    auth = {"Authorization": f"Token {Token.objects.create(user=alice).key}"}
    from taskml.wsgi import application

    with connection_kept():
        schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", application, headers=auth)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 20, [op.label for op in operations]
        assert sum(op.path.startswith("/backend/") for op in operations) >= 8, [op.label for op in operations]
        failures, started = [], time.monotonic()
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                failures += fuzz_operation(operation, mode, auth, ids, names)
    seconds = time.monotonic() - started
    print(f"fuzzed {len(operations)} operations × 2 modes × {FUZZ_EXAMPLES} examples in {seconds:.0f} s")
    assert not failures, "\n\n".join(failures)
