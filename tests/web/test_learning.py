"""The learning loop in the browser, on web_user's Megamind model: the labeller's suggestions lane
(spans of the latest round coloured by uncertainty; accept by click, reject and correct by keyboard,
close the round, start a round from the page) and the models page's ablation table (started from
its form; every figure checked against the stored comparison). Each decision is checked in the database."""

from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import expect

from tests.web.conftest import eventually

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


def round_row(pk: int):
    from learning.models import LabellingRound

    return LabellingRound.objects.get(pk=pk)


def span_rows(round_pk: int) -> dict[int, tuple[str, str]]:
    from learning.models import SuggestedSpan

    return {s.pk: (s.status, s.final_label) for s in SuggestedSpan.objects.filter(round_id=round_pk)}


def test_suggestions_lane_accept_reject_correct_close_and_start(logged_in, web_platform, web_user, sample_model, shot):
    page = logged_in
    r = requests.post(
        f"{web_platform.url}/api/v1/labelling-rounds/",
        # under the sample model's usual confidence (0.5–0.97 on this 11 s clip): several spans
        json={"model": sample_model.model_pk, "videos": [sample_model.video_pk], "min_confidence": 0.75,
              "min_margin": 0.5, "max_gap": 0, "max_spans": 8},
        headers=web_user.headers,
        timeout=30,
    )  # fmt: skip
    assert r.status_code == 202, r.text
    round_pk = r.json()["id"]
    eventually(lambda: _assert(round_row(round_pk).state == "open"), timeout=120, what="round open")
    spans = sorted(requests.get(f"{web_platform.url}/api/v1/labelling-rounds/{round_pk}/", headers=web_user.headers,
                                timeout=30).json()["spans"], key=lambda s: s["rank"])  # fmt: skip
    assert len(spans) >= 3, spans

    page.goto(f"/videos/{sample_model.video_pk}/")
    lane = page.locator("#lane-suggestions .suggestion")
    expect(lane).to_have_count(len(spans))
    expect(page.locator("#round-status")).to_contain_text(f"round {round_pk}")
    shown = page.eval_on_selector_all(
        "#lane-suggestions .suggestion",
        "nodes => nodes.map(n => ({id: +n.dataset.suggestionId, rank: +n.dataset.rank, start: +n.dataset.start,"
        " end: +n.dataset.end, u: +n.dataset.uncertainty, bg: n.style.background}))",
    )
    assert sorted((s["id"], s["rank"], s["start"], s["end"]) for s in shown) == sorted(
        (s["id"], s["rank"], s["start_frame"], s["end_frame"]) for s in spans
    )
    assert all(s["bg"].startswith("hsl") or s["bg"].startswith("rgb") for s in shown)
    shot("suggestions")

    first, second, third = spans[0], spans[1], spans[2]
    # accept the first by clicking it and the Accept button
    page.locator(f'#lane-suggestions [data-suggestion-id="{first["id"]}"]').click()
    expect(page.locator("#suggestion-panel")).to_be_visible()
    expect(page.locator("#suggestion-info")).to_contain_text(f"#{first['rank']}")
    page.locator("#accept-suggestion").click()
    eventually(lambda: _assert(span_rows(round_pk)[first["id"]] == ("accepted", first["predicted_label"])))
    expect(page.locator(f'#lane-suggestions [data-suggestion-id="{first["id"]}"]')).to_have_count(0)
    # the label spans of the timeline now hold the accepted span
    expect(page.locator(f'#timeline .span[data-start="{first["start_frame"]}"][data-end="{first["end_frame"]}"]'))\
        .to_have_attribute("data-label", first["predicted_label"])  # fmt: skip

    # the next open span is selected and focused: reject it with the keyboard
    selected = page.locator("#lane-suggestions .suggestion.selected")
    expect(selected).to_have_attribute("data-suggestion-id", str(second["id"]))
    page.keyboard.press("r")
    eventually(lambda: _assert(span_rows(round_pk)[second["id"]] == ("rejected", "")))

    # correct the third: Tab to it, Enter selects it, choose the other label, C corrects
    target = page.locator(f'#lane-suggestions [data-suggestion-id="{third["id"]}"]')
    target.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#suggestion-info")).to_contain_text(f"#{third['rank']}")
    other = "talking" if third["predicted_label"] == "holding_glass" else "holding_glass"
    page.select_option("#suggestion-label", other)
    target.focus()
    page.keyboard.press("c")
    eventually(lambda: _assert(span_rows(round_pk)[third["id"]] == ("corrected", other)))
    from videos.models import LabelSpan

    assert set(LabelSpan.objects.filter(video_id=sample_model.video_pk, source="suggestion").values_list(
        "start_frame", "end_frame", "label")) == {
        (first["start_frame"], first["end_frame"], first["predicted_label"]),
        (third["start_frame"], third["end_frame"], other),
    }  # fmt: skip
    expect(page.locator("#round-status")).to_contain_text("2 labelled")
    shot("decided")

    # close the round without retraining: the lane empties
    page.locator("#close-round").click()
    eventually(lambda: _assert(round_row(round_pk).state == "closed"))
    expect(page.locator("#lane-suggestions .suggestion")).to_have_count(0)
    expect(page.locator("#round-status")).to_contain_text("closed")

    # a round started from the page, with the model chosen there
    page.select_option("#suggestion-model", str(sample_model.model_pk))
    page.locator("#start-round").click()
    from learning.models import LabellingRound

    newest = eventually(
        lambda: LabellingRound.objects.filter(videos=sample_model.video_pk).exclude(pk=round_pk).get(), timeout=30
    )
    assert newest.model_id == sample_model.model_pk and newest.owner_id == web_user.user.pk
    eventually(lambda: _assert(round_row(newest.pk).state == "open"), timeout=120, what="page round open")
    expect(page.locator("#round-status")).to_contain_text(
        re.compile(rf"round {newest.pk} .*spans open"), timeout=30_000
    )
    assert not page.problems, page.problems
    shot("new-round")


