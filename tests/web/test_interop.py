"""Label files and the frame clock in the browser: the labeller warns about a variable-rate clip
and counts its time from each frame's own timestamp, imports a BORIS file from its form and
exports through its download link; the dataset page shows the leakage audit; the model page
downloads a model's predictions over a whole video."""

from __future__ import annotations

import json

import pytest
import requests
from playwright.sync_api import expect

from tests.clips import vfr_clip
from tests.web.conftest import server_get

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

BORIS = (
    "Observation id,Media file name,FPS,Subject,Behavior,Behavior type,Time\n"
    "o,vfr_clip.mkv,30,,grasp,START,1.1\no,vfr_clip.mkv,30,,grasp,STOP,2.033\n"
    "o,vfr_clip.mkv,30,,reach,START,0\no,vfr_clip.mkv,30,,reach,STOP,0.5\n"
)


@pytest.fixture(scope="module")
def vfr_video(web_platform, web_user, tmp_path_factory) -> dict:
    path = vfr_clip(tmp_path_factory.mktemp("web-vfr"))
    with open(path, "rb") as handle:
        r = requests.post(f"{web_platform.url}/api/v1/videos/", files={"video": handle}, headers=web_user.headers,
                          timeout=60)  # fmt: skip
    assert r.status_code == 201, r.text
    return r.json()


def test_labeller_clock_import_and_export(logged_in, web_platform, web_user, vfr_video, shot, tmp_path):
    page = logged_in
    vid = vfr_video["id"]
    page.goto(f"/videos/{vid}/#frame=31")
    expect(page.locator("#clock-warning")).to_contain_text("variable frame rate")
    expect(page.locator("#clock-facts")).to_contain_text("first timestamp 1.500 s")
    # frame 31 is shown at 1.10 s by its own timestamp (31 / 30 fps would say 1.03 s)
    expect(page.locator("#frame-index")).to_contain_text("frame 31 / 90, 1.10 s")
    page.locator("#timeline").focus()
    page.keyboard.press("Shift+ArrowRight")  # one second on from 1.1 s: frame 46 (2.1 s); 30 frames on is 61
    expect(page.locator("#frame-index")).to_contain_text("frame 46 / 90, 2.10 s")
    shot("clock warning")

    boris = tmp_path / "observation.csv"
    boris.write_text(BORIS)
    page.set_input_files("#import-file", str(boris))
    page.select_option("#import-format", "boris")
    page.click("#import-submit")
    expect(page.locator("#import-report")).to_contain_text("2 span(s) imported (replace")
    expect(page.locator("#span-track .span")).to_have_count(2)
    expect(page.locator('#span-track .span[data-label="grasp"]')).to_have_attribute("data-start", "31")
    spans = server_get(web_platform, f"/api/v1/label-spans/?video={vid}&ordering=start_frame", web_user)["results"]
    assert [(s["start_frame"], s["end_frame"], s["label"], s["source"]) for s in spans] == [
        (0, 14, "reach", "import:boris"), (31, 44, "grasp", "import:boris")]  # fmt: skip
    shot("imported")

    # A misfit file is refused next to the file field, naming the field, and nothing changes.
    boris.write_text(BORIS.replace(",30,", ",25,"))
    page.set_input_files("#import-file", str(boris))
    page.click("#import-submit")
    expect(page.locator('#import-form [data-error-for="file"]')).to_contain_text("FPS: 25 differs")
    assert len(server_get(web_platform, f"/api/v1/label-spans/?video={vid}", web_user)["results"]) == 2
    shot("misfit refused")

    # MS-TCN with a mapping.txt, through the format options, merged into what is there
    (tmp_path / "clip.txt").write_text("1\n" * 5 + "0\n" * 85)
    (tmp_path / "mapping.txt").write_text("0 background\n1 tap\n")
    page.set_input_files("#import-file", str(tmp_path / "clip.txt"))
    page.select_option("#import-format", "mstcn")
    page.select_option("#import-mode", "merge")
    page.locator("#import-options summary").click()
    page.set_input_files("#import-mapping", str(tmp_path / "mapping.txt"))
    page.click("#import-submit")
    expect(page.locator("#import-report")).to_contain_text("1 span(s) imported (merge")
    spans = server_get(web_platform, f"/api/v1/label-spans/?video={vid}&ordering=start_frame", web_user)["results"]
    assert [(s["start_frame"], s["end_frame"], s["label"]) for s in spans] == [
        (0, 4, "tap"), (5, 14, "reach"), (31, 44, "grasp")]  # fmt: skip
    shot("mstcn merged")

    page.select_option("#export-format", "activitynet")
    with page.expect_download() as download:
        page.click("#export-link")
    saved = download.value.path().read_bytes()
    api = requests.get(f"{web_platform.url}/api/v1/videos/{vid}/labels/export/?format=activitynet",
                       headers=web_user.headers, timeout=30)  # fmt: skip
    assert saved == api.content and b'"segment"' in saved


def test_dataset_leakage_and_model_predictions(logged_in, web_platform, web_user, sample_model, shot):
    page = logged_in
    page.goto(f"/datasets/{sample_model.dataset_pk}/")
    dataset = server_get(web_platform, f"/api/v1/datasets/{sample_model.dataset_pk}/", web_user)
    audit = dataset["leakage"]
    assert audit["test"]["windows"] == dataset["test_size"]
    expect(page.locator('#leakage-table [data-split="test"]')).to_contain_text(str(audit["test"]["windows"]))
    if audit["warning"]:
        expect(page.locator("#leakage-warning")).to_contain_text("of the test windows")
    else:
        expect(page.locator("#leakage-ok")).to_be_visible()
    shot("leakage audit")

    page.goto(f"/models/{sample_model.model_pk}/")
    page.select_option("#predictions-video", str(sample_model.video_pk))
    page.select_option("#predictions-format", "label_studio")
    with page.expect_download() as download:
        page.click("#predictions-download")
    tasks = json.loads(download.value.path().read_bytes())
    prediction = tasks[0]["predictions"][0]
    model = server_get(web_platform, f"/api/v1/models/{sample_model.model_pk}/", web_user)
    assert prediction["model_version"] == f"{model['filename']}@v{model['version']}"
    assert prediction["result"] and all(r["type"] == "timelinelabels" for r in prediction["result"])
