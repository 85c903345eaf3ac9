"""Every endpoint needs credentials; tokens (drf_create_token) and sessions both work; docs are local."""

from __future__ import annotations

import io
import re

import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.urls import URLResolver, get_resolver
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

ANONYMOUS_REFUSED = [
    ("get", "/api/v1/"),
    ("get", "/api/v1/videos/"),
    ("post", "/api/v1/videos/"),
    ("get", "/api/v1/videos/1/"),
    ("delete", "/api/v1/videos/1/"),
    ("post", "/api/v1/videos/1/extract/"),
    ("get", "/api/v1/label-spans/"),
    ("post", "/api/v1/label-spans/"),
    ("patch", "/api/v1/label-spans/1/"),
    ("delete", "/api/v1/label-spans/1/"),
    ("get", "/api/v1/feature-files/"),
    ("delete", "/api/v1/feature-files/1/"),
    ("get", "/api/v1/datasets/"),
    ("post", "/api/v1/datasets/"),
    ("post", "/api/v1/datasets/1/rebuild/"),
    ("delete", "/api/v1/datasets/1/"),
    ("get", "/api/v1/models/"),
    ("post", "/api/v1/models/"),
    ("delete", "/api/v1/models/1/"),
    ("get", "/api/v1/jobs/"),
    ("get", "/api/v1/jobs/1/"),
    ("post", "/api/v1/jobs/1/cancel/"),
    ("post", "/api/v1/jobs/1/retry/"),
    ("post", "/backend/upload_and_extract_features"),
    ("post", "/backend/upload_and_extract_features/"),
    ("get", "/backend/features"),
    ("get", "/backend/features/x_features.parquet"),
    ("post", "/backend/build_task_dataset"),
    ("get", "/backend/datasets"),
    ("post", "/backend/train_task_model"),
    ("get", "/backend/models/"),
]


@pytest.mark.parametrize("method,url", ANONYMOUS_REFUSED)
def test_anonymous_callers_are_refused(method, url, alice):
    r = getattr(APIClient(), method)(url)
    assert r.status_code in (401, 403), (url, r.status_code, r.content)
    body = r.json()
    if url.startswith("/backend/"):
        assert body["status"] == "error" and "credentials" in body["alert"]
    else:
        assert "credentials" in body["detail"]


PUBLIC: set[str] = set()  # nothing: the schema and docs need a login too (SPECTACULAR SERVE_PERMISSIONS)
HTML_PAGES = ("/api/v1/docs/", "/api/v1/redoc/")  # answer a bare "401 Unauthorized" page


def _routes(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern)


def _example_url(route: str) -> str:
    route = re.sub(r"\(\?P<\w+>[^)]*\)", "1", route)  # every captured id or name → 1
    return "/" + route.replace("^", "").replace("$", "").replace("/?", "/").replace("\\", "")


def test_every_backend_and_api_route_refuses_anonymous_callers(alice):
    urls = {
        _example_url(route)
        for route in _routes(get_resolver().url_patterns)
        if route.startswith(("backend/", "api/v1/")) and "format" not in route
    }
    assert {"/backend/upload_and_extract_features/", "/api/v1/videos/1/extract/", "/api/v1/jobs/1/retry/"} <= urls
    client = APIClient()
    for url in sorted(urls - PUBLIC):
        for method in ("get", "post"):
            r = getattr(client, method)(url)
            assert r.status_code in (401, 403, 405), (method, url, r.status_code)
            if r.status_code != 405 and url not in HTML_PAGES:
                assert "credentials" in r.content.decode(), (method, url, r.content[:200])


def test_a_wrong_token_is_refused(alice):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")
    assert client.get("/api/v1/videos/").status_code == 401
    assert client.get("/backend/features").status_code == 401


def test_drf_create_token_prints_a_key_that_authenticates(alice):
    out = io.StringIO()
    call_command("drf_create_token", "alice", stdout=out)
    key = re.search(r"\b([0-9a-f]{40})\b", out.getvalue()).group(1)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    r = client.get("/api/v1/videos/")
    assert r.status_code == 200
    assert r.json() == {"count": 0, "next": None, "previous": None, "results": []}
    assert client.get("/backend/features").json() == {"features": []}


def test_session_login_authenticates_and_posts_need_csrf(alice):
    client = APIClient(enforce_csrf_checks=True)
    assert client.login(username="alice", password="alice-password-1")
    assert client.get("/api/v1/jobs/").status_code == 200
    assert client.get("/backend/models").json() == {"models": []}
    r = client.post("/backend/build_task_dataset", {"feature_files": "x.parquet"})
    assert r.status_code == 403
    assert "CSRF" in r.json()["alert"]


def test_openapi_schema_describes_every_resource(alice, client_for):
    r = client_for(alice).get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert r.status_code == 200
    schema = r.json()
    assert schema["openapi"].startswith("3.")
    paths = set(schema["paths"])
    for expected in [
        "/api/v1/videos/",
        "/api/v1/videos/{id}/extract/",
        "/api/v1/label-spans/{id}/",
        "/api/v1/feature-files/",
        "/api/v1/datasets/{id}/rebuild/",
        "/api/v1/models/",
        "/api/v1/jobs/{id}/cancel/",
        "/api/v1/jobs/{id}/retry/",
    ]:
        assert expected in paths
    # The /backend/ contract is described too, every operation tagged as the compatibility contract.
    backend = {p: ops for p, ops in schema["paths"].items() if p.startswith("/backend/")}
    assert {
        "/backend/upload_and_extract_features/", "/backend/features/", "/backend/features/{filename}/",
        "/backend/build_task_dataset/", "/backend/datasets/", "/backend/train_task_model/", "/backend/models/",
        "/backend/stop_webcam/",
    } <= set(backend)  # fmt: skip
    for ops in backend.values():
        for op in ops.values():
            assert op["tags"] == ["backend (compatibility contract)"], op
    build = schema["paths"]["/backend/build_task_dataset/"]["post"]
    step = build["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]["$ref"].split("/")[-1]
    assert schema["components"]["schemas"][step]["properties"]["step_sec"]["minimum"] == 0.001
    assert "413" in build["responses"] and "429" in build["responses"]
    train = schema["paths"]["/backend/train_task_model/"]["post"]
    fields = train["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]["$ref"].split("/")[-1]
    assert schema["components"]["schemas"][fields]["properties"]["cv"]["maximum"] == 20  # the folds train takes
    assert "cv" not in schema["components"]["schemas"][step]["properties"]  # not a build parameter
    upload = schema["paths"]["/api/v1/videos/"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in upload
    list_params = {p["name"] for p in schema["paths"]["/api/v1/feature-files/"]["get"]["parameters"]}
    assert {"page", "status", "detector", "video", "filename"} <= list_params


def test_swagger_ui_uses_local_assets_only(alice, client_for):
    r = client_for(alice).get("/api/v1/docs/")
    assert r.status_code == 200
    html = r.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets, html[:500]
    assert not re.search(r"https?://(?!testserver)", html.split("<script>")[0])  # no CDN in the page head
    assert "cdn.jsdelivr" not in html and "unpkg.com" not in html
    for asset in assets:
        assert asset.startswith("/static/"), asset
        assert finders.find(asset.removeprefix("/static/")), f"{asset} is not a local static file"
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in assets
