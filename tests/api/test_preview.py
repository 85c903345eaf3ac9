"""POST /api/v1/datasets/preview/: the counts a build would produce, computed without writing.

Feature files here are real Parquet files (synthetic values, the columns extraction writes) in
the data directory; the preview's counts are checked against a build of the same request by the
service the dataset job runs.
"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from datasets.models import Dataset
from datasets.services import dataset_build
from jobs.models import Job
from taskml import storage
from tests.api.factories import ready_feature_file, video_row
from tests.pipeline.conftest import feature_frame, write_feature_file
from videos.models import LabelSpan

pytestmark = pytest.mark.django_db

PREVIEW = "/api/v1/datasets/preview/"
SMALL = {"window_sec": 2.0, "step_sec": 0.5}


def real_feature_file(owner, video_id: str, **frame_kwargs):
    """A FeatureFile row whose Parquet file exists in the data directory."""
    name = f"{video_id}_features.parquet"
    row = ready_feature_file(owner, video=video_row(owner, name=video_id), name=name, labels={})
    path = storage.absolute(row.path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = feature_frame(video_id, **frame_kwargs)
    write_feature_file(path, frame)
    row.label_distribution = {str(k): int(v) for k, v in frame["label"].value_counts().items()}
    row.num_frames = len(frame)
    row.save(update_fields=["label_distribution", "num_frames"])
    return row


@pytest.fixture
def five_files(alice):
    return [real_feature_file(alice, f"cam{i}", seed=i, segment_sec=5.0 + i) for i in range(5)]


def data_files() -> list[str]:
    root = storage.data_dir()
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


class NoReporter:
    def stage(self, name, progress=None):
        pass

    def __call__(self, done, total):
        pass


def build_as_the_job_would(api: APIClient, body: dict) -> Dataset:
    r = api.post("/api/v1/datasets/", body, format="json")
    assert r.status_code == 202, r.content
    dataset = Dataset.objects.get(pk=r.json()["id"])
    dataset_build(Job.objects.get(pk=dataset.job_id), NoReporter())
    dataset.refresh_from_db()
    return dataset


@pytest.mark.parametrize("balance", ["none", "downsample", "upsample"])
def test_preview_equals_the_built_dataset(alice, client_for, five_files, balance):
    api = client_for(alice)
    body = {"feature_files": [f.filename for f in five_files], **SMALL, "balance_method": balance, "seed": 3}
    before = data_files()
    r = api.post(PREVIEW, body, format="json")
    assert r.status_code == 200, r.content
    preview = r.json()
    assert data_files() == before  # nothing written
    assert Dataset.objects.count() == 0 and Job.objects.count() == 0

    dataset = build_as_the_job_would(api, body)
    assert preview["counts"] == dataset.class_counts
    assert preview["labels"] == dataset.labels
    assert preview["split_strategy"] == dataset.split_strategy
    assert preview["sizes"] == {"train": dataset.train_size, "val": dataset.val_size, "test": dataset.test_size}
    assert preview["windows"] == dataset.train_size + dataset.val_size + dataset.test_size
    assert preview["feature_files"] == body["feature_files"]
    assert set(preview["dropped"]) >= {"gap", "unlabelled", "ambiguous", "split_boundary"}
    if balance != "none":
        assert len(set(preview["counts"]["train"].values())) == 1
        assert preview["counts_before_balance"]["train"] != preview["counts"]["train"]


def test_preview_with_explicit_splits_and_one_video(alice, client_for, five_files):
    api = client_for(alice)
    splits = {"cam0": "test", "cam1": "train", "cam2": "train", "cam3": "val", "cam4": "train"}
    body = {"feature_files": [f.filename for f in five_files], **SMALL, "splits": splits}
    preview = api.post(PREVIEW, body, format="json").json()
    assert preview["split_strategy"] == "explicit"
    assert preview["splits"] == {"train": ["cam1", "cam2", "cam4"], "val": ["cam3"], "test": ["cam0"]}
    assert preview["counts"] == build_as_the_job_would(api, body).class_counts

    solo = real_feature_file(alice, "solo", seconds=120.0, segment_sec=6.0)
    body = {"feature_files": [solo.filename], "window_sec": 1, "step_sec": 0.25, "train_ratio": 0.5}
    body |= {"val_ratio": 0.25, "test_ratio": 0.25}
    preview = api.post(PREVIEW, body, format="json").json()
    assert preview["split_strategy"] == "temporal_blocks"
    assert preview["counts"] == build_as_the_job_would(api, body).class_counts


@pytest.mark.parametrize(
    "fields,code,field",
    [
        ({"feature_files": []}, 400, "feature_files"),
        ({"feature_files": ["../x.parquet"]}, 400, "feature_files"),
        ({"feature_files": ["missing.parquet"]}, 404, "feature_files"),
        ({"window_sec": -1}, 400, "window_sec"),
        ({"window_sec": "two"}, 400, "window_sec"),
        ({"step_sec": 0}, 400, "step_sec"),
        ({"balance_method": "magic"}, 400, "balance_method"),
        ({"train_ratio": 0.5, "val_ratio": 0.3, "test_ratio": 0.3}, 400, "train_ratio"),
        ({"val_ratio": 1.5}, 400, "val_ratio"),
        ({"seed": -1}, 400, "seed"),
        ({"splits": {"cam0": "holdout"}}, 400, "splits"),
        ({"groups": ["smell"]}, 400, "groups"),
        ({"min_purity": 0}, 400, "min_purity"),
        # Refused by the first pass itself: the split names no video for cam1..cam4.
        ({"splits": {"cam0": "train"}}, 400, "splits"),
        # Windows longer than any video: no split would hold a window; shorter ones would.
        ({"window_sec": 500}, 400, "window_sec"),
    ],
)
def test_bad_preview_requests_name_their_field(alice, client_for, five_files, fields, code, field):
    body = {"feature_files": [f.filename for f in five_files], **SMALL, **fields}
    r = client_for(alice).post(PREVIEW, body, format="json")
    assert r.status_code == code, r.content
    body = r.json()
    assert field in body or body.get("detail", "").startswith(f"{field}: "), body
    assert Dataset.objects.count() == 0
    if fields.get("window_sec") == 500:  # the answer names windows that work
        assert body["suggestion"]["window_sec"] < 500


def test_preview_refuses_what_create_refuses(alice, bob, client_for, five_files):
    one_class = real_feature_file(alice, "mono", pattern=("assemble",))
    pending = real_feature_file(alice, "later")
    pending.status = "running"
    pending.save(update_fields=["status"])
    api = client_for(alice)
    for names in ([one_class.filename], [pending.filename, five_files[0].filename]):
        body = {"feature_files": names, **SMALL}
        preview, create = api.post(PREVIEW, body, format="json"), api.post("/api/v1/datasets/", body, format="json")
        assert preview.status_code == create.status_code == 400
        assert preview.json() == create.json()
    # Another user's file is not found, as for create.
    r = client_for(bob).post(PREVIEW, {"feature_files": [five_files[0].filename]}, format="json")
    assert r.status_code == 404 and "feature_files" in r.json()["detail"]
    assert APIClient().post(PREVIEW, {"feature_files": ["x"]}, format="json").status_code in (401, 403)


def test_preview_is_in_the_schema(alice, client_for):
    r = client_for(alice).get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    operation = r.json()["paths"]["/api/v1/datasets/preview/"]["post"]
    assert "200" in operation["responses"]


def test_one_recording_idle_then_work_builds_with_every_class_in_every_split(alice, client_for):
    """The seed's label example over the API: one video, first one task then the other."""
    api = client_for(alice)
    rec = real_feature_file(alice, "rec", seconds=60.0, segment_sec=18.0, pattern=("inspect",) + ("assemble",) * 3)
    body = {"feature_files": [rec.filename]}  # seed defaults: 2 s windows, 0.5 s step, 0.7/0.15/0.15
    preview = api.post(PREVIEW, body, format="json").json()
    assert preview["split_method"]["strategy"] == "temporal_blocks"
    assert preview["classes_missing"] == {"train": [], "val": [], "test": []}
    dataset = build_as_the_job_would(api, body)
    answer = api.get(f"/api/v1/datasets/{dataset.pk}/").json()
    assert answer["classes_missing"] == {"train": [], "val": [], "test": []}
    assert answer["split_method"]["blocks"]["rec"] == preview["split_method"]["blocks"]["rec"]
    for split in ("train", "val", "test"):
        assert set(answer["class_counts"][split]) == {"assemble", "inspect"}


