"""Windows, splits, scaling and balancing: pure functions over small arrays."""

from __future__ import annotations

import numpy as np
import pytest

from taskml.pipeline.errors import InputError
from taskml.pipeline.windows import (
    SPLITS,
    BlockTimeline,
    WindowSpec,
    apply_scaler,
    balance_indices,
    block_edges,
    block_split_search,
    fit_scaler,
    make_windows,
    nearest_rows,
    video_level_splits,
)
from tests.messages import exactly

SPEC = WindowSpec(window_sec=2.0, step_sec=0.5, resample_fps=15.0)


def timeline(seconds: float, fps: float, start: float = 0.0) -> np.ndarray:
    return start + np.arange(int(round(seconds * fps))) / fps


# --------------------------------------------------------------------------- make_windows


def test_window_count_for_known_timeline():
    # 10 s at 10 fps: frames 0.0..9.9, windows [s, s + 2) for s = 0, 0.5, ..., 8.0 -> 17.
    t = timeline(10, 10)
    w = make_windows(t, np.zeros(len(t), np.int64), 1, SPEC, "v")
    assert len(w.starts) == 17
    np.testing.assert_allclose(w.starts, np.arange(17) * 0.5)
    assert w.rows.shape == (17, SPEC.frames) == (17, 30)
    assert w.codes.tolist() == [0] * 17
    assert w.dropped == {"gap": 0, "unlabelled": 0, "ambiguous": 0}
    assert w.video_id == "v"


def test_video_exactly_one_window_long_gives_one_window():
    t = timeline(2, 10)
    w = make_windows(t, np.zeros(len(t), np.int64), 1, SPEC, "v")
    assert len(w.starts) == 1


def test_video_shorter_than_a_window_gives_none():
    t = timeline(1.5, 10)
    w = make_windows(t, np.zeros(len(t), np.int64), 1, SPEC, "v")
    assert len(w.starts) == 0 and w.rows.shape == (0, SPEC.frames)


def test_window_rows_sample_inside_the_window_at_resample_rate():
    t = timeline(10, 30)
    w = make_windows(t, np.zeros(len(t), np.int64), 1, SPEC, "v")
    for start, rows in zip(w.starts, w.rows, strict=True):
        times = t[rows]
        assert times.min() >= start - 1e-9
        assert times.max() < start + SPEC.window_sec
        assert np.all(np.diff(rows) >= 1)  # 30 fps source, 15 fps windows: every other frame
    np.testing.assert_array_equal(np.diff(w.rows[0]), 2)


def test_windows_never_bridge_a_time_gap():
    # 0.0..9.9 s, a hole, then 15.0..24.9 s.
    t = np.concatenate([timeline(10, 10), timeline(10, 10, start=15.0)])
    w = make_windows(t, np.zeros(len(t), np.int64), 1, SPEC, "v")
    ends = w.starts + SPEC.window_sec
    assert np.all((ends <= 10.0 + 1e-9) | (w.starts >= 15.0 - 1e-9))
    # Starts 0..23 every 0.5 s = 47; starts 8.5..14.5 (13 of them) touch the hole.
    assert len(w.starts) == 34
    assert w.dropped["gap"] == 13
    for rows in w.rows:  # no window samples frames from both sides of the hole
        times = t[rows]
        assert times.max() < 12.0 or times.min() > 12.0


def test_short_dropouts_do_not_break_windows():
    t = timeline(10, 10)
    t = np.delete(t, [30])  # a 0.2 s hole: under 2.5 x the 0.1 s frame interval
    w = make_windows(t, np.zeros(len(t), np.int64), 1, SPEC, "v")
    assert w.dropped["gap"] == 0 and len(w.starts) == 17


ONE_WINDOW = WindowSpec(window_sec=2.0, step_sec=10.0, resample_fps=10.0)  # frames 0..19 of 25


