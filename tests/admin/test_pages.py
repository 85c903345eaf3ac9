"""Admin pages over platform rows: lists, search, filters, detail pages, label span editing."""

from __future__ import annotations

import pytest
from django.urls import reverse

from datasets.models import Dataset
from jobs.models import Job
from models_app.models import TrainedModel
from tests.admin.builders import make_rows
from videos.models import FeatureFile, LabelSpan, Video

pytestmark = pytest.mark.django_db


def changelist(app_model: str) -> str:
    return reverse(f"admin:{app_model.replace('.', '_')}_changelist")


def change(obj) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def listed(response) -> list:
    assert response.status_code == 200, response.content[:2000]
    return list(response.context["cl"].result_list)


@pytest.fixture
def rows(alice, bob):
    return make_rows(alice, name="mega"), make_rows(bob, name="street", labels=["walking", "standing"])


def test_every_changelist_loads_and_lists_everyone(admin_web, rows):
    mega, street = rows
    expected = {
        "videos.video": {mega.video, street.video},
        "videos.featurefile": {mega.feature_file, street.feature_file},
        "datasets.dataset": {mega.dataset, street.dataset},
        "models_app.trainedmodel": {mega.model, street.model},
        "jobs.job": set(mega.jobs.values()) | set(street.jobs.values()),
    }
    for app_model, objects in expected.items():
        response = admin_web.get(changelist(app_model))
        assert set(listed(response)) == objects, app_model
    page = admin_web.get(changelist("datasets.dataset")).content.decode()
    assert "holding_glass, talking" in page and mega.dataset.name in page


@pytest.mark.parametrize(
    ("app_model", "params", "expect"),
    [
        ("videos.video", {"q": "street"}, lambda m, s: {s.video}),
        ("videos.video", {"q": "Mega.avi"}, lambda m, s: {m.video}),  # original name
        ("videos.video", {"owner__id__exact": "{alice}"}, lambda m, s: {m.video}),
        ("videos.featurefile", {"q": "mega"}, lambda m, s: {m.feature_file}),
        (
            "videos.featurefile",
            {"status": "succeeded", "detector": "mediapipe"},
            lambda m, s: {m.feature_file, s.feature_file},
        ),
        ("videos.featurefile", {"status": "failed"}, lambda m, s: set()),
        ("datasets.dataset", {"q": "street_features.parquet"}, lambda m, s: {s.dataset}),
        ("datasets.dataset", {"q": "dataset_{mega_dataset}"}, lambda m, s: {m.dataset}),
        ("datasets.dataset", {"status": "succeeded", "owner__id__exact": "{bob}"}, lambda m, s: {s.dataset}),
        ("models_app.trainedmodel", {"q": "task_classifier_lgbm_{mega_model}"}, lambda m, s: {m.model}),
        ("models_app.trainedmodel", {"model_type": "rf"}, lambda m, s: set()),
        ("jobs.job", {"kind": "dataset", "status": "succeeded"}, lambda m, s: {m.jobs["dataset"], s.jobs["dataset"]}),
        ("jobs.job", {"q": "task-street-training"}, lambda m, s: {s.jobs["training"]}),
    ],
)
def test_search_and_filters_narrow_the_lists(admin_web, rows, alice, bob, app_model, params, expect):
    mega, street = rows
    ids = {"alice": alice.pk, "bob": bob.pk, "mega_dataset": mega.dataset.pk, "mega_model": mega.model.pk}
    query = {key: value.format(**ids) for key, value in params.items()}
    response = admin_web.get(changelist(app_model), query)
    assert set(listed(response)) == expect(mega, street)


def test_failed_job_search_finds_its_error(admin_web, alice):
    failed = Job.objects.create(owner=alice, kind="dataset", status="failed", error="features file not found: x")
    Job.objects.create(owner=alice, kind="dataset", status="succeeded")
    response = admin_web.get(changelist("jobs.job"), {"q": "not found", "status": "failed"})
    assert listed(response) == [failed]


def test_dataset_page_shows_sources_params_class_counts_files_and_job(admin_web, rows):
    mega, _ = rows
    response = admin_web.get(change(mega.dataset))
    assert response.status_code == 200
    page = response.content.decode()
    assert mega.feature_file.filename in page and change(mega.feature_file) in page
    assert "&quot;balance_method&quot;: &quot;none&quot;" in page  # the params, pretty-printed
    table = page[page.index('<table class="class-counts">') :]
    table = table[: table.index("</table>")]
    assert "<th>train</th><th>val</th><th>test</th><th>total</th>" in table
    assert "<tr><td>holding_glass</td><td>7</td><td>3</td><td>0</td><td>10</td></tr>" in table
    assert "<tr><td>talking</td><td>11</td><td>4</td><td>0</td><td>15</td></tr>" in table
    assert "<th>total</th><th>18</th><th>7</th><th>0</th><th>25</th>" in table
    for name in ("X_train.npy", "y_train.npy", "metadata.json"):
        assert f"<td>{name}</td>" in page
    assert f"job {mega.jobs['dataset'].pk}: succeeded" in page
    assert change(mega.model) in page
    # Nothing on a dataset is edited here: the page is view-only and a POST is refused.
    assert 'name="_save"' not in page
    assert admin_web.post(change(mega.dataset), {"status": "failed"}).status_code == 403
    assert Dataset.objects.get(pk=mega.dataset.pk).status == "succeeded"