def test_short_clip_is_refused_with_windows_that_work(alice, client_for):
    api = client_for(alice)
    clip = real_feature_file(alice, "clip", seconds=11.0, segment_sec=3.0, pattern=("inspect", "assemble"))
    body = {"feature_files": [clip.filename]}
    r = api.post(PREVIEW, body, format="json")
    assert r.status_code == 400, r.content
    answer = r.json()
    assert "this 11 s video" in answer["window_sec"][0] and "try window_sec ≤ 1 " in answer["window_sec"][0]
    assert answer["suggestion"] == {"window_sec": 1.0, "step_sec": 0.5}
    assert Dataset.objects.count() == 0 and Job.objects.count() == 0
    # A build requested anyway is refused the same way, before any row or job; the suggestion builds.
    r = api.post("/api/v1/datasets/", body, format="json")
    assert r.status_code == 400 and r.json() == answer, r.content
    assert Dataset.objects.count() == 0 and Job.objects.count() == 0
    assert build_as_the_job_would(api, body | answer["suggestion"]).test_size > 0


def test_backend_build_refusal_carries_the_same_suggestion(alice, client_for):
    api = client_for(alice)
    clip = real_feature_file(alice, "clip", seconds=11.0, segment_sec=3.0, pattern=("inspect", "assemble"))
    r = api.post("/backend/build_task_dataset", {"feature_files": clip.filename})
    assert r.status_code == 400, r.content
    answer = r.json()
    assert answer["status"] == "error" and answer["alert"].startswith("window_sec: this 11 s video"), answer
    assert answer["suggestion"] == {"window_sec": 1.0, "step_sec": 0.5}
    assert Dataset.objects.count() == 0 and Job.objects.count() == 0


