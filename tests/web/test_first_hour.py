"""The first hour in the browser: a clip too short for the seed's 2 s windows is refused with
windows that would work, one click applies them and the preview then shows every class in every
split; the built dataset's page says how it was split."""

from __future__ import annotations

import pytest
import requests
from playwright.sync_api import expect

from tests.web.conftest import eventually

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


def test_a_short_clip_is_refused_with_a_one_click_fix(logged_in, web_platform, web_user, sample_model, shot):
    from datasets.models import Dataset

    page = logged_in
    page.goto("/datasets/")
    builder = page.locator("form#dataset-form")
    box = builder.locator(f"input[name=feature_files][value='{sample_model.feature_file}']")
    expect(box).to_be_attached(timeout=15_000)
    box.check()
    # The seed's defaults (2 s windows, 0.5 s step, 0.7/0.15/0.15) on Megamind.avi (11 s).
    expect(builder.locator("input[name=window_sec]")).to_have_value("2")
    datasets_before = Dataset.objects.filter(owner=web_user.user).count()
    # Build straight away: the request itself is refused with the fix, and no dataset is made.
    page.click("button#build")
    error = builder.locator("[data-error-for=window_sec]")
    expect(error).to_contain_text("try window_sec ≤", timeout=30_000)
    fix = page.locator("#suggested-fix")
    expect(fix).to_be_visible()
    assert Dataset.objects.filter(owner=web_user.user).count() == datasets_before
    # A preview says the same.
    page.click("button#preview")
    expect(error).to_contain_text("try window_sec ≤", timeout=30_000)
    expect(fix).to_be_visible()
    body = {"feature_files": [sample_model.feature_file]}
    r = requests.post(f"{web_platform.url}/api/v1/datasets/preview/", json=body, headers=web_user.headers, timeout=60)
    assert r.status_code == 400 and r.json()["suggestion"], r.text
    suggestion = r.json()["suggestion"]
    expect(fix).to_contain_text(f"{suggestion['window_sec']:g} s windows")
    shot("refused-with-a-fix")

    page.click("button#apply-fix")
    expect(builder.locator("input[name=window_sec]")).to_have_value(f"{suggestion['window_sec']:g}")
    expect(page.locator("table#preview-table td[data-split][data-label]").first).to_be_visible(timeout=30_000)
    expect(fix).to_be_hidden()
    expect(error).to_be_empty()
    shot("fixed-preview")

    before = set(Dataset.objects.filter(owner=web_user.user).values_list("pk", flat=True))
    page.click("button#build")
    dataset = eventually(
        lambda: Dataset.objects.filter(owner=web_user.user).exclude(pk__in=before).get(), what="the dataset row"
    )
    eventually(lambda: _assert(Dataset.objects.get(pk=dataset.pk).status == "succeeded"), timeout=120,
               what="the build")  # fmt: skip
    dataset.refresh_from_db()
    assert dataset.window_sec == suggestion["window_sec"]
    page.goto(f"/datasets/{dataset.pk}/")
    expect(page.locator("#split-note")).to_contain_text("seeded search", timeout=15_000)
    for split, labels in dataset.split_info["classes_missing"].items():
        expected = ", ".join(labels) if labels else "nothing: every class is there"
        expect(page.locator(f"#classes-missing dd[data-split={split}]")).to_have_text(expected)
    blocks = dataset.split_info["method"]["blocks"]
    expect(page.locator("#split-blocks tbody tr")).to_have_count(sum(len(b) for b in blocks.values()))
    shot("dataset-split")


def _assert(condition: bool) -> bool:
    assert condition
    return True
