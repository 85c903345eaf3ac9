"""The model page's Download ONNX button, in a real browser: the file it saves is the model,
as an ONNX graph onnxruntime runs."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


def test_the_button_downloads_the_models_onnx_file(logged_in, sample_model, tmp_path, shot):
    from models_app.models import TrainedModel
    from taskml.pipeline.onnx_export import read_onnx_metadata

    page = logged_in
    page.goto(f"/models/{sample_model.model_pk}/")
    button = page.get_by_role("link", name="Download ONNX")
    expect(button).to_be_visible(timeout=15_000)
    shot("model-page")
    with page.expect_download(timeout=120_000) as caught:
        button.click()
    download = caught.value
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert saved.suffix == ".onnx"
    meta = read_onnx_metadata(saved)
    assert meta["model_sha256"] == TrainedModel.objects.get(pk=sample_model.model_pk).sha256
    session = ort.InferenceSession(str(saved), providers=["CPUExecutionProvider"])
    frames, features = session.get_inputs()[0].shape[1:]
    probabilities, labels = session.run(None, {"window": np.zeros((2, frames, features), np.float32)})
    assert probabilities.shape == (2, len(meta["class_names"])) and labels.shape == (2,)
