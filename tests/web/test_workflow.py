"""The whole flow in the browser, as a person does it on the Megamind sample: log in, upload the
video with its labels, edit the labels on the timeline (each edit checked in the database), extract
features, build a dataset, train a model, read its charts (each number checked against the metrics
JSON in the database) and watch a live session's predictions arrive. A screenshot per step."""

from __future__ import annotations

import re
import time
from collections import Counter

import pytest
import requests
from playwright.sync_api import expect

from tests.conftest import MEGAMIND_LABELS
from tests.web.conftest import eventually

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

VIDEO_ID = "mega-web"
CSV_SPANS = [(1, 97, "holding_glass"), (98, 153, "talking"), (154, 199, "holding_glass"), (200, 269, "talking")]

# Records what the upload form shows while it works, across the navigation that follows it.
RECORD_UPLOAD = """
addEventListener("DOMContentLoaded", () => {
  const bar = document.getElementById("upload-progress");
  const text = document.getElementById("upload-status-text");
  const seen = () => JSON.parse(sessionStorage.getItem("test.upload") || "[]");
  const note = () => {
    const list = seen();
    list.push({value: bar ? Number(bar.value) : null, max: bar ? Number(bar.max) : null,
               hidden: bar ? bar.hidden : null, text: text ? text.textContent : null});
    sessionStorage.setItem("test.upload", JSON.stringify(list));
  };
  if (bar) new MutationObserver(note).observe(bar, {attributes: true, attributeFilter: ["value", "hidden", "max"]});
  if (text) new MutationObserver(note).observe(text, {childList: true, characterData: true, subtree: true});
});
"""


# ---------------------------------------------------------------- database views


def db_spans(video_pk: int) -> list[tuple[int, int, int, str]]:
    from videos.models import LabelSpan

    return sorted(LabelSpan.objects.filter(video_id=video_pk).values_list("id", "start_frame", "end_frame", "label"))


def page_spans(page) -> list[tuple[int, int, int, str]]:
    return sorted(
        (int(s["id"]), int(s["start"]), int(s["end"]), s["label"])
        for s in page.eval_on_selector_all(
            "#timeline .span",
            "nodes => nodes.map(n => ({id: n.dataset.spanId, start: n.dataset.start, end: n.dataset.end,"
            " label: n.dataset.label}))",
        )
    )


def assert_spans(page, video_pk: int, expected: list[tuple[int, int, str]], what: str) -> list[tuple]:
    """The database holds exactly ``expected`` (start, end, label) spans, and the timeline shows those rows."""

    def check():
        rows = db_spans(video_pk)
        assert sorted((s, e, lab) for _, s, e, lab in rows) == sorted(expected), f"database spans {rows}"
        shown = page_spans(page)
        assert shown == rows, f"timeline shows {shown}, database holds {rows}"
        return rows

    return eventually(check, what=what)


def frame_shown(page) -> int:
    text = page.locator("#frame-index").inner_text()
    match = re.search(r"frame (\d+)", text)
    assert match, f"#frame-index says {text!r}"
    return int(match.group(1))


def frame_labels(spans) -> dict[int, str]:
    """Frame → label as extraction joins spans: in order of start frame, then id; a later one wins."""
    by_frame: dict[int, str] = {}
    for _, start, end, label in sorted(spans, key=lambda s: (s[1], s[0])):
        for frame in range(start, end + 1):
            by_frame[frame] = label
    return by_frame


def numbers(page, selector: str, *attributes: str) -> list[dict]:
    return page.eval_on_selector_all(
        selector, "(nodes, names) => nodes.map(n => Object.fromEntries(names.map(a => [a, n.getAttribute(a)])))",
        list(attributes),
    )  # fmt: skip


def counts_table(page, table: str) -> dict[str, dict[str, int]]:
    """{split: {label: windows}} from a windows-per-class table's cells."""
    shown: dict[str, dict[str, int]] = {}
    for c in numbers(page, f"{table} tbody td[data-split][data-label]", "data-split", "data-label", "data-value"):
        if c["data-split"] != "total":
            shown.setdefault(c["data-split"], {})[c["data-label"]] = int(c["data-value"])
    return shown