def one_window(codes_first_20: list[int], n_classes: int = 2, spec: WindowSpec = ONE_WINDOW):
    t = timeline(2.5, 10)
    codes = np.array(codes_first_20 + [0] * 5, np.int64)
    return make_windows(t, codes, n_classes, spec, "v")


def test_majority_label_kept_when_pure_enough():
    w = one_window([1] * 14 + [0] * 6)  # 70 % class 1
    assert w.codes.tolist() == [1]
    assert w.dropped == {"gap": 0, "unlabelled": 0, "ambiguous": 0}


def test_ambiguous_window_dropped_and_counted():
    w = one_window([0] * 10 + [1] * 10)
    assert len(w.starts) == 0
    assert w.dropped["ambiguous"] == 1


def test_min_purity_is_respected():
    codes = [1] * 14 + [0] * 6
    strict = WindowSpec(window_sec=2.0, step_sec=10.0, resample_fps=10.0, min_purity=0.8)
    assert len(one_window(codes, spec=strict).starts) == 0
    assert one_window(codes, spec=strict).dropped["ambiguous"] == 1
    assert len(one_window(codes).starts) == 1


def test_mostly_unlabelled_window_dropped_and_counted():
    w = one_window([-1] * 11 + [0] * 9)
    assert len(w.starts) == 0
    assert w.dropped["unlabelled"] == 1
    assert w.dropped["ambiguous"] == 0


def test_partly_unlabelled_window_kept_when_label_is_pure_enough():
    w = one_window([-1] * 6 + [1] * 14)
    assert w.codes.tolist() == [1]


def test_windows_over_a_labelled_timeline():
    # 0-5 s class 0, 5-10 s class 1, 10-15 s unlabelled.
    t = timeline(15, 10)
    codes = np.repeat([0, 1, -1], 50)
    w = make_windows(t, codes, 2, SPEC, "v")
    assert set(w.codes.tolist()) == {0, 1}
    for start, code in zip(w.starts, w.codes, strict=True):
        assert start < 10.0  # nothing mostly unlabelled kept
        mid_window = start + 1.0
        assert code == (0 if mid_window < 5.0 else 1) or abs(mid_window - 5.0) < 0.5
    assert w.dropped["unlabelled"] > 0
    total = len(w.starts) + sum(w.dropped.values())
    assert total == 27  # starts 0..13 every 0.5 s


def test_invalid_window_spec():
    with pytest.raises(InputError, match=exactly("window_sec must be between 0.01 and 3600 s, got 0")):
        WindowSpec(window_sec=0)
    with pytest.raises(InputError, match=exactly("min_purity must be between 0.01 and 1, got 1.5")):
        WindowSpec(min_purity=1.5)
    with pytest.raises(InputError, match=exactly("step_sec must be between 0.001 and 3600 s, got -1")):
        WindowSpec(step_sec=-1)


def test_nearest_rows():
    t = np.array([0.0, 1.0, 2.0, 3.0])
    times = np.array([[0.4, 0.6, 2.5], [-1.0, 10.0, 3.0]])
    np.testing.assert_array_equal(nearest_rows(t, times), [[0, 1, 2], [0, 3, 3]])


# --------------------------------------------------------------------------- splits


def one_recording(t_first: float = 0.0, seconds: float = 100.0, first_share: float = 0.3, step: float = 0.5):
    """The seed's example: one recording, the first part one task, the rest another."""
    starts = np.arange(0, seconds - 2.0 + 1e-9, step) + t_first
    codes = np.where(starts + 1.0 < t_first + first_share * seconds, 0, 1)
    return BlockTimeline("rec", starts, codes, block_edges(t_first, t_first + seconds, 2.0))


def assert_separated(starts: np.ndarray, split: np.ndarray, window_sec: float) -> None:
    """Windows of different splits never overlap and are at least one window apart."""
    kept = np.flatnonzero(split != "")
    for i, j in zip(kept[:-1], kept[1:], strict=True):
        if split[i] != split[j]:
            assert starts[j] - (starts[i] + window_sec) >= window_sec - 1e-9


