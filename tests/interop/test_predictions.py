"""A model's predictions over a whole video: csv, csv_frames, activitynet results and Label
Studio predictions agree with each other and with the model's own window predictions."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from models_app.predictions import feature_rows, video_feature_file
from models_app.selectors import trained_model_detector
from models_app.services import trained_model_load
from taskml.pipeline.online import ModelRunner, predict_windows
from tests.interop.conftest import trained_on_megamind
from videos.models import Video

pytestmark = pytest.mark.slow


@pytest.fixture
def trained(alice, client_for, megamind, mega_features):
    api = client_for(alice)
    video, model = trained_on_megamind(alice, api, megamind=megamind, mega_features=mega_features)
    return api, video, model


def get(api, model, video, fmt):
    response = api.get(f"/api/v1/models/{model.pk}/predictions/", {"video": video["id"], "format": fmt})
    assert response.status_code == 200, response.content
    return response.content.decode()


def test_predictions_in_every_format_agree(trained):
    api, video, model = trained
    frames = {}
    for line in get(api, model, video, "csv_frames").splitlines()[1:]:
        frame, label, score = line.split(",")
        frames[int(frame)] = (label, float(score))
    # Independently: the model's windows over the video's features, each frame given the window
    # whose centre is nearest to its time.
    row = Video.objects.get(pk=video["id"])
    runner = ModelRunner(trained_model_load(trained_model=model))
    t, _, values = feature_rows(
        video_feature_file(video=row, detector=trained_model_detector(model)[0]), runner.feature_names
    )
    starts, probabilities = predict_windows(t, values, runner)
    centres = starts + runner.spec.window_sec / 2
    for frame in (0, 60, 135, 269):
        nearest = int(np.argmin(np.abs(centres - frame * 125 / 2997)))
        assert frames[frame][0] == runner.labels[int(probabilities[nearest].argmax())]
    assert len(frames) == 270
    truth = {f: ("holding_glass" if 1 <= f <= 97 or 154 <= f <= 199 else "talking") for f in range(1, 270)}
    assert np.mean([frames[f][0] == truth[f] for f in truth]) > 0.7  # trained on this very video

    spans = [line.split(",") for line in get(api, model, video, "csv").splitlines()[1:]]
    for start, end, label, score, t0, _ in spans:
        assert all(frames[f][0] == label for f in range(int(start), int(end) + 1))
        assert float(t0) == pytest.approx(int(start) * 125 / 2997, abs=1e-6)
        assert 0 < float(score) <= 1

    results = json.loads(get(api, model, video, "activitynet"))["results"]["Megamind"]
    assert [(r["label"], r["segment"][0]) for r in results] == [(s[2], float(s[4])) for s in spans]

    ls = json.loads(get(api, model, video, "label_studio"))
    prediction = ls[0]["predictions"][0]
    assert prediction["model_version"] == f"{model.filename}@v{model.version}"
    ranges = [(r["value"]["ranges"][0]["start"], r["value"]["ranges"][0]["end"], r["value"]["timelinelabels"][0])
              for r in prediction["result"]]  # fmt: skip
    assert ranges == [(int(s[0]) + 1, int(s[1]) + 1, s[2]) for s in spans]  # Label Studio counts from 1


def test_predictions_refusals_and_command(trained, bob, client_for, tmp_path):
    api, video, model = trained
    r = api.get(f"/api/v1/models/{model.pk}/predictions/", {"video": video["id"], "format": "xml"})
    assert r.status_code == 400 and "format" in r.json()
    assert client_for(bob).get(f"/api/v1/models/{model.pk}/predictions/", {"video": video["id"]}).status_code == 404
    bare = Video.objects.create(
        owner=model.owner, video_id="bare", stored_name="bare.avi", file="uploads/bare.avi", sha256="0" * 64,
        size_bytes=1, fps=10, frame_count=10, duration=1, width=8, height=8,
    )  # fmt: skip
    r = api.get(f"/api/v1/models/{model.pk}/predictions/", {"video": bare.pk})
    assert r.status_code == 400 and "extract one first" in r.json()["video"][0]
    out = tmp_path / "p.json"
    stdout = io.StringIO()
    call_command("predict_video", "--model", str(model.pk), "--video-id", str(video["id"]), "--format",
                 "activitynet", "--output", str(out), stdout=stdout)  # fmt: skip
    assert json.loads(out.read_text())["results"]["Megamind"]
    with pytest.raises(CommandError, match="--model: no trained model"):
        call_command("predict_video", "--model", "99999", "--video-id", str(video["id"]))
