"""build_dataset over synthetic feature Parquet files: outputs, leakage safety, errors."""

from __future__ import annotations

import csv
import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from taskml.pipeline import dataset as dataset_module
from taskml.pipeline.dataset import DatasetSpec, PlanRefused, build_dataset, plan_dataset
from taskml.pipeline.errors import InputError
from taskml.pipeline.features import ALL_FEATURE_COLUMNS
from taskml.pipeline.training import TrainSpec, train_model
from taskml.pipeline.windows import WindowSpec
from tests.messages import exactly

from .conftest import CLASSES, SMALL_WINDOW, feature_frame, small_spec, write_feature_file

SPLIT_NAMES = ("train", "val", "test")
METADATA_KEYS = {
    "feature_names", "num_features", "window_sec", "step_sec", "fps", "scaler_mean", "scaler_scale",
    "label_to_idx", "idx_to_label", "train_size", "val_size", "test_size", "train_label_dist",
    "val_label_dist", "test_label_dist", "split_strategy", "splits", "dropped_windows", "sources",
}  # fmt: skip


def load(out):
    arrays = {}
    for name in SPLIT_NAMES:
        arrays[f"X_{name}"] = np.load(out / f"X_{name}.npy")
        arrays[f"y_{name}"] = np.load(out / f"y_{name}.npy")
    return arrays, json.loads((out / "metadata.json").read_text())


