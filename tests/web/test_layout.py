"""Every page is usable at 1280×800 and in a narrow (400×800) window: the layout never scrolls
sideways (wide tables scroll inside their own box), the main navigation stays on screen and
clickable, and the page's main control is within reach."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest
from playwright.sync_api import expect

from tests.web.conftest import NARROW, WIDE, overflow_report

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

TOLERANCE = 2  # px: sub-pixel rounding, not a layout that scrolls

# (name, path, what shows the page has its data (every part of a ', ' list), its main control)
PAGES = [
    ("videos", "/videos/", "#video-list a.video-link", "#upload-form [type=submit]"),
    ("video", "/videos/{video}/", "#timeline .span, #player[data-frame='0']", "#play"),
    ("datasets", "/datasets/", "#dataset-list a.dataset-link", "button#preview"),
    ("dataset", "/datasets/{dataset}/", "#class-counts td[data-value]", "#rebuild"),
    ("models", "/models/", "#model-list a.model-link", "#train-form [type=submit]"),
    ("model", "/models/{model}/", "svg#confusion rect.cell", "svg#confusion"),
    ("live", "/live/", "#live-form select[name=model] option[value='{model}']", "button#start"),
]
NAV = ["Videos", "Datasets", "Models", "Live"]


def on_screen(page, selector: str, width: int) -> None:
    """The element is visible, inside the window's width, and what a click at its centre would hit."""
    node = page.locator(selector).first
    expect(node).to_be_visible()
    node.scroll_into_view_if_needed()
    box = node.bounding_box()
    assert box["x"] >= -1 and box["x"] + box["width"] <= width + TOLERANCE, f"{selector} is outside the window: {box}"
    hit = node.evaluate(
        "(n, [x, y]) => { const h = document.elementFromPoint(x, y); return !!h && (n === h || n.contains(h)); }",
        [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
    )
    assert hit, f"{selector} is covered by another element"


@pytest.mark.parametrize("viewport", [WIDE, NARROW], ids=["1280", "400"])
@pytest.mark.parametrize(("name", "path", "ready", "control"), PAGES, ids=[p[0] for p in PAGES])
def test_pages_fit_the_window(logged_in, sample_model, viewport, name, path, ready, control, shot):
    page = logged_in
    ids = {"video": sample_model.video_pk, "dataset": sample_model.dataset_pk, "model": sample_model.model_pk}
    page.set_viewport_size(viewport)
    page.goto(path.format(**ids))
    for selector in ready.format(**ids).split(", "):  # each part of a list: all of them
        expect(page.locator(selector).first).to_be_attached(timeout=15_000)
    page.wait_for_timeout(300)  # charts redraw for the width once settled
    shot(f"{name}-{viewport['width']}")
    report = overflow_report(page)
    assert report["scrollWidth"] <= viewport["width"] + TOLERANCE, (
        f"{name} scrolls sideways at {viewport['width']} px: document {report['scrollWidth']} px wide; "
        f"sticking out: {report['offenders']}"
    )
    for label in NAV:
        on_screen(page, f"nav[aria-label=Main] a:text-is('{label}')", viewport["width"])
    page.evaluate("window.scrollTo(0, 0)")
    on_screen(page, control, viewport["width"])


def test_the_navigation_works_in_a_narrow_window(logged_in, shot):
    page = logged_in
    page.set_viewport_size(NARROW)
    page.goto("/videos/")
    for label, path in [("Datasets", "/datasets/"), ("Models", "/models/"), ("Live", "/live/"), ("Videos", "/videos/")]:
        page.locator("nav[aria-label=Main]").get_by_role("link", name=label, exact=True).click()
        page.wait_for_url(f"**{path}")
        assert urlparse(page.url).path == path
        expect(page.locator("nav[aria-label=Main] a[aria-current=page]")).to_have_text(label)
        shot(f"nav-{label.lower()}")
    # and the account controls are reachable too
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    page.get_by_role("button", name="Log out").click()
    page.wait_for_load_state()
    page.goto("/videos/")
    assert urlparse(page.url).path == "/accounts/login/"