@pytest.mark.parametrize("t_first", [0.0, 100.0])
def test_block_search_puts_every_class_in_every_split_of_one_recording(t_first):
    video = one_recording(t_first)
    by_window, by_block = block_split_search([video], (0.7, 0.15, 0.15), 2.0, seed=3)
    split = by_window["rec"]
    for name in SPLITS:
        assert set(video.codes[split == name].tolist()) == {0, 1}, name
    assert_separated(video.starts, split, 2.0)
    assert len(by_block["rec"]) == len(video.edges) - 1
    # Shares near the ratios, and only boundary windows are lost.
    kept = split != ""
    assert abs((split == "train").sum() / kept.sum() - 0.7) < 0.15
    assert (~kept).sum() < 0.25 * len(split)


def test_block_search_is_seeded():
    video = one_recording()
    a, _ = block_split_search([video], (0.7, 0.15, 0.15), 2.0, seed=5)
    b, _ = block_split_search([video], (0.7, 0.15, 0.15), 2.0, seed=5)
    np.testing.assert_array_equal(a["rec"], b["rec"])


def test_block_search_without_val():
    video = one_recording()
    by_window, _ = block_split_search([video], (0.8, 0.0, 0.2), 2.0, seed=1)
    split = by_window["rec"]
    assert "val" not in split.tolist()
    assert set(video.codes[split == "test"].tolist()) == {0, 1}
    assert_separated(video.starts, split, 2.0)


def test_block_search_refuses_fewer_blocks_than_splits():
    video = BlockTimeline("short", np.arange(0, 7.01, 0.5), np.zeros(15, np.int64), block_edges(0.0, 9.0, 2.0))
    assert len(video.edges) - 1 == 2
    with pytest.raises(InputError, match="2 block"):
        block_split_search([video], (0.7, 0.15, 0.15), 2.0, seed=0)


def video_classes(n: int) -> dict[str, np.ndarray]:
    return {f"v{i:02d}": np.array([i % 3, (i + 1) % 3] * (i + 2)) for i in range(n)}


def test_video_level_splits_deterministic_for_a_seed():
    classes = video_classes(10)
    a = video_level_splits(classes, (0.7, 0.15, 0.15), seed=7)
    b = video_level_splits(classes, (0.7, 0.15, 0.15), seed=7)
    assert a == b


def test_video_level_splits_every_video_in_exactly_one_split():
    classes = video_classes(10)
    out = video_level_splits(classes, (0.6, 0.2, 0.2), seed=1)
    assert sorted(out) == sorted(classes)
    assert set(out.values()) == set(SPLITS)
    assert sum(v == "train" for v in out.values()) == 6
    assert sum(v == "val" for v in out.values()) == 2
    assert sum(v == "test" for v in out.values()) == 2


def test_video_level_splits_with_exactly_three_videos():
    # Only v2 holds both classes: train must be v2 for train to hold every class.
    classes = {"v0": np.array([0, 0]), "v1": np.array([1, 1]), "v2": np.array([0, 1, 0, 1])}
    for seed in range(5):
        out = video_level_splits(classes, (0.7, 0.15, 0.15), seed=seed)
        assert out == {"v0": out["v0"], "v1": out["v1"], "v2": "train"}
        assert {out["v0"], out["v1"]} == {"val", "test"}


def test_video_level_splits_train_holds_all_classes_when_possible():
    # Class 2 occurs in one video only.
    classes = {f"v{i}": np.array([0, 1] * 5) for i in range(7)}
    classes["rare"] = np.array([2, 2, 0])
    for seed in range(10):
        out = video_level_splits(classes, (0.7, 0.15, 0.15), seed=seed)
        assert out["rare"] == "train"


def test_video_level_splits_too_few_videos():
    message = "2 videos are too few for a video-level split with ratios (0.7, 0.15, 0.15)"
    with pytest.raises(InputError, match=exactly(message)):
        video_level_splits({"a": np.array([0]), "b": np.array([1])}, (0.7, 0.15, 0.15), seed=0)