def same(shown: str | None, value) -> bool:
    """A data-value attribute against the JSON number (or null) it was drawn from."""
    if value is None:
        return shown in ("", None)
    return shown not in ("", None) and float(shown) == float(value)


# ---------------------------------------------------------------- the flow


def test_the_whole_flow_on_the_sample_video(logged_in, web_platform, web_user, megamind, shot):
    from datasets.models import Dataset
    from models_app.models import TrainedModel
    from streaming.models import LiveSession
    from videos.models import FeatureFile, Video

    page = logged_in
    shot("logged-in")

    # ---- upload, with the labels file
    page.add_init_script(RECORD_UPLOAD)
    page.goto("/videos/")
    form = page.locator("form#upload-form")
    form.locator("input[name=video]").set_input_files(str(megamind))
    form.locator("input[name=video_id]").fill(VIDEO_ID)
    form.locator("input[name=labels_csv]").set_input_files(str(MEGAMIND_LABELS))
    shot("upload-form-filled")
    form.locator("[type=submit]").click()
    page.wait_for_url(re.compile(r"/videos/\d+/$"), timeout=60_000)
    video_pk = int(re.search(r"/videos/(\d+)/$", page.url).group(1))
    seen = page.evaluate("JSON.parse(sessionStorage.getItem('test.upload') || '[]')")
    bars = [s for s in seen if s["value"] is not None and not s["hidden"]]
    assert bars, f"#upload-progress never showed: {seen}"
    assert bars[-1]["value"] == bars[-1]["max"], f"the upload progress did not reach its end: {seen}"
    assert any("Uploaded" in (s["text"] or "") for s in seen), f"no 'done' message: {seen}"

    video = Video.objects.get(pk=video_pk)
    assert video.owner_id == web_user.user.pk and video.video_id == VIDEO_ID and video.frame_count == 270
    expected = list(CSV_SPANS)
    csv_rows = assert_spans(page, video_pk, expected, "the labels file's spans")
    from videos.models import LabelSpan

    assert set(LabelSpan.objects.filter(video_id=video_pk).values_list("source", flat=True)) == {"csv"}
    shot("video-page")

    # the list links to it
    page.goto("/videos/")
    link = page.locator(f"table#video-list a.video-link[href='/videos/{video_pk}/']")
    expect(link).to_have_text(VIDEO_ID)
    shot("video-list")
    link.click()
    page.wait_for_url(f"**/videos/{video_pk}/")
    assert_spans(page, video_pk, expected, "the spans after reopening")

    # ---- a new label name
    page.fill("#new-label", "pouring")
    page.click("#add-label")
    chip = page.locator("#labels [data-label=pouring]")
    expect(chip).to_be_visible()
    expect(page.locator("#current-label")).to_have_text("pouring")
    assert_spans(page, video_pk, expected, "no span from only adding a label name")
    shot("label-added")

    # ---- keyboard: labels by number, frames by arrows (the timeline has the focus, not a field)
    page.focus("#timeline")
    first = page.locator("#labels [data-label]").first.get_attribute("data-label")
    page.keyboard.press("1")
    expect(page.locator("#current-label")).to_have_text(first)
    pouring_key = chip.locator("kbd").inner_text().strip()
    assert pouring_key.isdigit(), f"the pouring label has no number key: {pouring_key!r}"
    page.keyboard.press(pouring_key)
    expect(page.locator("#current-label")).to_have_text("pouring")

    assert frame_shown(page) == 0
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    assert frame_shown(page) == 5
    page.keyboard.press("ArrowLeft")
    assert frame_shown(page) == 4
    expect(page.locator("#player")).to_have_attribute("data-frame", "4")  # the frame itself is on screen
    shot("frame-4")

    # ---- a span: [ at 4, ] at 10, Enter
    page.keyboard.press("[")
    for _ in range(6):
        page.keyboard.press("ArrowRight")
    assert frame_shown(page) == 10
    page.keyboard.press("]")
    page.keyboard.press("Enter")
    expected = [*expected, (4, 10, "pouring")]
    rows = assert_spans(page, video_pk, expected, "the span made with [ ] Enter")
    (new_id,) = {r[0] for r in rows} - {r[0] for r in csv_rows}
    created = LabelSpan.objects.get(pk=new_id)
    assert created.source == "browser" and created.created_by_id == web_user.user.pk
    shot("span-created")

    # ---- resize it: drag its end edge to the boundary after frame 20
    span = page.locator(f"#timeline .span[data-span-id='{new_id}']")
    handle = span.locator(".handle.end").bounding_box()
    track = page.locator("#span-track").bounding_box()
    target = track["x"] + track["width"] * 21 / video.frame_count
    page.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
    page.mouse.down()
    page.mouse.move(target, handle["y"] + handle["height"] / 2, steps=8)
    page.mouse.up()
    expected = [*expected[:-1], (4, 20, "pouring")]
    assert_spans(page, video_pk, expected, "the span resized by dragging its end")
    shot("span-resized")

    # ---- relabel it (it is the selected span)
    expect(page.locator("#span-label")).to_be_enabled()
    page.select_option("#span-label", "talking")
    expected = [*expected[:-1], (4, 20, "talking")]
    assert_spans(page, video_pk, expected, "the span relabelled")
    shot("span-relabelled")

    # ---- another span, further on (Home, then Shift+→ a second at a time), selected by a click and
    # deleted with the Delete key. (Deleting one of the file's spans instead leaves a gap that the
    # dataset's temporal split can put the whole validation block in: no windows to validate on.)
    page.keyboard.press("Escape")
    expect(page.locator("#delete-span")).to_be_disabled()
    page.focus("#timeline")
    page.keyboard.press("Home")
    assert frame_shown(page) == 0
    for _ in range(5):
        page.keyboard.press("Shift+ArrowRight")
    second = frame_shown(page)
    assert second == 5 * round(video.fps), f"Shift+→ ×5 went to frame {second}"
    page.keyboard.press("[")
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    page.keyboard.press("]")
    page.keyboard.press("Enter")
    doomed = (second, second + 5, "pouring")
    rows = assert_spans(page, video_pk, [*expected, doomed], "the second span")
    (doomed_id,) = {r[0] for r in rows if r[1:] == doomed}
    page.keyboard.press("Escape")
    expect(page.locator("#delete-span")).to_be_disabled()
    shot("second-span")
    page.locator(f"#timeline .span[data-span-id='{doomed_id}']").click()
    expect(page.locator("#delete-span")).to_be_enabled()
    expect(page.locator("#span-info")).to_contain_text(f"{doomed[0]}–{doomed[1]}")
    page.keyboard.press("Delete")
    final_rows = assert_spans(page, video_pk, expected, "the span deleted with the Delete key")
    assert not LabelSpan.objects.filter(pk=doomed_id).exists()
    shot("span-deleted")

    # ---- extract features (MediaPipe), following the job on the page
    extract = page.locator("form#extract-form")
    extract.locator("select[name=detector_type]").select_option("mediapipe")
    extract.locator("input[name=sample_rate]").fill("1")
    extract.locator("[type=submit]").click()
    stages, values = [], []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        stage = page.locator("#extract-stage").inner_text().strip()
        value = float(page.locator("#extract-progress").evaluate("n => n.value"))
        if not stages or stages[-1] != stage:
            stages.append(stage)
        values.append(value)
        if stage == "done" or stage.startswith("failed"):
            break
        if len(values) in (5, 40):
            shot("extracting")
        page.wait_for_timeout(100)
    assert stages[-1] == "done", f"extraction stages seen: {stages}"
    assert values[-1] == 1.0, f"#extract-progress ended at {values[-1]}"
    between = sorted({v for v in values if 0 < v < 1})
    assert between, f"#extract-progress never showed progress between 0 and 1: {sorted(set(values))}"
    assert len(stages) >= 3, f"#extract-stage did not follow the job: {stages}"
    job_stages = ("starting", "extracting", "recording")  # what the extraction job reports as it runs
    assert any(name in text for text in stages for name in job_stages), f"no job stage in #extract-stage: {stages}"
    feature = FeatureFile.objects.get(video_id=video_pk)
    assert feature.status == "succeeded" and feature.detector == "mediapipe"
    item = page.locator(f"#feature-files [data-feature-file='{feature.pk}']")
    expect(item).to_contain_text(feature.filename)
    expect(item.locator(".badge")).to_have_text("succeeded", timeout=15_000)
    # the labels extraction used are the ones the labeller left in the database
    labels = frame_labels(final_rows)
    assert feature.num_frames == video.frame_count
    assert feature.num_labeled == len(labels)
    assert feature.label_distribution == dict(Counter(labels.values()))
    shot("extracted")

    # ---- dataset: preview, then build
    page.goto("/datasets/")
    builder = page.locator("form#dataset-form")
    box = builder.locator(f"input[name=feature_files][value='{feature.filename}']")
    box.check()
    for name, value in [("window_sec", "1"), ("step_sec", "0.25"), ("train_ratio", "0.5"), ("val_ratio", "0.25"),
                        ("test_ratio", "0.25")]:  # fmt: skip
        builder.locator(f"input[name={name}]").fill(value)
    builder.locator("select[name=balance_method]").select_option("none")
    page.click("button#preview")
    table = page.locator("table#preview-table")
    expect(table.locator("td[data-split][data-label]").first).to_be_visible()
    body = {"feature_files": [feature.filename], "window_sec": 1, "step_sec": 0.25, "balance_method": "none",
            "train_ratio": 0.5, "val_ratio": 0.25, "test_ratio": 0.25}  # fmt: skip
    r = requests.post(f"{web_platform.url}/api/v1/datasets/preview/", json=body, headers=web_user.headers, timeout=60)
    assert r.status_code == 200, r.text
    preview = r.json()
    shown = counts_table(page, "#preview-table")
    want = {split: {label: preview["counts"].get(split, {}).get(label, 0) for label in preview["labels"]}
            for split in ("train", "val", "test")}  # fmt: skip
    assert shown == want, f"the preview table shows {shown}; a preview of the same request counts {want}"
    totals = numbers(page, "#preview-table tfoot td[data-split]", "data-split", "data-value")
    assert {t["data-split"]: int(t["data-value"]) for t in totals} == {
        **preview["sizes"],
        "total": preview["windows"],
    }, totals
    shot("dataset-preview")

    before = set(Dataset.objects.filter(owner=web_user.user).values_list("pk", flat=True))
    page.click("button#build")
    dataset = eventually(
        lambda: Dataset.objects.filter(owner=web_user.user).exclude(pk__in=before).get(), what="the dataset row"
    )
    row = page.locator(f"table#dataset-list tr[data-dataset-id='{dataset.pk}']")
    expect(row).to_have_attribute("data-status", "succeeded", timeout=180_000)
    dataset.refresh_from_db()
    assert dataset.status == "succeeded"
    assert [f.filename for f in dataset.sources.all()] == [feature.filename]
    assert (dataset.window_sec, dataset.step_sec) == (1.0, 0.25)
    assert (dataset.train_ratio, dataset.val_ratio, dataset.test_ratio) == (0.5, 0.25, 0.25)
    built = {split: {label: dataset.class_counts.get(split, {}).get(label, 0) for label in dataset.labels}
             for split in ("train", "val", "test")}  # fmt: skip
    assert built == want, f"built {built}, previewed {want}"
    for split in ("train", "val", "test"):
        expect(row.locator(f"td[data-split={split}]")).to_have_text(str(getattr(dataset, f"{split}_size")))
    expect(row.locator("a.dataset-link")).to_have_attribute("href", f"/datasets/{dataset.pk}/")
    shot("dataset-built")
    row.locator("a.dataset-link").click()
    page.wait_for_url(f"**/datasets/{dataset.pk}/")
    expect(page.locator("#class-counts tbody td[data-split]").first).to_be_attached()
    assert counts_table(page, "#class-counts") == built, "the dataset page's counts differ from the dataset row's"
    shot("dataset-page")

    # ---- train a random forest
    page.goto("/models/")
    trainer = page.locator("form#train-form")
    expect(trainer.locator(f"select[name=dataset] option[value='{dataset.pk}']")).to_be_attached()
    trainer.locator("select[name=dataset]").select_option(str(dataset.pk))
    trainer.locator("select[name=model_type]").select_option("rf")
    trainer.locator("select[name=aggregation]").select_option("stats")
    trainer.locator("input[name=n_estimators]").fill("30")
    shot("train-form")
    page.click("#train-form [type=submit]")
    model = eventually(lambda: TrainedModel.objects.get(dataset=dataset), what="the model row")
    row = page.locator(f"table#model-list tr[data-model-id='{model.pk}']")
    expect(row).to_have_attribute("data-status", "succeeded", timeout=180_000)
    model.refresh_from_db()
    assert model.status == "succeeded" and model.model_type == "rf" and model.params.get("n_estimators") == 30
    accuracy_cell = row.locator("[data-metric=accuracy]")
    assert float(accuracy_cell.get_attribute("data-value")) == model.metrics["accuracy"]
    expect(accuracy_cell).to_have_text(f"{model.metrics['accuracy']:.3f}")
    assert same(row.locator("[data-metric=f1_macro]").get_attribute("data-value"), model.metrics["f1_macro"])
    expect(page.locator(f"table#compare tr[data-model-id='{model.pk}']")).to_be_attached()
    per_class = model.metrics["test"]["per_class"]
    want_compare = {
        "accuracy": model.metrics["accuracy"],
        "f1_macro": model.metrics["f1_macro"],
        "f1_weighted": model.metrics["f1_weighted"],
        "training_seconds": model.metrics["training_seconds"],
        **{f"f1:{label}": per_class[label]["f1"] for label in model.metrics["labels"]},
    }
    cells = numbers(page, f"table#compare td[data-model-id='{model.pk}']", "data-metric", "data-value")
    shown_compare = {c["data-metric"]: c["data-value"] for c in cells}
    assert set(shown_compare) == set(want_compare), f"compare columns {sorted(shown_compare)}"
    for key, value in want_compare.items():
        assert same(shown_compare[key], value), f"compare {key}: shows {shown_compare[key]}, metrics {value}"
    shot("model-trained")

    # ---- the model's page: every number against the metrics JSON
    row.locator("a.model-link").click()
    page.wait_for_url(f"**/models/{model.pk}/")
    metrics = model.metrics
    labels = metrics["labels"]
    expect(page.locator("svg#confusion rect.cell")).to_have_count(len(labels) ** 2)
    matrix = {}
    for c in numbers(page, "svg#confusion rect.cell", "data-row", "data-col", "data-value"):
        matrix[(labels.index(c["data-row"]), labels.index(c["data-col"]))] = int(c["data-value"])
    want_matrix = {(i, j): v for i, row_ in enumerate(metrics["confusion_matrix"]) for j, v in enumerate(row_)}
    assert matrix == want_matrix, f"confusion cells {matrix}, metrics {metrics['confusion_matrix']}"
    bars = numbers(page, "svg#f1-bars rect[data-label]", "data-label", "data-value")
    f1 = {b["data-label"]: float(b["data-value"]) for b in bars}
    report = metrics["classification_report"]
    assert f1 == {label: report[label]["f1-score"] for label in labels}, f"f1 bars {f1}"
    shown_accuracy = page.locator("#metrics [data-metric=accuracy]")
    assert float(shown_accuracy.get_attribute("data-value")) == metrics["accuracy"]
    expect(shown_accuracy).to_have_text(f"{metrics['accuracy']:.3f}")
    cells = numbers(page, "#metrics [data-metric]", "data-metric", "data-value")
    stats = {c["data-metric"]: c["data-value"] for c in cells}
    want_stats = {
        "accuracy": metrics["accuracy"],
        "f1_macro": metrics["f1_macro"],
        "f1_weighted": metrics["f1_weighted"],
        "support": metrics["test"]["support"],
        "train_size": metrics["train_size"],
        "training_seconds": metrics["training_seconds"],
        **({"val_accuracy": metrics["val"]["accuracy"]} if metrics.get("val") else {}),
        "video_accuracy": metrics["video_level"]["accuracy"],
        "segment_f1_50": metrics["segment"]["f1@50"],
        "segment_edit": metrics["segment"]["edit"],
    }
    for key, value in want_stats.items():
        assert key in stats, f"#metrics does not show {key}"
        assert same(stats[key], value), f"#metrics {key}: shows {stats[key]}, metrics {value}"
    per_class = metrics["test"]["per_class"]
    bars = numbers(page, "svg#f1-bars rect[data-label]", "data-label", "data-precision", "data-recall", "data-support")
    for bar in bars:
        want = per_class[bar["data-label"]]
        for key in ("precision", "recall", "support"):
            assert same(bar[f"data-{key}"], want[key]), f"f1 bar {bar['data-label']} {key}: {bar}, metrics {want}"
    bars = numbers(page, "svg#importance rect[data-label]", "data-label", "data-value")
    importance = [(b["data-label"], float(b["data-value"])) for b in bars]
    top = [(f["feature"], f["importance"]) for f in metrics["feature_importance"][:20]]
    assert top and importance == top, f"importance bars {importance[:5]}…, metrics {top[:5]}…"
    videos = sorted(metrics.get("test_timeline") or {})
    assert videos, "the metrics hold no test timeline"
    drawn = sorted(n.get_attribute("data-video-id") for n in page.locator("#timelines svg.timeline").all())
    assert drawn == videos
    for video_id in videos:
        windows = metrics["test_timeline"][video_id]
        for lane, key in (("true", "true"), ("pred", "pred")):
            segments = numbers(
                page, f"#timelines svg.timeline[data-video-id='{video_id}'] rect.segment[data-lane={lane}]",
                "data-start", "data-end", "data-label",
            )  # fmt: skip
            got = [(float(s["data-start"]), float(s["data-end"]), s["data-label"]) for s in segments]
            assert got == [(w["start"], w["end"], w[key]) for w in windows], f"{video_id} {lane} lane"
        summary = metrics["test_videos"][video_id]
        figure = page.locator(f"#timelines figure[data-video-id='{video_id}']")
        assert same(figure.locator("[data-metric=windows]").get_attribute("data-value"), summary["windows"])
        assert same(figure.locator("[data-metric=accuracy]").get_attribute("data-value"), summary["accuracy"])
    shot("model-page")

    # ---- a live session on the video
    page.goto("/live/")
    live = page.locator("form#live-form")
    expect(live.locator(f"select[name=model] option[value='{model.pk}']")).to_be_attached()
    live.locator("select[name=model]").select_option(str(model.pk))
    live.locator("select[name=source]").select_option("video")
    expect(live.locator(f"select[name=video] option[value='{video_pk}']")).to_be_attached()
    live.locator("select[name=video]").select_option(str(video_pk))
    live.locator("select[name=smoothing]").select_option("none")
    shot("live-form")
    page.click("button#start")
    session = eventually(
        lambda: LiveSession.objects.get(owner=web_user.user, trained_model=model), what="the live session row"
    )
    assert session.video_id == video_pk and session.source_kind == "video"
    expect(page.locator("#current-task")).to_have_text(re.compile("^(" + "|".join(map(re.escape, labels)) + ")$"),
                                                       timeout=60_000)  # fmt: skip
    expect(page.locator("#confidence")).to_contain_text("%")

    def frames_received():
        count = int(page.locator("#health-frames").inner_text())
        assert count > 0, "#health shows no frames received"
        return count

    eventually(frames_received, what="frames in #health")
    assert page.locator("svg#history rect, svg#history path, svg#history polyline").count() > 0, "empty #history"
    shot("live-predictions")

    def session_has_frames():
        row = LiveSession.objects.get(pk=session.pk)
        assert row.frames_processed > 0 or row.status == "running", (row.status, row.frames_processed)

    eventually(session_has_frames, what="the session's row")
    if page.locator("button#stop").is_enabled():
        page.click("button#stop")

        def ended():
            status = LiveSession.objects.get(pk=session.pk).status
            assert status in ("stopped", "finished"), status

        eventually(ended, timeout=30, what="the session ending")
        expect(page.locator("button#stop")).to_be_disabled()
    shot("live-stopped")
