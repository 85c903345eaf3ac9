"""Keyboard reach: Tab from the top of each page gets to its form fields and primary buttons, in
order, with a visible focus; the upload can be sent with the keyboard alone."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.web.conftest import eventually

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

MAX_TABS = 120

DESCRIBE = """() => {
  const n = document.activeElement;
  if (!n || n === document.body) return null;
  return {
    key: n.id ? "#" + n.id
      : n.tagName.toLowerCase() + (n.name ? `[name=${n.name}]` : "") + (n.className ? "." + n.className : ""),
    id: n.id, name: n.getAttribute("name"), tag: n.tagName.toLowerCase(), type: n.getAttribute("type"),
    form: n.form ? n.form.id : null, text: (n.textContent || "").trim().slice(0, 40),
    visible: n.matches(":focus-visible"),
  };
}"""


def tab_through(page, wanted: dict[str, str]) -> dict[str, int]:
    """Press Tab (from wherever the focus is: the top of a page just loaded) until every ``wanted``
    element (name → selector) has had the focus; returns name → the Tab press that reached it.
    Fails naming the ones never reached, and the way the focus went."""
    reached: dict[str, int] = {}
    visited = []
    for press in range(1, MAX_TABS + 1):
        page.keyboard.press("Tab")
        info = page.evaluate(DESCRIBE)
        visited.append(info["key"] if info else "body")
        for name, selector in wanted.items():
            if name not in reached and page.evaluate("s => document.activeElement.matches(s)", selector):
                reached[name] = press
                assert info["visible"], f"{name} ({selector}) has the focus but no visible focus style"
        if len(reached) == len(wanted):
            return reached
    missing = sorted(set(wanted) - set(reached))
    raise AssertionError(f"Tab never reached {missing}; focus went through {visited}")


def test_tab_reaches_the_upload_form_and_sends_it(logged_in, web_user, megamind, shot):
    from videos.models import Video

    page = logged_in
    page.goto("/videos/")
    expect(page.locator("#video-list tbody tr").first).to_be_attached()
    page.keyboard.press("Tab")
    expect(page.locator("a.skip")).to_be_focused()  # the first stop skips the navigation
    order = tab_through(
        page,
        {
            "video": "#upload-form input[name=video]",
            "video_id": "#upload-form input[name=video_id]",
            "labels_csv": "#upload-form input[name=labels_csv]",
            "submit": "#upload-form [type=submit]",
        },
    )
    assert order["video"] < order["video_id"] < order["labels_csv"] < order["submit"], order
    shot("submit-focused")

    # the file itself comes from the file chooser; the rest is typed
    page.locator("#upload-form input[name=video]").set_input_files(str(megamind))
    page.locator("#upload-form input[name=video]").focus()
    page.keyboard.press("Tab")
    page.keyboard.type("mega-keyboard")
    page.locator("#upload-form [type=submit]").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/videos/\d+/$"), timeout=60_000)
    assert Video.objects.filter(owner=web_user.user, video_id="mega-keyboard").exists()
    shot("uploaded")


PAGES = [
    (
        "video",
        "/videos/{video}/",
        "#timeline .span",
        {
            "play": "#play",
            "new_label": "#new-label",
            "add_label": "#add-label",
            "timeline": "#timeline",
            "span": "#timeline .span",
            "detector": "#extract-form select[name=detector_type]",
            "extract": "#extract-form [type=submit]",
        },
    ),
    (
        "datasets",
        "/datasets/",
        "#feature-file-rows input[name=feature_files]",
        {
            "feature_file": "#dataset-form input[name=feature_files]",
            "window": "#dataset-form input[name=window_sec]",
            "train_ratio": "#dataset-form input[name=train_ratio]",
            "preview": "button#preview",
            "build": "button#build",
        },
    ),
    (
        "models",
        "/models/",
        "#model-list a.model-link",
        {
            "dataset": "#train-form select[name=dataset]",
            "model_type": "#train-form select[name=model_type]",
            "train": "#train-form [type=submit]",
            "open": "#model-list a.model-link",
        },
    ),
    (
        "live",
        "/live/",
        "#live-form select[name=model] option[value='{model}']",
        {
            "model": "#live-form select[name=model]",
            "source": "#live-form select[name=source]",
            "video": "#live-form select[name=video]",
            "start": "button#start",
        },
    ),
]


@pytest.mark.parametrize(("name", "path", "ready", "wanted"), PAGES, ids=[p[0] for p in PAGES])
def test_tab_reaches_each_pages_fields_and_primary_buttons(logged_in, sample_model, name, path, ready, wanted, shot):
    page = logged_in
    ids = {"video": sample_model.video_pk, "model": sample_model.model_pk}
    page.goto(path.format(**ids))
    expect(page.locator(ready.format(**ids)).first).to_be_attached(timeout=15_000)
    tab_through(page, wanted)
    shot(f"{name}-last-reached")


def test_the_live_session_starts_and_stops_from_the_keyboard(logged_in, sample_model, shot):
    from streaming.models import LiveSession

    page = logged_in
    page.goto("/live/")
    model = page.locator("#live-form select[name=model]")
    expect(model.locator(f"option[value='{sample_model.model_pk}']")).to_be_attached()
    expect(page.locator(f"#live-form select[name=video] option[value='{sample_model.video_pk}']")).to_be_attached()
    model.select_option(str(sample_model.model_pk))
    page.locator("#live-form select[name=video]").select_option(str(sample_model.video_pk))
    before = set(LiveSession.objects.values_list("pk", flat=True))
    tab_through(page, {"start": "button#start"})
    page.keyboard.press("Enter")
    expect(page.locator("button#stop")).to_be_enabled(timeout=30_000)
    session = eventually(lambda: LiveSession.objects.exclude(pk__in=before).get(), what="the session row")
    shot("started")
    tab_through(page, {"stop": "button#stop"})
    page.keyboard.press("Enter")
    expect(page.locator("button#stop")).to_be_disabled(timeout=30_000)

    def ended():
        status = LiveSession.objects.get(pk=session.pk).status
        assert status in ("stopped", "finished"), status

    eventually(ended, timeout=30, what="the session ending")
    expect(page.locator("button#start")).to_be_enabled()
    shot("stopped")
