"""Browser tests: Playwright driving Debian's headless Chromium (/usr/bin/chromium, installed by
scripts/browser.sh) against the real web server (``manage.py serve``: uvicorn) and a real Celery
worker consuming every queue, the ``live`` one included, on the test database.

The services, the browser and the user start once for this package, as tests/streaming does:
rows are committed by this package's fixtures, the server and the worker, so the tests take the
plain ``django_db`` mark and only read (PostgreSQL's read committed shows them the other
processes' commits). The database is flushed when the package's tests end.

Every test gets a fresh browser context (1280×800) and a ``shot(step)`` that saves a screenshot
to ``test-artifacts/web/<test name>/<NN>-<step>.png``; a failing test saves one more, ``failure``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.streaming.conftest import Person, Service, _train, serving

ROOT = Path(__file__).resolve().parent.parent.parent
ARTIFACTS = ROOT / "test-artifacts" / "web"
CHROMIUM = "/usr/bin/chromium"
# As root on these machines Chromium needs no sandbox; without the background-networking flags
# it keeps trying to reach Google's hosts through a closed network. The fake media flags give
# the live page a webcam (a test pattern) without a permission prompt.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]
WIDE = {"width": 1280, "height": 800}
NARROW = {"width": 400, "height": 800}
PASSWORD = "web-alice-password-1"
NEWCOMER_PASSWORD = "web-newcomer-password-1"


@dataclass
class WebPlatform:
    server: Service
    worker: Service
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture(scope="package")
def web_platform(django_db_setup, django_db_blocker, tmp_path_factory):
    """The web server and one worker on every queue (two processes: extraction and a live session at once)."""
    from django.core.management import call_command

    from tests.platform import worker_env

    # DEBUG is off: WhiteNoise serves the pages' scripts and styles from STATIC_ROOT (in the
    # tests' data directory), as `make run` does after its collectstatic.
    call_command("collectstatic", interactive=False, verbosity=0)
    log_dir = tmp_path_factory.mktemp("web-services")
    with serving(django_db_blocker, log_dir, worker_env(), worker_name=f"web-{os.getpid()}") as (server, worker, port):
        yield WebPlatform(server=server, worker=worker, port=port)


@pytest.fixture(scope="package")
def web_user(web_platform, django_db_blocker) -> Person:
    """The person who logs in through the login page (and whose token the setup fixtures use)."""
    from django.contrib.auth.models import User
    from rest_framework.authtoken.models import Token

    with django_db_blocker.unblock():
        user = User.objects.create_user("web-alice", password=PASSWORD)
        return Person(user=user, token=Token.objects.create(user=user).key)


@pytest.fixture(scope="package")
def newcomer(web_platform, django_db_blocker) -> Person:
    """Someone with nothing uploaded, built or trained yet."""
    from django.contrib.auth.models import User
    from rest_framework.authtoken.models import Token

    with django_db_blocker.unblock():
        user = User.objects.create_user("web-newcomer", password=NEWCOMER_PASSWORD)
        return Person(user=user, token=Token.objects.create(user=user).key)


@dataclass
class SampleModel:
    """What web_user already has before a test opens a page: a labelled video, features, a model."""

    video_pk: int
    video_file: str
    feature_file: str
    dataset_pk: int
    model_pk: int


@pytest.fixture(scope="package")
def sample_model(web_platform, web_user, django_db_blocker, megamind) -> SampleModel:
    """Megamind uploaded, extracted (MediaPipe), built and trained (rf) through /backend/, for pages that need data."""
    from models_app.models import TrainedModel
    from videos.models import Video

    class Http:  # what tests.streaming's /backend/ helper reads off its platform
        http = web_platform.url

    with django_db_blocker.unblock():
        up, model = _train(Http, web_user, megamind, "web-sample")
        trained = TrainedModel.objects.get(pk=model["model_id"])
        video = Video.objects.get(owner=web_user.user, stored_name=up["video_file"])
        return SampleModel(
            video_pk=video.pk,
            video_file=up["video_file"],
            feature_file=up["feature_file"],
            dataset_pk=trained.dataset_id,
            model_pk=trained.pk,
        )


@contextlib.contextmanager
def launched_chromium():
    """Debian's headless Chromium driven by Playwright, for the length of the block."""
    from django.db import connections
    from playwright.sync_api import sync_playwright

    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: `make browser` (scripts/browser.sh) installs Debian's chromium")

    # Playwright's sync API keeps its event loop marked as running in this thread, which Django's
    # ORM takes for an async context: it refuses to run (unless told it may) and keeps the
    # connections it opens meanwhile apart from the thread's own. The tests only read committed
    # rows between browser calls; those connections are closed before the loop stops.
    before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                yield chromium
            finally:
                connections.close_all()
                chromium.close()
    finally:
        if before is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = before


