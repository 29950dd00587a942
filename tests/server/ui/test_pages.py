"""The UI's pages and assets served by the real app (in process): content without auth, shells
with it, partials for the script, HTML errors with the API's status codes, security and caching
headers, and ``/docs`` loading nothing from outside the package."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path

import nestor_catalog_server.ui as ui
from nestor_catalog_core import Catalog, Source, SourceKind
from nestor_catalog_server.config import Settings
from nestor_catalog_server.ui._assets import STATIC_DIR, SWAGGER_DIR
from tests.server.api.conftest import HS_SECRET, Client, bearer, make_settings, token

PAGES = [
    "/",
    "/?q=mysql&provider=aws",
    "/ui/resources/aws-rds-mysql",
    "/ui/resources/aws-rds-mysql/1.0.0",
    "/ui/resources/aws-rds-mysql/1.0.0/try",
    "/ui/diff/aws-rds-mysql?from=1.0.0&to=2.0.0",
    "/ui/sync",
]
_URLS = re.compile(r"""(?:src|href)=["']([^"']+)["']""")


def test_public_names() -> None:
    assert sorted(ui.__all__) == [
        "PARTIAL_HEADER",
        "STATIC_PATH",
        "UIController",
        "asset_url",
        "docs_render_plugin",
        "route_handlers",
        "swagger_version",
        "template_config",
    ]


async def test_every_page_renders_with_its_security_headers(client: Client) -> None:
    for path in PAGES:
        response = await client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in response.headers["content-security-policy"]
        assert response.headers["cache-control"] == "no-store"
        assert "<main" in response.text
        for url in _URLS.findall(response.text):
            assert url.startswith(("/", "#")), f"{path} links outside the server: {url}"


async def test_pages_show_the_catalog(client: Client) -> None:
    home = (await client.get("/")).text
    assert "aws-rds-mysql" in home
    assert 'href="/?provider=aws"' in home
    resource = (await client.get("/ui/resources/aws-rds-mysql")).text
    assert "instance_class" in resource
    assert "Compare with previous version" in resource
    diff = (await client.get("/ui/diff/aws-rds-mysql?from=1.2.0&to=2.0.0")).text
    assert "PATTERN_CHANGED" in diff


async def test_a_partial_is_the_content_without_the_layout(client: Client) -> None:
    response = await client.get("/ui/resources/aws-rds-mysql", headers={"X-Nestor-Partial": "1"})
    assert response.text.lstrip().startswith('<div id="partial"')
    assert "<html" not in response.text
    assert "instance_class" in response.text
    assert response.headers["vary"] == "Authorization, X-Nestor-Partial"


async def test_errors_are_html_pages_with_the_api_status(client: Client) -> None:
    missing = await client.get("/ui/resources/no-such-resource")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "RESOURCE_NOT_FOUND" in missing.text or "NOT_FOUND" in missing.text
    version = await client.get("/ui/resources/aws-rds-mysql/9.9.9")
    assert version.status_code == 404
    bad = await client.get("/?deprecated=perhaps")
    assert bad.status_code == 400
    assert "deprecated must be true, false or empty" in bad.text
    cursor = await client.get("/?cursor=not-a-cursor")
    assert cursor.status_code == 400


async def test_with_auth_pages_are_shells_until_a_valid_bearer(
    tmp_path: Path, app_client: Callable[[Settings], Client]
) -> None:
    settings = make_settings(tmp_path, auth={"enabled": True, "algorithms": ["HS256"], "hs256_secret": HS_SECRET})
    async with app_client(settings) as client:
        for path in PAGES:
            shell = await client.get(path)
            assert shell.status_code == 200, path
            assert "data-shell" in shell.text
            assert "MySQL" not in shell.text, f"{path}: no catalog data in a shell"
            assert "kubernetes-redis" not in shell.text, path
        partial = await client.get("/", headers={"X-Nestor-Partial": "1"})
        assert "data-shell" in partial.text
        assert "aws-rds-mysql" not in partial.text
        signed = await client.get("/", headers={"X-Nestor-Partial": "1", **bearer(token())})
        assert "aws-rds-mysql" in signed.text
        refused = await client.get("/", headers=bearer("garbage"))
        assert refused.status_code == 401
        assert "aws-rds-mysql" not in refused.text
        assert (await client.get(ui.asset_url("ui.js"))).status_code == 200, "assets are public"
        assert (await client.get("/api/v1/resources")).status_code == 401, "the API is not"


async def test_assets_are_cached_for_good_and_addressed_by_content(client: Client) -> None:
    url = ui.asset_url("ui.css")
    digest = hashlib.sha256((STATIC_DIR / "ui.css").read_bytes()).hexdigest()[:12]
    assert url == f"/ui/static/ui.css?v={digest}"
    response = await client.get(url)
    assert response.status_code == 200
    assert "immutable" in response.headers["cache-control"]
    assert response.headers["content-type"].startswith("text/css")
    assert (await client.get("/ui/static/../templates/_layout.html")).status_code == 404


async def test_docs_load_swagger_ui_from_the_package(client: Client) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    urls = _URLS.findall(page.text)
    assert urls
    assert all(url.startswith("/ui/static/swagger-ui/") for url in urls), urls
    assert "https://" not in page.text.split("<body", 1)[0]
    for url in urls:
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 500


def test_vendored_swagger_ui_matches_its_record() -> None:
    record = (SWAGGER_DIR / "VERSION.txt").read_text()
    assert f"version: {ui.swagger_version()}" in record
    checksums = re.findall(r"^  ([0-9a-f]{64})  (\S+)$", record, re.MULTILINE)
    assert {name for _, name in checksums} >= {"swagger-ui-bundle.js", "swagger-ui.css", "LICENSE", "NOTICE"}
    for expected, name in checksums:
        assert hashlib.sha256((SWAGGER_DIR / name).read_bytes()).hexdigest() == expected, name


async def test_a_name_with_every_version_withdrawn_still_has_its_page(client: Client, catalog: Catalog) -> None:
    source = Source(kind=SourceKind.GIT, repository="examples")
    for version in ("1.0.0", "2.0.0"):
        await catalog.withdraw("kubernetes-redis", version, source=source)
    page = await client.get("/ui/resources/kubernetes-redis")
    assert page.status_code == 200
    assert "Withdrawn:" in page.text
    assert "kubernetes-redis" not in (await client.get("/?q=redis")).text.split('id="results"', 1)[1]