def window_rows(out, split):
    with open(out / f"windows_{split}.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def input_error(paths, out, spec=None) -> str:
    with pytest.raises(InputError) as info:
        build_dataset(paths, out, spec=spec or small_spec())
    message = str(info.value)
    assert message and "\n" not in message
    return message


# --------------------------------------------------------------------------- outputs


def test_outputs_and_metadata(five_videos, tmp_path):
    out = tmp_path / "ds"
    result = build_dataset(five_videos, out, spec=small_spec())
    arrays, meta = load(out)
    for name in SPLIT_NAMES:
        assert arrays[f"X_{name}"].dtype == np.float32
        assert arrays[f"y_{name}"].dtype == np.int64
        assert (out / f"windows_{name}.csv").is_file()
    assert METADATA_KEYS <= set(meta)
    assert meta["feature_names"] == ALL_FEATURE_COLUMNS
    assert meta["num_features"] == len(ALL_FEATURE_COLUMNS)
    assert meta["window_sec"] == 2.0 and meta["step_sec"] == 0.5 and meta["fps"] == 5.0
    assert meta["label_to_idx"] == {name: i for i, name in enumerate(CLASSES)}
    assert meta["idx_to_label"] == {str(i): name for i, name in enumerate(CLASSES)}
    assert len(meta["scaler_mean"]) == len(meta["scaler_scale"]) == len(ALL_FEATURE_COLUMNS)
    assert meta["split_strategy"] == "video"
    assert set(meta["dropped_windows"]) >= {"gap", "unlabelled", "ambiguous", "split_boundary"}
    for name in SPLIT_NAMES:
        y = arrays[f"y_{name}"]
        assert meta[f"{name}_size"] == len(y) == len(arrays[f"X_{name}"]) > 0
        assert meta[f"{name}_label_dist"] == {
            CLASSES[c]: int((y == c).sum()) for c in range(len(CLASSES)) if (y == c).any()
        }
        assert len(window_rows(out, name)) == len(y)
    assert len(meta["sources"]) == 5
    for source, path in zip(meta["sources"], five_videos, strict=True):
        assert source["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert source["video_id"] == path.stem
        assert source["fps"] == 10.0
    assert result.output == out
    assert result.metadata.train_size == meta["train_size"]


def test_x_shape_and_no_missing_values_after_scaling(five_videos, tmp_path):
    out = tmp_path / "ds"
    build_dataset(five_videos, out, spec=small_spec())
    arrays, meta = load(out)
    for name in SPLIT_NAMES:
        X = arrays[f"X_{name}"]
        assert X.shape[1:] == (SMALL_WINDOW.frames, meta["num_features"]) == (10, len(ALL_FEATURE_COLUMNS))
        assert np.isfinite(X).all()


def test_feature_groups_select_columns(five_videos, tmp_path):
    out = tmp_path / "ds"
    build_dataset(five_videos, out, spec=small_spec(groups=("objects",)))
    arrays, meta = load(out)
    assert meta["feature_names"] == ["right_hand_obj_dist", "left_hand_obj_dist", "num_objects"]
    assert arrays["X_train"].shape[2] == 3


def test_metadata_is_strict_json_with_plain_ints(five_videos, tmp_path):
    out = tmp_path / "ds"
    build_dataset(five_videos, out, spec=small_spec())
    text = (out / "metadata.json").read_text()

    def refuse(value):
        raise ValueError(f"non-standard JSON constant {value}")

    meta = json.loads(text, parse_constant=refuse)  # no NaN / Infinity
    for name in SPLIT_NAMES:
        assert type(meta[f"{name}_size"]) is int
        assert all(type(v) is int for v in meta[f"{name}_label_dist"].values())
    assert all(type(v) is int for v in meta["dropped_windows"].values())
    assert all(isinstance(v, float) for v in meta["scaler_mean"])
    assert all(type(s["rows"]) is int and type(s["windows_kept"]) is int for s in meta["sources"])


# --------------------------------------------------------------------------- leakage


def test_no_video_in_two_splits(five_videos, tmp_path):
    out = tmp_path / "ds"
    build_dataset(five_videos, out, spec=small_spec())
    _, meta = load(out)
    members = {name: set(meta["splits"][name]) for name in SPLIT_NAMES}
    assert members["train"] & members["val"] == set()
    assert members["train"] & members["test"] == set()
    assert members["val"] & members["test"] == set()
    assert set().union(*members.values()) == {f"v{i}" for i in range(5)}
    # The windows index agrees with the metadata.
    for name in SPLIT_NAMES:
        assert {row["video_id"] for row in window_rows(out, name)} == members[name]


def test_video_split_is_deterministic_for_a_seed(five_videos, tmp_path):
    build_dataset(five_videos, tmp_path / "a", spec=small_spec(seed=3))
    build_dataset(five_videos, tmp_path / "b", spec=small_spec(seed=3))
    for name in ("X_train.npy", "y_train.npy", "X_test.npy", "y_val.npy"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


EXPLICIT = {"v0": "train", "v1": "train", "v2": "train", "v3": "val", "v4": "test"}


def test_explicit_splits(five_videos, tmp_path):
    out = tmp_path / "ds"
    build_dataset(five_videos, out, spec=small_spec(splits=EXPLICIT))
    _, meta = load(out)
    assert meta["split_strategy"] == "explicit"
    assert sorted(meta["splits"]["train"]) == ["v0", "v1", "v2"]
    assert meta["splits"]["val"] == ["v3"] and meta["splits"]["test"] == ["v4"]


def test_explicit_splits_must_cover_every_video(five_videos, tmp_path):
    message = input_error(five_videos, tmp_path / "ds", small_spec(splits={"v0": "train", "v1": "test"}))
    assert "v2" in message


def test_scaler_fitted_on_train_only(make_features, tmp_path):
    paths = [make_features(f"v{i}", seed=i) for i in range(5)]
    spec = small_spec(splits=EXPLICIT)
    build_dataset(paths, tmp_path / "a", spec=spec)
    arrays_a, meta_a = load(tmp_path / "a")

    # Change only the test video's values: the scaler and the train split must not move.
    make_features("v4", seed=4, offset=50.0)
    build_dataset(paths, tmp_path / "b", spec=spec)
    arrays_b, meta_b = load(tmp_path / "b")
    assert meta_b["scaler_mean"] == meta_a["scaler_mean"]
    assert meta_b["scaler_scale"] == meta_a["scaler_scale"]
    np.testing.assert_array_equal(arrays_b["X_train"], arrays_a["X_train"])
    np.testing.assert_array_equal(arrays_b["X_val"], arrays_a["X_val"])
    assert arrays_b["X_test"].mean() > arrays_a["X_test"].mean() + 10

    # Changing a train video does move it (so the check above can fail).
    make_features("v0", seed=0, offset=50.0)
    build_dataset(paths, tmp_path / "c", spec=spec)
    _, meta_c = load(tmp_path / "c")
    assert np.mean(meta_c["scaler_mean"]) > np.mean(meta_a["scaler_mean"]) + 10


def test_train_split_is_standardised(five_videos, tmp_path):
    out = tmp_path / "ds"
    build_dataset(five_videos, out, spec=small_spec(splits=EXPLICIT))
    arrays, _ = load(out)
    flat = arrays["X_train"].reshape(-1, arrays["X_train"].shape[2]).astype(np.float64)
    np.testing.assert_allclose(flat.mean(axis=0), 0.0, atol=1e-4)
    # Every column holds a few NaNs, imputed as 0: the std is a little under 1, never above.
    std = flat.std(axis=0)
    assert np.all(std <= 1.0 + 1e-4) and np.all(std > 0.9)


# --------------------------------------------------------------------------- balancing

IMBALANCED = ("assemble", "assemble", "assemble", "inspect", "pack")


@pytest.fixture
def imbalanced(make_features):
    return [make_features(f"v{i}", seed=i, pattern=IMBALANCED, seconds=40.0) for i in range(5)]


def test_balancing_changes_only_train(imbalanced, tmp_path):
    build_dataset(imbalanced, tmp_path / "none", spec=small_spec(splits=EXPLICIT, seed=1))
    build_dataset(imbalanced, tmp_path / "down", spec=small_spec(splits=EXPLICIT, seed=1, balance="downsample"))
    build_dataset(imbalanced, tmp_path / "up", spec=small_spec(splits=EXPLICIT, seed=1, balance="upsample"))
    plain, meta_plain = load(tmp_path / "none")
    down, meta_down = load(tmp_path / "down")
    up, meta_up = load(tmp_path / "up")
    before = np.bincount(plain["y_train"], minlength=3)
    assert before[0] > before[1] and before[0] > before[2]
    assert np.bincount(down["y_train"], minlength=3).tolist() == [before.min()] * 3
    assert np.bincount(up["y_train"], minlength=3).tolist() == [before.max()] * 3
    assert meta_down["train_size"] == 3 * before.min()
    assert meta_down["train_label_dist_before_balance"] == meta_plain["train_label_dist"]
    assert len(window_rows(tmp_path / "down", "train")) == len(down["y_train"])
    for arrays in (down, up):
        for name in ("val", "test"):
            np.testing.assert_array_equal(arrays[f"X_{name}"], plain[f"X_{name}"])
            np.testing.assert_array_equal(arrays[f"y_{name}"], plain[f"y_{name}"])
    assert meta_down["scaler_mean"] == meta_plain["scaler_mean"]


def test_balancing_reproducible_with_the_same_seed(imbalanced, tmp_path):
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        build_dataset(imbalanced, tmp_path / name, spec=small_spec(splits=EXPLICIT, seed=seed, balance="downsample"))
    for file in ("X_train.npy", "y_train.npy", "windows_train.csv"):
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes()
    # Another seed picks other windows of the larger classes.
    assert (tmp_path / "a" / "X_train.npy").read_bytes() != (tmp_path / "c" / "X_train.npy").read_bytes()


# --------------------------------------------------------------------------- few videos, frame rates


def test_sources_at_different_fps_give_windows_of_the_same_frame_count(make_features, tmp_path):
    fast = make_features("fast", fps=30.0, seconds=40.0)
    slow = make_features("slow", fps=15.0, seconds=40.0)
    out = tmp_path / "ds"
    build_dataset([fast, slow], out, spec=small_spec())
    arrays, meta = load(out)
    assert {s["video_id"]: s["fps"] for s in meta["sources"]} == {"fast": 30.0, "slow": 15.0}
    kept = {s["video_id"]: s["windows_kept"] for s in meta["sources"]}
    assert kept["fast"] == kept["slow"] > 0
    for name in SPLIT_NAMES:
        assert arrays[f"X_{name}"].shape[1] == SMALL_WINDOW.frames
    assert {s["video_id"]: s["rows"] for s in meta["sources"]} == {"fast": 1200, "slow": 600}


def test_single_video_uses_temporal_blocks(make_features, tmp_path):
    path = make_features("only", seconds=90.0)
    out = tmp_path / "ds"
    build_dataset([path], out, spec=small_spec())
    arrays, meta = load(out)
    assert meta["split_strategy"] == "temporal_blocks"
    assert meta["dropped_windows"]["split_boundary"] > 0
    window_sec = meta["window_sec"]
    # Windows of different splits never overlap and lie at least one window apart.
    rows = sorted(
        ((float(r["start_t"]), name) for name in SPLIT_NAMES for r in window_rows(out, name)), key=lambda x: x[0]
    )
    assert {name for _, name in rows} == set(SPLIT_NAMES)
    for (a, split_a), (b, split_b) in zip(rows[:-1], rows[1:], strict=True):
        if split_a != split_b:
            assert b - (a + window_sec) >= window_sec - 1e-3
    # The blocks recorded in the metadata are the ones the windows came from.
    blocks = meta["split_method"]["blocks"]["only"]
    for start, name in rows:
        (block,) = [b for b in blocks if b["start"] - 1e-3 <= start < b["end"]]
        assert block["split"] == name and start + window_sec <= block["end"] + 0.2
    for name in SPLIT_NAMES:
        assert meta["splits"][name] == ["only"]
    assert len(np.unique(arrays["y_train"])) >= 2


def test_one_recording_idle_then_work_has_both_classes_in_every_split(tmp_path):
    """The seed's own example: the first part one task, the rest another, seed defaults."""
    pattern = ("inspect", "assemble", "assemble", "assemble")
    frame = feature_frame("rec", seconds=60.0, segment_sec=18.0, pattern=pattern)
    path = write_feature_file(tmp_path / "rec.parquet", frame)
    out = tmp_path / "ds"
    build_dataset([path], out, spec=DatasetSpec(window=WindowSpec(resample_fps=5.0)))  # 2 s windows, 0.5 s step
    arrays, meta = load(out)
    for name in SPLIT_NAMES:
        assert set(np.unique(arrays[f"y_{name}"]).tolist()) == {0, 1}, name
    assert meta["classes_missing"] == {"train": [], "val": [], "test": []}
    assert meta["split_method"]["strategy"] == "temporal_blocks"
    assert "seeded search" in meta["split_method"]["note"]
    assert "warning" not in meta["split_method"]
    # ... and trains, evaluated on both classes.
    spec = TrainSpec(model_type="ridge", aggregation="stats")
    metrics = train_model(out, tmp_path / "m.pkl", spec=spec).metrics.to_dict()
    assert metrics["classes_absent_from_test"] == [] and set(metrics["test"]["classes_scored"]) == set(CLASSES[:2])


def test_classes_a_split_lacks_are_listed(tmp_path):
    # "pack" only in the first 6 s: too little for every split, so some split lacks it and says so.
    frame = feature_frame("rec", seconds=60.0, segment_sec=6.0, pattern=("pack",) + ("inspect", "assemble") * 5)
    path = write_feature_file(tmp_path / "rec.parquet", frame)
    plan = plan_dataset([path], small_spec())
    missing = plan.classes_missing
    assert set(missing) == set(SPLIT_NAMES)
    lacking = [name for name, labels in missing.items() if "pack" in labels]
    assert lacking and "pack" in plan.split_method["warning"]
    for name in lacking:
        assert "pack" not in plan.summary()["counts"][name]


def test_short_clip_answer_says_what_would_work(tmp_path):
    frame = feature_frame("clip", seconds=11.0, segment_sec=3.0, pattern=("inspect", "assemble"))
    path = write_feature_file(tmp_path / "clip.parquet", frame)
    spec = DatasetSpec(window=WindowSpec(resample_fps=5.0))  # seed defaults: 2 s windows, 0.5 s step
    with pytest.raises(PlanRefused) as info:
        build_dataset([path], tmp_path / "ds", spec=spec)
    message = str(info.value)
    assert "this 11 s video" in message and "try window_sec ≤ 1 " in message and "\n" not in message
    assert info.value.suggestion == {"window_sec": 1.0, "step_sec": 0.5}
    # The suggestion works.
    fixed = DatasetSpec(window=WindowSpec(window_sec=1.0, step_sec=0.5, resample_fps=5.0))
    build_dataset([path], tmp_path / "ds", spec=fixed)
    _, meta = load(tmp_path / "ds")
    assert all(meta[f"{name}_size"] > 0 for name in SPLIT_NAMES)


def test_own_sensor_columns_use_group_other_by_themselves(tmp_path):
    rng = np.random.default_rng(0)
    t = np.arange(600) / 10.0
    frame = pd.DataFrame(
        {
            "video_id": pd.Series(["imu"] * 600, dtype="string"),
            "t": t,
            "acc_x": rng.normal(size=600) + (t > 30),
            "acc_y": rng.normal(size=600),
            "label": pd.Series(np.where(t % 20 < 10, "walk", "stand"), dtype="string"),
        }
    )
    path = write_feature_file(tmp_path / "imu.parquet", frame)
    out = tmp_path / "ds"
    build_dataset([path], out, spec=small_spec())
    _, meta = load(out)
    assert meta["feature_names"] == ["acc_x", "acc_y"]
    assert meta["feature_groups"] == ["other"]
    assert "--groups other" in meta["groups_note"]
    # Groups asked for by name that the file lacks: the answer says to use other, not 243 columns.
    message = input_error([path], tmp_path / "ds2", spec=small_spec(groups=("pose",)))
    assert "use --groups other" in message and "acc_x" in message


@pytest.mark.parametrize("n_videos", [2, 3])
def test_two_and_three_videos(make_features, tmp_path, n_videos):
    paths = [make_features(f"v{i}", seed=i, seconds=40.0) for i in range(n_videos)]
    out = tmp_path / "ds"
    build_dataset(paths, out, spec=small_spec())
    arrays, meta = load(out)
    assert meta["split_strategy"] == ("temporal_blocks" if n_videos == 2 else "video")
    for name in SPLIT_NAMES:
        assert len(arrays[f"y_{name}"]) > 0
    if n_videos == 3:
        assert sorted(sum(meta["splits"].values(), [])) == ["v0", "v1", "v2"]


def test_a_few_videos_of_one_task_each_are_split_in_time_blocks_so_every_split_holds_every_class(
    make_features, tmp_path
):
    """Three recordings, one task each (inspect; pack; pack): whole videos would give train one class
    (the build refused); time blocks give every split both, and the metadata says how and why."""
    paths = [
        make_features(name, seed=i, seconds=40.0, pattern=(task,))
        for i, (name, task) in enumerate([("a", "inspect"), ("b", "pack"), ("c", "pack")])
    ]
    build_dataset(paths, tmp_path / "ds", spec=small_spec())
    arrays, meta = load(tmp_path / "ds")
    assert meta["split_strategy"] == "temporal_blocks"
    assert "at most 5 videos when whole videos would leave a split without a class" in meta["split_method"]["note"]
    assert meta["classes_missing"] == {"train": [], "val": [], "test": []}
    for name in SPLIT_NAMES:
        assert sorted(meta[f"{name}_label_dist"]) == ["inspect", "pack"]
    assert sorted(meta["split_method"]["blocks"]) == ["a", "b", "c"]


def test_more_than_a_few_videos_keep_whole_video_splits_even_when_a_split_lacks_a_class(make_features, tmp_path):
    """Six recordings, one task each: the test stays new videos (no time blocks); what a split
    lacks is said, not hidden."""
    paths = [make_features(f"v{i}", seed=i, seconds=40.0, pattern=("inspect" if i < 3 else "pack",)) for i in range(6)]
    build_dataset(paths, tmp_path / "ds", spec=small_spec())
    _, meta = load(tmp_path / "ds")
    assert meta["split_strategy"] == "video"
    assert sorted(meta["train_label_dist"]) == ["inspect", "pack"]
    assert any(meta["classes_missing"].values()), meta["splits"]  # val and test: one video, one class each


def test_rows_out_of_time_order_and_duplicate_timestamps(make_features, tmp_path):
    frame = feature_frame("shuffled", seconds=40.0, nan_fraction=0.0)
    ordered = write_feature_file(tmp_path / "ordered.parquet", frame)
    shuffled = frame.sample(frac=1.0, random_state=0)
    duplicated = write_feature_file(tmp_path / "dup.parquet", shuffled.iloc[list(range(len(frame))) + [0, 1, 2]])
    build_dataset([ordered], tmp_path / "a", spec=small_spec())
    build_dataset([duplicated], tmp_path / "b", spec=small_spec())
    a, _ = load(tmp_path / "a")
    b, _ = load(tmp_path / "b")
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


# --------------------------------------------------------------------------- errors


def test_empty_feature_file(make_features, tmp_path):
    good = make_features("good")
    empty = write_feature_file(tmp_path / "empty.parquet", feature_frame("empty").iloc[:0])
    assert input_error([good, empty], tmp_path / "ds") == "empty.parquet has no rows"


def test_missing_columns(tmp_path):
    frame = feature_frame("v").drop(columns=["right_elbow_angle", "num_objects"])
    path = write_feature_file(tmp_path / "v.parquet", frame)
    message = input_error([path], tmp_path / "ds")
    assert "right_elbow_angle" in message and "num_objects" in message


def test_no_label_column(tmp_path):
    path = write_feature_file(tmp_path / "v.parquet", feature_frame("v").drop(columns=["label"]))
    assert "no label column" in input_error([path], tmp_path / "ds")


def test_only_one_class(make_features, tmp_path):
    paths = [make_features(f"v{i}", seed=i, pattern=("assemble",)) for i in range(3)]
    assert "1 class(es) (assemble)" in input_error(paths, tmp_path / "ds")


def test_no_labels_at_all(make_features, tmp_path):
    paths = [make_features(f"v{i}", seed=i, pattern=(None,)) for i in range(3)]
    input_error(paths, tmp_path / "ds")


def test_not_a_parquet_file_and_missing_file(tmp_path):
    bad = tmp_path / "bad.parquet"
    bad.write_text("video_id,t\n")
    assert "bad.parquet" in input_error([bad], tmp_path / "ds")
    input_error([tmp_path / "missing.parquet"], tmp_path / "ds")
    input_error([], tmp_path / "ds")


def test_same_file_twice(make_features, tmp_path):
    path = make_features("v0")
    input_error([path, path], tmp_path / "ds")


def test_unknown_balance_method():
    with pytest.raises(InputError) as info:
        DatasetSpec(balance="smote")
    assert "smote" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("ratios", [(0.5, 0.2, 0.2), (0.8, 0.15, 0.15), (1.2, -0.1, -0.1), (0.0, 0.5, 0.5)])
def test_ratios_must_sum_to_one(ratios):
    with pytest.raises(InputError) as info:
        DatasetSpec(ratios=ratios)
    assert "\n" not in str(info.value)


def test_unknown_feature_group():
    with pytest.raises(
        InputError, match=exactly("feature groups ['faces'] unknown; choose from pose, hands, objects, other")
    ):
        DatasetSpec(groups=("faces",))


def test_failed_build_leaves_earlier_output_intact(make_features, tmp_path):
    paths = [make_features(f"v{i}", seed=i) for i in range(3)]
    parent = tmp_path / "out"
    out = parent / "ds"
    build_dataset(paths, out, spec=small_spec())
    before = snapshot(out)

    one_class = [make_features(f"w{i}", seed=i, pattern=("pack",)) for i in range(3)]
    input_error(one_class, out)
    assert snapshot(out) == before
    assert [p.name for p in parent.iterdir()] == ["ds"]


def test_failure_while_writing_leaves_earlier_output_intact(make_features, tmp_path, monkeypatch):
    paths = [make_features(f"v{i}", seed=i) for i in range(3)]
    parent = tmp_path / "out"
    out = parent / "ds"
    build_dataset(paths, out, spec=small_spec())
    before = snapshot(out)

    def disk_full(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(dataset_module, "write_json", disk_full)
    with pytest.raises(OSError):
        build_dataset(paths, out, spec=small_spec(seed=9))
    assert snapshot(out) == before
    assert [p.name for p in parent.iterdir()] == ["ds"]


def test_rebuild_replaces_output_without_leftovers(make_features, tmp_path):
    paths = [make_features(f"v{i}", seed=i) for i in range(3)]
    parent = tmp_path / "out"
    out = parent / "ds"
    build_dataset(paths, out, spec=small_spec(seed=1))
    (out / "stale.txt").write_text("from an old build")
    build_dataset(paths, out, spec=small_spec(seed=2))
    assert not (out / "stale.txt").exists()
    assert (out / "metadata.json").is_file()
    assert [p.name for p in parent.iterdir()] == ["ds"]


def test_explicit_splits_with_an_unknown_split_name(make_features, tmp_path):
    # A misspelt split must not silently drop the video's windows (here: the whole test split).
    paths = [make_features(f"v{i}", seed=i) for i in range(3)]
    with pytest.raises(InputError) as info:
        build_dataset(paths, tmp_path / "ds", spec=small_spec(splits={"v0": "train", "v1": "val", "v2": "testing"}))
    assert "testing" in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "ds").exists()