def test_a_rebuild_whose_relabelled_sources_cannot_split_is_refused_before_any_job(alice, client_for):
    api = client_for(alice)
    clip = real_feature_file(alice, "clip", seconds=30.0, segment_sec=5.0, pattern=("inspect", "assemble"))
    dataset = build_as_the_job_would(api, {"feature_files": [clip.filename], **SMALL})
    Job.objects.filter(pk=dataset.job_id).update(status=Job.Status.SUCCEEDED)  # as its worker would end it
    jobs = Job.objects.count()
    # the whole video relabelled as one class: the rebuild could only fail in its job
    LabelSpan.objects.create(video=clip.video, start_frame=0, end_frame=299, label="inspect", source="browser")
    r = api.post(f"/api/v1/datasets/{dataset.pk}/rebuild/")
    assert r.status_code == 400, r.content
    assert "one class (inspect)" in r.json()["feature_files"][0], r.content
    assert Job.objects.count() == jobs


def test_a_trained_models_answer_carries_its_warnings_the_params_it_read_and_cv(alice, client_for):
    from models_app.models import TrainedModel
    from models_app.services import trained_model_train

    api = client_for(alice)
    clip = real_feature_file(alice, "clip", seconds=30.0, segment_sec=5.0, pattern=("inspect", "assemble"))
    dataset = build_as_the_job_would(api, {"feature_files": [clip.filename], **SMALL})
    Dataset.objects.filter(pk=dataset.pk).update(status=Job.Status.SUCCEEDED)  # as its worker would end it
    body = {"dataset": dataset.pk, "model_type": "rf", "aggregation": "stats", "n_estimators": 20, "cv": 3}
    r = api.post("/api/v1/models/", body, format="json")
    assert r.status_code == 202, r.content
    model = TrainedModel.objects.get(pk=r.json()["id"])
    trained_model_train(Job.objects.get(pk=model.job_id), NoReporter())
    answer = api.get(f"/api/v1/models/{model.pk}/").json()
    # rf reads n_estimators and max_depth, not the networks' epochs or ridge's nothing-at-all
    assert answer["params_used"]["n_estimators"] == 20 and "epochs" not in answer["params_used"], answer
    assert answer["params_used"]["cv"] == 3
    assert answer["cv"]["k"] == 3 and answer["cv"]["grouped_by"] == "time_block", answer["cv"]
    assert set(answer["cv"]["f1_macro"]) >= {"mean", "std", "min"} and len(answer["cv"]["folds"]) == 3, answer["cv"]
    # one 30 s video: the test split holds few windows per class, which the answer says
    assert any(w.startswith("fewer than 10 test windows") for w in answer["warnings"]), answer["warnings"]