@pytest.fixture(scope="package")
def browser(web_platform):
    with launched_chromium() as chromium:
        yield chromium


def _test_dir(node) -> Path:
    return ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", node.name).strip("_")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.web_failed = report.failed
    return report


class Shots:
    """``shot(step)``: a full-page screenshot numbered in the order taken."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.count = 0
        self.page = None

    def __call__(self, step: str, page=None) -> Path:
        page = page or self.page
        self.count += 1
        path = self.directory / f"{self.count:02d}-{re.sub(r'[^A-Za-z0-9_.-]+', '-', step)}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def shot(request) -> Shots:
    directory = _test_dir(request.node)
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    shots = Shots(directory)
    yield shots
    if getattr(request.node, "web_failed", False) and shots.page is not None and not shots.page.is_closed():
        try:
            shots("failure")
        except Exception as exc:  # noqa: BLE001 - a failed screenshot must not hide the failure
            print(f"no failure screenshot: {exc}")


@pytest.fixture
def page(browser, web_platform, shot, request):
    """A fresh browser context (no cookies) at 1280×800 on the test server."""
    context = browser.new_context(viewport=WIDE, base_url=web_platform.url)
    context.set_default_timeout(15_000)
    new = context.new_page()
    problems: list[str] = []
    new.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    new.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None)
    new.problems = problems
    shot.page = new
    yield new
    if getattr(request.node, "web_failed", False) and problems:
        print("browser console:\n" + "\n".join(problems[-30:]))
    context.close()


def log_in(page, username: str = "web-alice", password: str = PASSWORD, *, path: str = "/accounts/login/") -> None:
    """Log in through the login form, as a person would."""
    page.goto(path)
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    with page.expect_navigation():
        page.locator("form:has(#id_password) [type=submit]").click()
    assert "/accounts/login/" not in page.url, f"still on the login page: {page.locator('main').inner_text()}"


@pytest.fixture
def logged_in(page, web_user):
    """``page``, logged in as web_user through /accounts/login/."""
    log_in(page)
    return page


def server_get(web_platform, path: str, person: Person) -> dict:
    """A JSON API answer for ``person`` (token auth), to compare a page with."""
    r = requests.get(f"{web_platform.url}{path}", headers=person.headers, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def eventually(check, *, timeout: float = 15, interval: float = 0.2, what: str = "condition"):
    """``check()`` once it returns without an AssertionError or a missing row (its last error when
    time runs out). For comparing a page with rows the server writes a moment after the page's request.
    """
    from django.core.exceptions import ObjectDoesNotExist

    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except (AssertionError, ObjectDoesNotExist) as exc:
            if time.monotonic() > deadline:
                raise AssertionError(f"after {timeout} s, {what}: {exc}") from None
        time.sleep(interval)


def overflow_report(page) -> dict:
    """The document's width against the viewport's, and the elements that stick out on the right."""
    return page.evaluate(
        """() => {
          const width = document.documentElement.clientWidth;
          const out = [];
          for (const node of document.querySelectorAll("body *")) {
            const box = node.getBoundingClientRect();
            if (box.width === 0 || box.right <= width + 1) continue;
            let clipped = false;  // inside a scrolling box (a wide table's .table-wrap) it does not count
            for (let up = node.parentElement; up && up !== document.body; up = up.parentElement) {
              const style = getComputedStyle(up);
              const scrolls = ["auto", "scroll", "hidden", "clip"].includes(style.overflowX);
              if (scrolls && up.getBoundingClientRect().right <= width + 1) {
                clipped = true; break;
              }
            }
            if (clipped) continue;
            const name = node.tagName.toLowerCase() + (node.id ? "#" + node.id : "") +
              (node.classList.length ? "." + [...node.classList].join(".") : "");
            out.push(`${name} right=${Math.round(box.right)} width=${Math.round(box.width)}`);
          }
          return {scrollWidth: document.documentElement.scrollWidth, viewport: window.innerWidth,
                  clientWidth: width, offenders: out.slice(0, 12)};
        }"""
    )
