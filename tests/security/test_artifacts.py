"""Nothing from outside the registry is ever unpickled: a tampered artifact, a pickle dropped into the
models folder with no row, and a model named by path are all refused without running the pickle;
NumPy arrays are never loaded with pickles allowed."""

from __future__ import annotations

import ast
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings

from models_app.services import trained_model_load
from taskml import storage
from taskml.pipeline.artifacts import save_artifact
from taskml.pipeline.contracts import ModelBundle, WindowSettings
from taskml.pipeline.errors import InputError, IntegrityError
from taskml.pipeline.training import load_dataset
from tests.api.factories import ready_dataset, ready_model

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


class Exploit:
    """Unpickling this writes a file: if the marker appears, a pickle ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "pwned"))


def exploit_bytes(marker: Path) -> bytes:
    return pickle.dumps({"format_version": 1, "estimator": Exploit(marker)})


@pytest.fixture
def marker(tmp_path) -> Path:
    return tmp_path / "pickle-ran"


def tiny_bundle(estimator) -> ModelBundle:
    """A model bundle around ``estimator``: what save_artifact writes and load_artifact reads back."""
    return ModelBundle(
        estimator=estimator,
        model_type="rf",
        aggregation="stats",
        feature_names=["a"],
        window=WindowSettings(window_sec=2.0, step_sec=0.5, fps=5.0),
        scaler_mean=[0.0],
        scaler_scale=[1.0],
        label_to_idx={"x": 0, "y": 1},
        idx_to_label={"0": "x", "1": "y"},
    )


@pytest.fixture
def registered(alice):
    """alice's model with a real artifact whose sha256 the row records."""
    model = ready_model(alice, dataset=ready_dataset(alice))
    path = storage.absolute(model.path)
    path.parent.mkdir(parents=True, exist_ok=True)
    digest, _ = save_artifact(tiny_bundle({"weights": [1, 2, 3]}), path)
    model.sha256 = digest
    model.save(update_fields=["sha256"])
    return model


def test_the_registered_artifact_loads(registered):
    assert trained_model_load(trained_model=registered).estimator == {"weights": [1, 2, 3]}


def test_a_tampered_artifact_is_refused_before_unpickling(registered, marker):
    path = storage.absolute(registered.path)
    path.write_bytes(exploit_bytes(marker))  # swapped on disk, the row's checksum unchanged
    with pytest.raises(IntegrityError, match="does not match its recorded checksum"):
        trained_model_load(trained_model=registered)
    assert not marker.exists()
    # one flipped byte is enough
    save_artifact(tiny_bundle("fine"), path)
    data = bytearray(path.read_bytes())
    data[-3] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError):
        trained_model_load(trained_model=registered)


def test_a_row_without_checksum_is_never_loaded(registered, marker):
    storage.absolute(registered.path).write_bytes(exploit_bytes(marker))
    registered.sha256 = ""
    with pytest.raises(IntegrityError, match="no checksum on record"):
        trained_model_load(trained_model=registered)
    assert not marker.exists()


def test_a_pickle_dropped_into_the_models_folder_is_invisible(alice, client_for, registered, marker):
    dropped = storage.models_dir() / "task_classifier_rf_999.pkl"
    dropped.write_bytes(exploit_bytes(marker))
    (storage.models_dir() / "task_classifier_rf_999_meta.json").write_text(json.dumps({"sha256": "0" * 64}))
    api = client_for(alice)
    assert [m["filename"] for m in api.get("/backend/models").json()["models"]] == [registered.filename]
    assert api.get("/api/v1/models/").json()["count"] == 1
    r = api.get("/backend/stream_pose", {"task_model": dropped.name})
    assert r.status_code == 404 and r.json()["alert"].startswith("task_model: ")
    r = api.post("/api/v1/live-sessions/", {"model": 999, "source": "push"}, format="json")
    assert r.status_code in (400, 404)
    assert not marker.exists()


@pytest.mark.parametrize(
    "name",
    [
        "../mlruns/models/task_classifier_rf_999.pkl",
        "/tmp/evil.pkl",
        "..\\evil.pkl",
        "mlruns/models/x.pkl",
        "task_classifier_rf_1.pkl\x00.txt",
    ],
)
def test_a_model_named_by_path_is_refused(alice, client_for, registered, marker, name):
    (Path(settings.DATA_DIR) / "mlruns" / "evil.pkl").write_bytes(exploit_bytes(marker))
    r = client_for(alice).get("/backend/stream_pose", {"task_model": name})
    assert r.status_code == 400, r.content
    assert r.json()["alert"].startswith("task_model: ") and "not a path" in r.json()["alert"]
    assert not marker.exists()


def test_numpy_object_arrays_are_refused_by_the_dataset_loader(tmp_path, marker):
    for split in ("train", "val", "test"):
        np.save(tmp_path / f"X_{split}.npy", np.zeros((2, 3, 4), np.float32))
        np.save(tmp_path / f"y_{split}.npy", np.zeros(2, np.int64))
    minimal = {
        "feature_names": list("abcd"),
        "window_sec": 1.0,
        "step_sec": 0.5,
        "fps": 3.0,
        "scaler_mean": [0.0] * 4,
        "scaler_scale": [1.0] * 4,
        "idx_to_label": {"0": "a"},
        "label_to_idx": {"a": 0},
    }
    (tmp_path / "metadata.json").write_text(json.dumps(minimal))
    assert load_dataset(tmp_path).X["train"].shape == (2, 3, 4)
    evil = np.empty(2, dtype=object)
    evil[0], evil[1] = Exploit(marker), "x"
    np.save(tmp_path / "X_train.npy", evil, allow_pickle=True)
    with pytest.raises(InputError, match="X_train.npy: not a numeric array"):
        load_dataset(tmp_path)
    assert not marker.exists()


def _python_sources():
    for folder in ("taskml", "videos", "datasets", "models_app", "jobs", "streaming", "backend", "web", "users"):
        yield from (ROOT / folder).rglob("*.py")
    for app in ("learning", "retraining"):
        if (ROOT / app).is_dir():
            yield from (ROOT / app).rglob("*.py")


def _parse(source: Path) -> ast.AST:
    """ast.parse, again on CPython 3.11's "AST constructor recursion depth mismatch": its AST state
    is shared by the interpreter's threads (CPython gh-106905, fixed after 3.11.7), and a thread
    left by an earlier test may be using it."""
    for attempt in range(3):
        try:
            return ast.parse(source.read_text(), filename=str(source))
        except SystemError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def test_no_product_code_loads_pickles_except_the_checked_artifact_loader():
    """np.load never with allow_pickle=True; pickle/joblib/torch.load only in artifacts.load_artifact."""
    offenders = []
    for source in _python_sources():
        tree = _parse(source)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = ast.unparse(node.func)
            where = f"{source.relative_to(ROOT)}:{node.lineno} {name}"
            if name.endswith(("np.load", "numpy.load")):
                allow = [k for k in node.keywords if k.arg == "allow_pickle"]
                if allow and not (isinstance(allow[0].value, ast.Constant) and allow[0].value.value is False):
                    offenders.append(where)
            elif name in ("pickle.load", "pickle.loads", "joblib.load", "torch.load", "pd.read_pickle", "dill.load"):
                if source.relative_to(ROOT) != Path("taskml/pipeline/artifacts.py"):
                    offenders.append(where)
                elif name == "torch.load":
                    offenders.append(where)
    assert not offenders, offenders
    assert os.path.exists(ROOT / "taskml" / "pipeline" / "artifacts.py")
