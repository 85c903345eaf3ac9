"""Active learning: marking, merging and ranking uncertain windows on hand-made probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from taskml.pipeline.active import (
    SuggestionSpec,
    find_spans,
    label_flips,
    merge_marked,
    rank_spans,
    span_frames,
    window_scores,
)
from taskml.pipeline.errors import InputError

LABELS = ("a", "b")
SURE_A = [0.95, 0.05]
SURE_B = [0.05, 0.95]
UNSURE = [0.55, 0.45]
VERY_UNSURE = [0.5, 0.5]


def starts(n: int, step: float = 0.5) -> np.ndarray:
    return np.arange(n) * step


def test_flips_count_changes_within_the_neighbourhood():
    # A A B A A: the flicker marks the three windows around it; a single clean change does not
    assert label_flips(np.array([0, 0, 1, 0, 0]), 2).tolist() == [1, 2, 2, 2, 1]
    assert label_flips(np.array([0, 0, 0, 1, 1, 1]), 2).max() == 1
    assert label_flips(np.array([], dtype=int), 2).tolist() == []


def test_window_scores_known_values():
    scores = window_scores(np.array([SURE_A, VERY_UNSURE, [0.7, 0.3]]), neighbourhood=1)
    assert scores.predicted.tolist() == [0, 0, 0]
    assert scores.p_max == pytest.approx([0.95, 0.5, 0.7])
    assert scores.margin == pytest.approx([0.9, 0.0, 0.4])
    assert scores.entropy[1] == pytest.approx(1.0)  # uniform over two classes: maximal
    assert scores.entropy[0] < scores.entropy[2] < scores.entropy[1]
    assert scores.score("least_confidence") == pytest.approx([0.05, 0.5, 0.3])
    assert scores.score("margin") == pytest.approx([0.1, 1.0, 0.6])


def test_merge_marked_bridges_small_gaps_only():
    marked = np.array([0, 1, 1, 0, 1, 0, 0, 1, 1], bool)
    assert merge_marked(marked, max_gap=0) == [(1, 2), (4, 4), (7, 8)]
    assert merge_marked(marked, max_gap=1) == [(1, 4), (7, 8)]
    assert merge_marked(marked, max_gap=2) == [(1, 8)]
    assert merge_marked(np.zeros(4, bool)) == []


def test_low_confidence_runs_become_spans_with_their_mean_uncertainty():
    p = np.array([SURE_A, SURE_A, UNSURE, VERY_UNSURE, SURE_A, SURE_B, SURE_B, [0.4, 0.6], SURE_B, SURE_B])
    spec = SuggestionSpec(min_confidence=0.7, min_margin=0.0, min_flips=0, max_gap=0)
    spans = find_spans(starts(10), p, LABELS, window_sec=1.0, spec=spec, source="v")
    assert [(s.first, s.last) for s in spans] == [(2, 3), (7, 7)]
    first, second = spans
    # windows 2 and 3 start at 1.0 and 1.5; each owns the central 0.5 s of its 1 s
    assert first.start == pytest.approx(1.25) and first.end == pytest.approx(2.25)
    assert first.label == "a" and first.confidence == pytest.approx((0.55 + 0.5) / 2)
    assert first.uncertainty == pytest.approx(((1 - 0.55) + (1 - 0.5)) / 2)
    assert first.reasons == ("low_confidence",)
    assert second.label == "b" and second.uncertainty == pytest.approx(0.4)
    ranked = rank_spans(spans)
    assert [(s.first, s.rank) for s in ranked] == [(2, 1), (7, 2)]


def test_flickering_predictions_are_marked_unstable_even_when_confident():
    p = np.array([SURE_A] * 4 + [SURE_B] + [SURE_A] * 4 + [SURE_B] * 4)
    spec = SuggestionSpec(min_confidence=0.5, min_margin=0.0, neighbourhood=2, min_flips=2, max_gap=0)
    spans = find_spans(starts(len(p)), p, LABELS, window_sec=1.0, spec=spec)
    # the isolated B at window 4 flips twice: windows 3..5 are marked; the change at 9 is clean
    assert [(s.first, s.last, s.reasons) for s in spans] == [(3, 5, ("unstable",))]
    assert spans[0].label == "a"


def test_small_margin_marks_three_class_ties():
    p = np.array([[0.8, 0.1, 0.1], [0.45, 0.44, 0.11], [0.8, 0.1, 0.1]])
    spec = SuggestionSpec(min_confidence=0.3, min_margin=0.1, min_flips=0)
    spans = find_spans(starts(3), p, ("x", "y", "z"), window_sec=1.0, spec=spec)
    assert [(s.first, s.last, s.reasons) for s in spans] == [(1, 1, ("small_margin",))]


def test_entropy_score_ranks_the_flatter_span_first():
    # span 1: one class clearly second; span 2: spread over three classes at the same p_max
    p = np.array([[0.5, 0.5, 0.0], [0.9, 0.05, 0.05], [0.5, 0.25, 0.25]])
    by_confidence = find_spans(
        starts(3), p, "xyz", window_sec=1.0, spec=SuggestionSpec(min_confidence=0.6, min_flips=0, max_gap=0)
    )
    assert [s.uncertainty for s in by_confidence] == pytest.approx([0.5, 0.5])
    by_entropy = rank_spans(
        find_spans(
            starts(3),
            p,
            "xyz",
            window_sec=1.0,
            spec=SuggestionSpec(min_confidence=0.6, min_margin=0.0, min_flips=0, max_gap=0, score="entropy"),
        )
    )
    assert [s.first for s in by_entropy] == [2, 0]


def test_ranking_across_videos_and_the_limit():
    p1 = np.array([SURE_A, [0.6, 0.4], SURE_A])
    p2 = np.array([SURE_B, VERY_UNSURE, SURE_B])
    spec = SuggestionSpec(min_confidence=0.7, min_flips=0)
    spans = [*find_spans(starts(3), p1, LABELS, window_sec=1, spec=spec, source="one"),
             *find_spans(starts(3), p2, LABELS, window_sec=1, spec=spec, source="two")]  # fmt: skip
    ranked = rank_spans(spans)
    assert [(s.source, s.rank) for s in ranked] == [("two", 1), ("one", 2)]
    assert [s.source for s in rank_spans(spans, max_spans=1)] == ["two"]


def test_min_windows_drops_short_spans():
    p = np.array([SURE_A, UNSURE, SURE_A, UNSURE, UNSURE, SURE_A])
    spec = SuggestionSpec(min_confidence=0.7, min_flips=0, max_gap=0, min_windows=2)
    assert [(s.first, s.last) for s in find_spans(starts(6), p, LABELS, window_sec=1, spec=spec)] == [(3, 4)]


def test_a_confident_video_has_no_spans_and_empty_input_is_fine():
    p = np.array([SURE_A] * 5)
    assert find_spans(starts(5), p, LABELS, window_sec=1) == []
    assert find_spans(np.zeros(0), np.zeros((0, 2)), LABELS, window_sec=1) == []


def test_spans_of_overlapping_windows_never_share_time():
    p = np.array([UNSURE, SURE_A, UNSURE, SURE_A, SURE_A, SURE_A, UNSURE])
    spec = SuggestionSpec(min_confidence=0.7, min_flips=0, max_gap=0)
    spans = find_spans(starts(7, 0.25), p, LABELS, window_sec=1.0, spec=spec)
    assert [(s.first, s.last) for s in spans] == [(0, 0), (2, 2), (6, 6)]
    assert all(a.end <= b.start for a, b in zip(spans, spans[1:], strict=False))
    assert spans[0].start == pytest.approx(0.375) and spans[0].end == pytest.approx(0.625)


def test_span_frames_cover_the_rows_inside_the_span():
    t = np.arange(20) / 10.0  # 10 fps
    frames = np.arange(20) * 2  # sampled every other frame
    assert span_frames(0.5, 1.0, t, frames) == (10, 18)
    assert span_frames(1.5, 5.0, t, frames) == (30, 38)  # clipped at the end
    assert span_frames(0.0, 0.05, t, frames) == (0, 0)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"min_confidence": 1.5}, "min_confidence"),
        ({"score": "vibes"}, "score"),
        ({"max_gap": -1}, "max_gap"),
        ({"neighbourhood": 0}, "neighbourhood"),
    ],
)
def test_bad_parameters_are_refused(kwargs, words):
    with pytest.raises(InputError, match=words):
        SuggestionSpec(**kwargs)


def test_mismatched_inputs_are_refused():
    with pytest.raises(InputError, match="labels"):
        find_spans(starts(2), np.array([SURE_A, SURE_A]), ("a", "b", "c"), window_sec=1)
    with pytest.raises(InputError, match="starts"):
        find_spans(starts(3), np.array([SURE_A, SURE_A]), LABELS, window_sec=1)