# --------------------------------------------------------------------------- scaling


def test_fit_scaler_ignores_nan_and_constant_features_get_scale_1():
    x = np.full((2, 2, 3), np.nan, np.float32)
    x[:, :, 0] = [[1.0, 2.0], [3.0, np.nan]]
    x[:, :, 1] = 5.0
    mean, scale = fit_scaler(x)
    np.testing.assert_allclose(mean, [2.0, 5.0, 0.0], rtol=1e-6)
    np.testing.assert_allclose(scale, [np.sqrt(2.0 / 3.0), 1.0, 1.0], rtol=1e-5)
    assert mean.dtype == np.float32 and scale.dtype == np.float32


def test_fit_scaler_chunking_gives_the_same_result():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(50, 4, 3)).astype(np.float32)
    x[rng.random(x.shape) < 0.1] = np.nan
    m1, s1 = fit_scaler(x)
    m2, s2 = fit_scaler(x, chunk=7)
    np.testing.assert_allclose(m1, m2, rtol=1e-5)
    np.testing.assert_allclose(s1, s2, rtol=1e-5)
    flat = x.reshape(-1, 3)
    np.testing.assert_allclose(m1, np.nanmean(flat, axis=0), rtol=1e-5)
    np.testing.assert_allclose(s1, np.nanstd(flat, axis=0), rtol=1e-4)


def test_apply_scaler_in_place_and_nan_becomes_zero():
    x = np.array([[[1.0, 10.0], [np.nan, 20.0], [3.0, np.inf]]], np.float32)
    apply_scaler(x, np.array([2.0, 10.0], np.float32), np.array([0.5, 10.0], np.float32), chunk=1)
    np.testing.assert_allclose(x[0], [[-2.0, 0.0], [0.0, 1.0], [2.0, 0.0]])
    assert np.isfinite(x).all()


# --------------------------------------------------------------------------- balancing

Y = np.array([0] * 10 + [1] * 3 + [2] * 5)


def test_balance_none_keeps_everything():
    np.testing.assert_array_equal(balance_indices(Y, "none", 0), np.arange(len(Y)))


def test_downsample_counts_and_no_duplicates():
    idx = balance_indices(Y, "downsample", seed=3)
    assert np.bincount(Y[idx]).tolist() == [3, 3, 3]
    assert len(np.unique(idx)) == len(idx)
    assert set(np.flatnonzero(Y == 1)) <= set(idx.tolist())  # the smallest class is whole


def test_upsample_counts_and_keeps_every_original():
    idx = balance_indices(Y, "upsample", seed=3)
    assert np.bincount(Y[idx]).tolist() == [10, 10, 10]
    assert set(idx.tolist()) == set(range(len(Y)))


def test_balance_seeded_and_reproducible():
    for method in ("downsample", "upsample"):
        np.testing.assert_array_equal(balance_indices(Y, method, 11), balance_indices(Y, method, 11))
    picks = {tuple(balance_indices(Y, "downsample", seed)) for seed in range(10)}
    assert len(picks) > 1  # the seed matters


def test_balance_empty():
    assert len(balance_indices(np.zeros(0, np.int64), "upsample", 0)) == 0


def test_a_hole_over_max_gap_factor_breaks_the_windows_around_it():
    t = np.delete(timeline(10, 10), [30, 31])  # 0.3 s hole > 2.5 x 0.1 s
    w = make_windows(t, np.zeros(len(t), np.int64), 1, SPEC, "v")
    # Windows starting at 1.5, 2.0 and 2.5 hold the hole 2.9 -> 3.2. The window at 1.0 ends at 3.0,
    # 0.1 s after its last frame, and the one at 3.0 starts 0.2 s before its first: both allowed.
    assert w.dropped["gap"] == 3
    np.testing.assert_allclose(w.starts, [0.0, 0.5, 1.0, *np.arange(3.0, 8.01, 0.5)])
