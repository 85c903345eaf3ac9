"""manage.py ablate_task_model on a small built dataset (no database), and the service refusals that
need no worker: each names its field, and nothing is written."""

from __future__ import annotations

import json
from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from learning.models import Ablation, LabellingRound
from learning.services import ablation_request, labelling_round_close, labelling_round_request
from taskml.domain import Conflict, ValidationFailed
from taskml.pipeline.dataset import build_dataset
from taskml.pipeline.features import FEATURE_GROUPS
from tests.api.factories import ready_dataset, ready_feature_file, ready_model, video_row
from tests.messages import exactly
from tests.pipeline.conftest import feature_frame, small_spec, write_feature_file


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("ablate-cli")
    paths = []
    for i in range(5):
        frame = feature_frame(f"v{i}", seed=i, segment_sec=4.0 + i, nan_fraction=0.0)
        rng = np.random.default_rng(i)
        for column in FEATURE_GROUPS["objects"]:  # objects carry nothing but noise
            frame[column] = rng.normal(size=len(frame)).astype(np.float32)
        paths.append(write_feature_file(root / f"v{i}.parquet", frame))
    build_dataset(paths, root / "dataset", spec=small_spec())
    return root / "dataset"


def test_ablate_task_model_prints_the_table_and_writes_the_report(dataset_dir, tmp_path):
    out = StringIO()
    report_file = tmp_path / "report.json"
    call_command(
        "ablate_task_model", "--dataset", str(dataset_dir), "--model", "rf", "--n-estimators", "15",
        "--groups", "pose", "hands", "objects", "--output", str(report_file), "--no-progress", stdout=out,
    )  # fmt: skip
    lines = out.getvalue().splitlines()
    assert lines[0].split()[:4] == ["group", "features", "accuracy", "Δacc"]
    assert [line.split()[0] for line in lines[1:5]] == ["pose", "hands", "objects", "fused"]
    assert "identical splits" in lines[-1]
    report = json.loads(report_file.read_text())
    assert report["order"] == ["pose", "hands", "objects", "fused"] and report["skipped"] == {}
    assert report["groups"]["objects"]["accuracy"] < report["groups"]["fused"]["accuracy"]
    assert report["groups"]["fused"]["delta_accuracy"] == 0.0


def test_ablate_task_model_errors_are_one_line(tmp_path):
    with pytest.raises(CommandError, match="metadata.json"):
        call_command("ablate_task_model", "--dataset", str(tmp_path), "--no-progress")


@pytest.mark.django_db
def test_refusals_name_their_field_and_write_nothing(alice):
    feature_file = ready_feature_file(alice)  # a MediaPipe file
    dataset = ready_dataset(alice, feature_file=feature_file)
    model = ready_model(alice, dataset=dataset)
    other_video = video_row(alice, name="other")  # nothing extracted from it
    with pytest.raises(ValidationFailed) as caught:
        labelling_round_request(owner=alice, model=model, videos=[other_video], params={})
    assert caught.value.field == "videos" and "mediapipe" in caught.value.message
    for params, field in (({"min_confidence": 2}, "min_confidence"), ({"score": "vibes"}, "score"),
                          ({"colour": 1}, "colour")):  # fmt: skip
        with pytest.raises(ValidationFailed) as caught:
            labelling_round_request(owner=alice, model=model, videos=[feature_file.video], params=params)
        assert caught.value.field == field
    model.status = "running"
    with pytest.raises(ValidationFailed, match="not trained"):
        labelling_round_request(owner=alice, model=model, videos=[feature_file.video], params={})
    assert not LabellingRound.objects.exists()

    round_ = LabellingRound.objects.create(owner=alice, model=model)  # still suggesting
    with pytest.raises(
        Conflict, match=exactly(f"round: round {round_.pk} is suggesting; only an open round can be closed")
    ):
        labelling_round_close(round_=round_, retrain=False, user=alice)
    round_.state = "open"
    round_.save()
    with pytest.raises(ValidationFailed) as caught:
        labelling_round_close(round_=round_, retrain=True, user=alice)
    assert caught.value.field == "retrain"

    with pytest.raises(ValidationFailed) as caught:
        ablation_request(owner=alice, dataset=dataset, groups=["feet"])
    assert caught.value.field == "groups"
    with pytest.raises(ValidationFailed) as caught:
        ablation_request(owner=alice, dataset=dataset, model_type="svm")
    assert caught.value.field == "model_type"
    dataset.status = "failed"
    with pytest.raises(ValidationFailed, match="not built"):
        ablation_request(owner=alice, dataset=dataset)
    assert not Ablation.objects.exists()