def test_labels_and_values_are_escaped(admin_web, alice):
    evil = make_rows(alice, name="evil", labels=["<script>alert(1)</script>", "<b>bold</b>"])
    page = admin_web.get(change(evil.dataset)).content.decode()
    assert "<script>alert(1)</script>" not in page and "<b>bold</b>" not in page
    assert "<td>&lt;script&gt;alert(1)&lt;/script&gt;</td><td>7</td>" in page
    page = admin_web.get(changelist("datasets.dataset")).content.decode()
    assert "<script>alert(1)</script>" not in page


def test_other_detail_pages_show_derived_fields_read_only(admin_web, rows):
    mega, _ = rows
    for obj, shown in (
        (mega.video, [mega.video.sha256, mega.feature_file.filename, "holding_glass"]),
        (mega.feature_file, [mega.feature_file.path, mega.dataset.name, "&quot;talking&quot;: 85"]),
        (mega.model, ["&quot;accuracy&quot;: 0.75", mega.dataset.name, "task_classifier_lgbm_"]),
        (mega.jobs["training"], [mega.model.filename, "&quot;name&quot;: &quot;mega&quot;"]),
    ):
        response = admin_web.get(change(obj))
        assert response.status_code == 200, obj
        page = response.content.decode()
        for text in shown:
            assert text in page, (obj, text)
        for field in ("sha256", "path", "metrics", "file", "fps", "status"):
            assert f'name="{field}"' not in page, (obj, field)
    model_page = admin_web.get(change(mega.model)).content.decode()
    assert f"<td>{mega.model.path}</td>" in model_page and "_metrics.json</td>" in model_page
    for model in (Video, FeatureFile, Dataset, TrainedModel, Job):
        assert admin_web.get(reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_add")).status_code == 403


def _video_form(admin_web, video) -> dict:
    """The POST data the video's change form would send as it stands (the inline formsets)."""
    response = admin_web.get(change(video))
    data = {}
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        management = formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = management[name].value()
        for form in formset.initial_forms:
            for name in form.fields:
                value = form[name].value()
                if value is not None:
                    data[form.add_prefix(name)] = value
    return data


def test_label_spans_are_edited_inline_through_the_services(admin_web, superuser, alice):
    mega = make_rows(alice, name="mega")
    first, second = mega.video.label_spans.order_by("start_frame")
    data = _video_form(admin_web, mega.video)
    assert data["label_spans-TOTAL_FORMS"] == 2 and data["feature_files-TOTAL_FORMS"] == 1
    data.update(
        {
            "label_spans-0-end_frame": "89",  # change the first span
            "label_spans-1-DELETE": "on",  # delete the second
            "label_spans-TOTAL_FORMS": "3",  # add a third
            "label_spans-2-start_frame": "90",
            "label_spans-2-end_frame": "269",
            "label_spans-2-label": "talking",
            "label_spans-2-source": "browser",
            "label_spans-2-video": str(mega.video.pk),
        }
    )
    response = admin_web.post(change(mega.video), data)
    assert response.status_code == 302, response.context["errors"] if response.context else response
    spans = list(mega.video.label_spans.order_by("start_frame").values_list("start_frame", "end_frame", "label"))
    assert spans == [(0, 89, "holding_glass"), (90, 269, "talking")]
    added = LabelSpan.objects.get(video=mega.video, start_frame=90)
    assert added.created_by == superuser and added.source == "browser"
    assert not LabelSpan.objects.filter(pk=second.pk).exists()
    # The video's own fields and its feature files are untouched.
    video = Video.objects.get(pk=mega.video.pk)
    assert (video.sha256, video.file, video.frame_count) == (mega.video.sha256, mega.video.file, 270)
    assert FeatureFile.objects.filter(pk=mega.feature_file.pk, status="succeeded").exists()


@pytest.mark.parametrize(
    ("start", "end", "error"),
    [("10", "270", "outside the video (270 frames)"), ("50", "40", "span_end_after_start"), ("1", "5", "required")],
)
def test_invalid_label_spans_are_refused(admin_web, alice, start, end, error):
    mega = make_rows(alice, name="mega")
    data = _video_form(admin_web, mega.video)
    label = "" if error == "required" else "talking"
    data.update(
        {
            "label_spans-TOTAL_FORMS": "3",
            "label_spans-2-start_frame": start,
            "label_spans-2-end_frame": end,
            "label_spans-2-label": label,
            "label_spans-2-source": "browser",
            "label_spans-2-video": str(mega.video.pk),
        }
    )
    response = admin_web.post(change(mega.video), data)
    assert response.status_code == 200  # the form again, with the error
    assert error in response.content.decode() or error in str(
        response.context["inline_admin_formsets"][0].formset.errors
    )
    assert mega.video.label_spans.count() == 2
