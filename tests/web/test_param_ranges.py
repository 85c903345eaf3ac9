"""The pages' number inputs take their range, step and default from the parameter's one
definition (``Param``), the same the API, /backend/ and the command line read."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User

from retraining.services import POLICY_PARAMS
from taskml.pipeline.dataset import DATASET_PARAMS
from taskml.pipeline.estimators import MODEL_PARAMS
from taskml.pipeline.interchange import LABEL_FPS
from taskml.pipeline.online import SMOOTHING_PARAMS
from taskml.pipeline.params import SAMPLE_RATE
from taskml.pipeline.training import CV_FOLDS

pytestmark = pytest.mark.django_db

PAGES = {
    "/datasets/": DATASET_PARAMS,
    "/models/": {**MODEL_PARAMS, CV_FOLDS.name: CV_FOLDS},
    "/retraining/": {**DATASET_PARAMS, **MODEL_PARAMS, **POLICY_PARAMS},
    "/live/": SMOOTHING_PARAMS,
}


def _inputs(html: str) -> dict[str, dict[str, str]]:
    found = {}
    for tag in re.findall(r"<input\b[^>]*>", html):
        attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', tag))
        if attrs.get("type") == "number" and "name" in attrs:
            found.setdefault(attrs["name"], attrs)
    return found


def _number(text: str) -> float:
    return float(text)


@pytest.fixture
def client_in(client):
    client.force_login(User.objects.create_user("ranges"))
    return client


@pytest.mark.parametrize("path", list(PAGES))
def test_number_inputs_carry_the_parameters_own_range_and_default(client_in, path):
    response = client_in.get(path)
    assert response.status_code == 200
    inputs = _inputs(response.content.decode())
    checked = [name for name in inputs if name in PAGES[path]]
    assert len(checked) >= 3, sorted(inputs)
    for name in checked:
        param, attrs = PAGES[path][name], inputs[name]
        assert _number(attrs["min"]) == param.minimum, (name, attrs)
        assert _number(attrs["max"]) == param.maximum, (name, attrs)
        assert attrs["step"] == ("1" if param.kind is int else "any"), (name, attrs)
        assert param.describe() in attrs["title"], (name, attrs)
        shown = attrs.get("value", attrs.get("placeholder"))
        if param.default is not None:
            assert _number(shown) == param.default, (name, attrs)


def test_the_extraction_form_takes_the_sample_rate_range(client_in):
    from videos.models import Video

    video = Video.objects.create(
        owner=User.objects.get(username="ranges"),
        video_id="v",
        stored_name="v.avi",
        file="videos/v.avi",
        sha256="0" * 64,
        size_bytes=1,
        fps=10.0,
        frame_count=10,
        duration=1.0,
        width=8,
        height=8,
    )
    response = client_in.get(f"/videos/{video.pk}/")
    html = response.content.decode()
    attrs = _inputs(html)["sample_rate"]
    assert (_number(attrs["min"]), _number(attrs["max"]), attrs["value"]) == (1, SAMPLE_RATE.maximum, "1")
    # the label import's Label Studio frame rate: the API's and import_labels' range too
    tag = re.search(r'<input id="import-fps"[^>]*>', html).group(0)
    fps = dict(re.findall(r'([\w-]+)="([^"]*)"', tag))
    assert (_number(fps["min"]), _number(fps["max"]), fps["step"]) == (LABEL_FPS.minimum, LABEL_FPS.maximum, "any")