def test_ablation_table_from_the_models_page(logged_in, web_platform, web_user, sample_model, shot):
    page = logged_in
    page.goto("/models/")
    page.select_option("#ablation-dataset", str(sample_model.dataset_pk))
    page.select_option("#ablation-model-type", "rf")
    page.fill("#ablation-n-estimators", "20")
    page.locator("#start-ablation").click()
    from learning.models import Ablation

    ablation = eventually(lambda: Ablation.objects.get(owner=web_user.user), timeout=30)
    eventually(lambda: _assert(Ablation.objects.get(pk=ablation.pk).status == "succeeded"), timeout=300,
               what="the ablation job")  # fmt: skip
    results = Ablation.objects.get(pk=ablation.pk).results
    table = page.locator(f'table.ablation-table[data-ablation-id="{ablation.pk}"]')
    expect(table).to_be_visible(timeout=30_000)
    assert results["order"] == ["pose", "hands", "fused"]
    for group in results["order"]:
        row = table.locator(f'tr[data-group="{group}"]')
        expect(row).to_be_visible()
        values = [float(v) if v else None for v in row.locator("td.num").evaluate_all(
            "cells => cells.map(c => c.dataset.value || '')")]  # fmt: skip
        g = results["groups"][group]
        expected = [g["accuracy"], g["delta_accuracy"], g["f1_macro"], g["delta_f1_macro"]]
        for label in results["labels"]:
            expected += [g["per_class_f1"][label], g["delta_per_class_f1"][label]]
        assert values[1:] == pytest.approx(expected), group  # values[0] is the feature count, no data-value
    expect(page.locator(f'[data-ablation-id="{ablation.pk}"] [data-skipped="objects"]')).to_contain_text("objects")
    assert not page.problems, page.problems
    shot("ablation")


def _assert(condition: bool) -> bool:
    assert condition
    return True
