"""The model a live session runs, downloaded as ONNX from the real server and run by the portable
runtime on the same video: the same windows, labels and probabilities as the session streamed."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest
import requests

from tests.conftest import ROOT
from tests.streaming.conftest import connect, create_session, receive_until_finished, sessions_held

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


def download(platform, person, model_id: int) -> requests.Response:
    return requests.get(f"{platform.http}/api/v1/models/{model_id}/onnx/", headers=person.headers, timeout=300)


def test_the_runtime_on_the_downloaded_model_matches_the_live_session(platform, trained, megamind, tmp_path):
    r = download(platform, trained.alice, trained.model_id)
    assert r.status_code == 200, r.text[:500]
    assert r.headers["Content-Type"] == "application/octet-stream"
    assert f'filename="{trained.model_file.removesuffix(".pkl")}.onnx"' in r.headers["Content-Disposition"]
    assert r.headers["X-Checksum-Sha256"] == hashlib.sha256(r.content).hexdigest()
    model_file = tmp_path / "model.onnx"
    model_file.write_bytes(r.content)
    again = download(platform, trained.alice, trained.model_id)  # kept beside the artifact: the same bytes
    assert again.content == r.content

    with sessions_held(platform):
        created = create_session(
            platform, trained.alice, model=trained.model_id, source="video", video=trained.video_id, realtime=False,
            smoothing={"method": "hysteresis", "min_duration": 0.5},
        ).json()  # fmt: skip
        ws = connect(platform, created["id"], trained.alice)
    with ws:
        messages = receive_until_finished(ws)
    live: dict[float, dict] = {}
    for m in messages:
        if m["stage"] == "sample" and m["task_prediction"] is not None:
            live.setdefault(m["window"]["start"], m)
    started = next(m for m in messages if m["stage"] == "started")
    assert started["model_version"].endswith(r.headers["X-Model-Sha256"][:8])

    done = subprocess.run(
        [sys.executable, "-m", "taskml.runtime", "--model", str(model_file), "--video", str(megamind),
         "--smoothing", "hysteresis", "--min-duration", "0.5", "--sha256", r.headers["X-Checksum-Sha256"]],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    portable = {line["window"]["start"]: line for line in lines}
    labels = started["labels"]
    assert len(live) > 30 and set(live) <= set(portable)  # the session publishes all but the finish() windows
    for start, message in live.items():
        line = portable[start]
        assert line["label"] == message["task_prediction"], start
        assert line["window"]["label"] == message["window"]["label"], start
        got = np.array([line["probabilities"][label] for label in labels])
        sent = np.array([message["probabilities"][label] for label in labels])  # rounded to 4 places
        assert np.abs(got - sent).max() <= 1e-4, start


def test_onnx_downloads_are_the_owners_and_only_of_trained_models(platform, trained):
    assert download(platform, trained.bob, trained.model_id).status_code == 404
    pending = download(platform, trained.alice, trained.pending_model_id)
    assert pending.status_code == 400 and "not trained" in pending.text
    assert requests.get(f"{platform.http}/api/v1/models/{trained.model_id}/onnx/", timeout=30).status_code in (401, 403)


def test_export_model_command_writes_the_registry_model(trained, tmp_path):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    from taskml.pipeline.onnx_export import read_onnx_metadata

    out = tmp_path / "m.onnx"
    call_command("export_model", "--model", str(trained.model_id), "--output", str(out))
    meta = read_onnx_metadata(out)
    assert meta["class_names"] == ["holding_glass", "talking"] and meta["detector"]["kind"] == "mediapipe"
    with pytest.raises(CommandError, match="no model 999999 in the registry"):
        call_command("export_model", "--model", "999999", "--output", str(tmp_path / "x.onnx"))
    assert not (tmp_path / "x.onnx").exists()


def test_the_servers_detector_metadata_names_the_object_model_not_its_paths(settings):
    """What an export of a model of default fusion features records, with this server's settings
    (its data and models folders): the COCO SSD by name, sha256 and thresholds, no folder of the server."""
    from taskml.pipeline.objects import SSD_MODEL_FILE, SSD_MODEL_SHA256
    from taskml.pipeline.onnx_export import detector_metadata
    from videos.detectors import detector_config

    config = detector_config(kind="fusion")
    assert config.models_dir and config.cache_dir  # the server's own folders, set by its settings
    recorded = json.dumps(detector_metadata(config))
    assert str(settings.TASKML_MODELS_DIR) not in recorded and str(settings.DATA_DIR) not in recorded
    objects = json.loads(recorded)["objects"]
    assert (objects["backend"], objects["model"], objects["sha256"]) == ("tflite-ssd", SSD_MODEL_FILE, SSD_MODEL_SHA256)


def test_the_model_page_offers_the_onnx_download(trained, client):
    client.force_login(trained.alice.user)
    page = client.get(f"/models/{trained.model_id}/").content.decode()
    assert f'href="/api/v1/models/{trained.model_id}/onnx/"' in page and "Download ONNX" in page
