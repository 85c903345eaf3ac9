"""Mistakes are explained next to the field they concern, and nothing is saved."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest
from playwright.sync_api import expect

from tests.web.conftest import NEWCOMER_PASSWORD, log_in

pytestmark = [pytest.mark.slow, pytest.mark.django_db]


def assert_under(page, message_selector: str, field_selector: str) -> None:
    """The message is shown, below its field and overlapping it horizontally (not in a toast elsewhere)."""
    message = page.locator(message_selector)
    expect(message).to_be_visible()
    box, field = message.bounding_box(), page.locator(field_selector).bounding_box()
    assert box["y"] >= field["y"] + field["height"] - 1, f"{message_selector} is not below {field_selector}"
    assert box["y"] - (field["y"] + field["height"]) < 60, f"{message_selector} is far from {field_selector}"
    assert box["x"] < field["x"] + field["width"] and field["x"] < box["x"] + box["width"], "not under the field"


def test_a_file_that_is_not_a_video_is_refused_under_the_video_field(logged_in, web_user, tmp_path, shot):
    from videos.models import Video

    page = logged_in
    page.goto("/videos/")
    form = page.locator("form#upload-form")
    form.locator("[type=submit]").click()  # nothing chosen yet
    expect(form.locator("[data-error-for=video]")).not_to_be_empty()
    assert_under(page, "#upload-form [data-error-for=video]", "#upload-form input[name=video]")
    shot("no-file")

    notes = tmp_path / "notes.avi"
    notes.write_text("these are meeting notes, not a video\n" * 50)
    form.locator("input[name=video]").set_input_files(str(notes))
    form.locator("[type=submit]").click()
    expect(form.locator("[data-error-for=video]")).to_contain_text("not a video", timeout=30_000)
    assert_under(page, "#upload-form [data-error-for=video]", "#upload-form input[name=video]")
    assert urlparse(page.url).path == "/videos/"
    assert not Video.objects.filter(owner=web_user.user, original_name="notes.avi").exists()
    expect(form.locator("[type=submit]")).to_be_enabled()  # the person can try again
    shot("not-a-video")


def test_labels_outside_the_video_are_refused_under_the_labels_field(logged_in, web_user, megamind, tmp_path, shot):
    from videos.models import Video

    page = logged_in
    page.goto("/videos/")
    labels = tmp_path / "labels.csv"
    labels.write_text("start_frame,end_frame,label\n0,10,talking\n250,5000,talking\n")
    form = page.locator("form#upload-form")
    form.locator("input[name=video]").set_input_files(str(megamind))
    form.locator("input[name=video_id]").fill("mega-bad-labels")
    form.locator("input[name=labels_csv]").set_input_files(str(labels))
    form.locator("[type=submit]").click()
    error = form.locator("[data-error-for=labels_csv]")
    expect(error).to_contain_text("outside the video", timeout=30_000)
    assert_under(page, "#upload-form [data-error-for=labels_csv]", "#upload-form input[name=labels_csv]")
    expect(form.locator("[data-error-for=video]")).to_be_empty()
    assert urlparse(page.url).path == "/videos/"
    assert not Video.objects.filter(owner=web_user.user, video_id="mega-bad-labels").exists()
    shot("labels-outside")


def test_split_ratios_that_do_not_sum_to_one_are_refused_under_train_ratio(logged_in, sample_model, web_user, shot):
    from datasets.models import Dataset

    page = logged_in
    page.goto("/datasets/")
    form = page.locator("form#dataset-form")
    form.locator(f"input[name=feature_files][value='{sample_model.feature_file}']").check()
    for name, value in [("window_sec", "1"), ("step_sec", "0.25"), ("train_ratio", "0.5"), ("val_ratio", "0.3"),
                        ("test_ratio", "0.3")]:  # fmt: skip
        form.locator(f"input[name={name}]").fill(value)
    before = Dataset.objects.filter(owner=web_user.user).count()

    page.click("button#preview")
    error = form.locator("[data-error-for=train_ratio]")
    expect(error).to_contain_text("sum to 1")
    assert_under(page, "#dataset-form [data-error-for=train_ratio]", "#dataset-form input[name=train_ratio]")
    shot("preview-refused")

    page.click("button#build")
    expect(error).to_contain_text("sum to 1")
    page.wait_for_timeout(500)
    assert Dataset.objects.filter(owner=web_user.user).count() == before
    shot("build-refused")

    # corrected, the message goes and the preview shows
    form.locator("input[name=val_ratio]").fill("0.25")
    form.locator("input[name=test_ratio]").fill("0.25")
    page.click("button#preview")
    expect(page.locator("table#preview-table td[data-split][data-label]").first).to_be_visible()
    expect(error).to_be_empty()
    shot("corrected")


def test_training_without_a_dataset_is_refused_under_the_dataset_field(page, newcomer, shot):
    log_in(page, newcomer.user.username, NEWCOMER_PASSWORD)
    page.goto("/models/")
    form = page.locator("form#train-form")
    form.locator("[type=submit]").click()
    expect(form.locator("[data-error-for=dataset]")).not_to_be_empty()
    assert_under(page, "#train-form [data-error-for=dataset]", "#train-form select[name=dataset]")
    shot("no-dataset")
