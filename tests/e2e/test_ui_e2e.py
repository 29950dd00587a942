"""The web UI in a real Chromium against a real server process syncing a git repository served
by ``git daemon``: search and filter, a resource page, a diff, the try-inputs form, the sync
dashboard with a refused file, live updates (and their resumption), ``/docs`` offline, and
axe-core on every page. Every page is checked to load nothing from anywhere but the server.

Screenshots of the home, resource, diff and sync pages are taken on every run; with
``UPDATE_SCREENSHOTS=1`` they replace the README's (``docs/screenshots``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.e2e.conftest import copy_examples
from tests.server.api.builders import definition
from tests.support.browser import OriginGuard, axe_violations, chromium
from tests.support.git import ServedRepo, git_daemon
from tests.support.server import ServerHandle, run_server

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
BROKEN = """apiVersion: catalog.nestor.io/v1
kind: ResourceDefinition
metadata:
  name: broken-queue
  version: "1.0.0"
  provider: aws
  category: queue
  resource_type: sqs-queue
  maintainers: [platform-team@company.com]
spec:
  supported_engines: [terraform]
  required_inputs:
    - name: queueName
      type: string
  engine_configs:
    terraform:
      module_source: "terraform-aws-modules/sqs/aws"
"""
LEGACY = {"message": "Replaced by the team queues", "replacement": "team-queue-00@^1", "sunset": "2027-01-31"}
#: Enough extra definitions for a second page of results (25 a page).
EXTRA = 12


def eventually(check: Callable[[], bool], *, deadline: float = 30.0) -> None:
    give_up = time.monotonic() + deadline
    while not check():
        assert time.monotonic() < give_up, "the condition never held"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def repo(examples_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServedRepo, str]]:
    folder = tmp_path_factory.mktemp("ui-git")
    served = ServedRepo.create(folder / "served", folder / "work", "platform.git")
    copy_examples(examples_dir, served.work.path / "catalog")
    for index in range(EXTRA):
        name = f"team-queue-{index:02d}"
        served.work.write(f"catalog/{name}.json", json.dumps(definition(name, "1.0.0"), indent=2))
    served.work.write("catalog/broken-queue.yaml", BROKEN)
    legacy = definition("legacy-queue", "1.0.0", deprecation=LEGACY)
    served.work.write("catalog/legacy-queue.json", json.dumps(legacy, indent=2))
    served.publish("the catalog")
    with git_daemon(folder / "served") as base_url:
        yield served, served.url(base_url)


@pytest.fixture(scope="module")
def server(repo: tuple[ServedRepo, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    _, url = repo
    workdir = tmp_path_factory.mktemp("ui-server")
    config = {
        "storage": {"type": "sqlite"},
        "logging": {"format": "json", "level": "info"},
        "git": {"repositories": [{"name": "platform", "url": url, "path": "catalog", "poll_interval": "300ms"}]},
    }
    with run_server(config, workdir=workdir) as handle:
        handle.wait_ready()
        with handle.client() as client:
            eventually(lambda: client.get("/api/v1/resources/aws-rds-mysql").status_code == 200)
        yield handle


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as instance:
        yield instance


@pytest.fixture
def context(browser: Browser, server: ServerHandle) -> Iterator[BrowserContext]:
    ctx = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext, server: ServerHandle) -> Iterator[Page]:
    """A page that may only talk to the server; a failed request or a page error fails the test."""
    tab = context.new_page()
    guard = OriginGuard(server.url)
    guard.attach(tab)
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    tab.on("response", lambda response: guard.check(response))
    yield tab
    errors = [error for error in errors if not error.startswith("Failed to load resource")]
    assert guard.foreign == [], "the page tried to load from elsewhere"
    assert guard.failed == []
    assert errors == []


def assert_accessible(page: Page) -> None:
    violations = axe_violations(page)
    assert violations == [], json.dumps(violations, indent=2)


def screenshot(page: Page, name: str, tmp_path: Path) -> None:
    target = tmp_path / f"{name}.png"
    page.screenshot(path=str(target))
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(target, SCREENSHOTS / target.name)


def card_names(page: Page) -> list[str]:
    return page.locator(".card h2 a").all_inner_texts()


# ---------------------------------------------------------------------------------------- /docs


def test_docs_render_offline(page: Page, server: ServerHandle) -> None:
    guard = OriginGuard(server.url)
    guard.attach(page)
    page.goto("/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("nestor-catalog")
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    assert any("/ui/static/swagger-ui/swagger-ui-bundle.js" in url for url in guard.requests)
    assert guard.foreign == []


# -------------------------------------------------------------------------------------- browse


def test_search_as_you_type_with_facets_and_shareable_urls(page: Page, tmp_path: Path) -> None:
    page.goto("/")
    expect(page.locator("#result-count")).to_contain_text("resources")
    assert len(card_names(page)) == 25
    screenshot(page, "home", tmp_path)
    assert_accessible(page)

    page.locator("#q").press_sequentially("mysql", delay=30)
    expect(page).to_have_url("/?q=mysql")
    expect(page.locator(".card h2 a").first).to_have_text("aws-rds-mysql")
    assert page.evaluate("document.activeElement.id") == "q", "typing keeps the focus in the box"

    provider = page.locator("#facet-provider ~ ul a", has_text="aws")
    expect(provider.locator(".count")).to_have_text("1")
    provider.click()
    expect(page).to_have_url("/?q=mysql&provider=aws")
    expect(page.locator("#facet-provider ~ ul a.selected")).to_contain_text("aws")
    page.locator("#facet-provider ~ ul a.selected").click()
    expect(page).to_have_url("/?q=mysql")

    page.goto("/?provider=kubernetes&engine=crossplane")
    names = card_names(page)
    assert names
    assert all(name.startswith("kubernetes-") for name in names)
    expect(page.locator("#facet-engine ~ ul a.selected")).to_contain_text("crossplane")

    page.goto("/?q=legacy")
    legacy = page.locator(".card", has_text="legacy-queue")
    expect(legacy.locator(".badge-deprecated")).to_have_text("deprecated")
    expect(legacy.locator(".badge-sunset")).to_have_text("sunset on 2027-01-31")
    page.get_by_label("Status").select_option("false")
    expect(page).to_have_url("/?q=legacy&deprecated=false")
    expect(page.locator(".empty")).to_be_visible()


def test_cursor_pagination(page: Page) -> None:
    page.goto("/")
    first = card_names(page)
    page.get_by_role("link", name="Next page").click()
    expect(page).to_have_url(re.compile(r"[?&]cursor="))
    second = card_names(page)
    assert second
    assert not set(first) & set(second)
    expect(page.locator("#result-count")).to_contain_text(str(len(first) + len(second)))
    page.get_by_role("link", name="First page").click()
    assert card_names(page) == first


def test_everything_works_with_the_keyboard(page: Page) -> None:
    page.goto("/")
    page.keyboard.press("Tab")
    expect(page.locator(".skip")).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(page.locator("#q")).to_be_focused()
    page.keyboard.type("rds mysql")
    page.keyboard.press("Enter")
    expect(page.locator(".card h2 a").first).to_have_text("aws-rds-mysql")
    page.locator(".card h2 a").first.focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url("/ui/resources/aws-rds-mysql")
    page.get_by_role("link", name="Try inputs").focus()
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_contain_text("Try inputs")
    page.locator("#in-instance_class").focus()
    page.keyboard.type("db.m6g.large")
    page.keyboard.press("Tab")
    page.keyboard.type("100")
    page.keyboard.press("Enter")
    expect(page.locator("#try-result h2")).to_have_text("Valid")


# ------------------------------------------------------------------------------------ resource


def test_resource_page(page: Page, tmp_path: Path) -> None:
    page.goto("/ui/resources/aws-rds-mysql")
    expect(page.locator("h1")).to_contain_text("aws-rds-mysql")
    expect(page.locator("h1 .version")).to_have_text("2.0.0")
    expect(page.locator("h1 .badge-latest")).to_be_visible()
    history = page.locator("table.history tbody tr")
    expect(history).to_have_count(4)
    expect(history.first.locator("td").nth(2)).to_contain_text("platform")
    expect(history.first.locator("td").nth(2)).to_contain_text("aws-rds-mysql-2.0.0.yaml")
    expect(history.first.locator("td").nth(4)).to_have_text("platform@example.com")
    inputs = page.locator("section[aria-labelledby=h-inputs] tbody tr")
    expect(inputs.filter(has_text="allocated_storage")).to_contain_text(">= 20; <= 1000")
    expect(inputs.filter(has_text="backup_retention_period")).to_contain_text("optional")
    expect(page.locator("section[aria-labelledby=h-outputs]")).to_contain_text("endpoint")
    expect(page.locator("section[aria-labelledby=h-engines]")).to_contain_text("module_source")
    screenshot(page, "resource", tmp_path)
    assert_accessible(page)

    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    copied = json.loads(page.evaluate("navigator.clipboard.readText()"))
    published = httpx.get(page.url.split("/ui/")[0] + "/api/v1/resources/aws-rds-mysql/2.0.0").json()
    assert copied["metadata"] == published["metadata"]
    assert copied["spec"] == published["spec"]

    page.goto("/ui/resources/kubernetes-redis/1.0.0")
    banner = page.get_by_role("note", name="Deprecation")
    expect(banner).to_contain_text("Standalone Redis has no failover")
    expect(banner).to_contain_text("2027-06-30")
    expect(page.locator(".note")).to_contain_text("The latest version is 2.0.0")
    assert_accessible(page)
    banner.get_by_role("link", name="kubernetes-redis@^2").click()
    expect(page).to_have_url("/ui/resources/kubernetes-redis")
    expect(page.locator("h1 .version")).to_have_text("2.0.0")


def test_unknown_resource_is_an_html_404(page: Page) -> None:
    response = page.goto("/ui/resources/no-such-thing")
    assert response is not None
    assert response.status == 404
    expect(page.locator("h1")).to_contain_text("404")
    assert_accessible(page)


# ---------------------------------------------------------------------------------------- diff


def test_diff_between_two_versions(page: Page, tmp_path: Path) -> None:
    page.goto("/ui/resources/aws-rds-mysql")
    page.get_by_role("link", name="Compare with previous version").click()
    expect(page).to_have_url("/ui/diff/aws-rds-mysql?from=1.2.0&to=2.0.0")
    rows = page.locator("table.changes tbody tr")
    expect(rows.filter(has_text="PATTERN_CHANGED").locator(".badge")).to_have_text("major")
    expect(page.locator("#diff-summary")).to_contain_text("Compatible with semantic versioning")
    screenshot(page, "diff", tmp_path)
    assert_accessible(page)

    page.get_by_label("From").select_option("1.0.0")
    page.get_by_label("To").select_option("1.1.0")
    page.get_by_role("button", name="Compare").click()
    expect(page).to_have_url("/ui/diff/aws-rds-mysql?from=1.0.0&to=1.1.0")
    rules = page.locator("table.changes tbody tr td:first-child").all_inner_texts()
    assert rules, "1.0.0 -> 1.1.0 changes something"
    for row in page.locator("table.changes tbody tr").all():
        assert row.locator(".badge").inner_text() in {"major", "minor", "patch"}


# ---------------------------------------------------------------------------------- try inputs


def test_try_inputs_shows_findings_next_to_the_fields(page: Page) -> None:
    page.goto("/ui/resources/aws-rds-mysql/2.0.0/try")
    page.get_by_label("allocated_storage").fill("5")
    page.get_by_role("button", name="Validate").click()
    expect(page.locator("#err-allocated_storage")).to_contain_text(
        "must be at least 20, got the number 5 (INPUT_RANGE)"
    )
    expect(page.locator("#in-allocated_storage")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#err-instance_class")).to_contain_text("INPUT_REQUIRED")
    expect(page.locator("#try-result h2")).to_contain_text("2 problems")
    assert_accessible(page)

    page.get_by_label("instance_class").fill("db.m6g.large")
    page.get_by_label("allocated_storage").fill("100")
    page.get_by_role("button", name="Validate").click()
    expect(page.locator("#try-result h2")).to_have_text("Valid")
    expect(page.locator("#err-allocated_storage")).to_have_text("")
    values = json.loads(page.locator("#try-result pre").inner_text())
    assert values == {
        "instance_class": "db.m6g.large",
        "allocated_storage": 100,
        "backup_retention_period": 7,
        "multi_az": False,
    }


# ---------------------------------------------------------------------------------------- sync


def test_sync_dashboard_shows_refused_files_at_their_position(page: Page, tmp_path: Path) -> None:
    page.goto("/ui/sync")
    source = page.locator("section.source", has_text="platform")
    # It polls every 300 ms: the snapshot may catch a poll in flight.
    expect(source.locator("h2 .badge")).to_have_text(re.compile("^(idle|syncing)$"))
    expect(source).to_contain_text("git://")
    refused = source.locator(".findings li", has_text="INPUT_NAME_SNAKE_CASE")
    expect(refused.locator(".loc")).to_have_text("catalog/broken-queue.yaml:13:13")
    expect(refused).to_contain_text("must be snake_case")
    screenshot(page, "sync", tmp_path)
    assert_accessible(page)


# ---------------------------------------------------------------------------------------- live


def test_a_version_pushed_during_the_test_appears_without_a_reload(page: Page, repo: tuple[ServedRepo, str]) -> None:
    served, _ = repo
    page.goto("/?q=live-queue")
    expect(page.locator(".empty")).to_be_visible()
    expect(page.locator("#live-status")).to_have_text("Live")
    page.evaluate("window.__marker = 'same page'")

    served.work.write("catalog/live-queue.json", json.dumps(definition("live-queue", "1.0.0"), indent=2))
    served.publish("a new queue")
    expect(page.locator(".card h2 a")).to_have_text(["live-queue"], timeout=20_000)
    expect(page.locator("#toast")).to_contain_text("live-queue")
    assert page.evaluate("window.__marker") == "same page"


def test_a_resumed_stream_misses_nothing(page: Page, server: ServerHandle) -> None:
    streams: list[dict[str, str]] = []
    page.on(
        "request", lambda request: streams.append(request.all_headers()) if "/api/v1/events" in request.url else None
    )
    with server.client() as client:
        assert client.post("/api/v1/resources", json=definition("api-queue", "1.0.0")).status_code == 201
        page.goto("/ui/resources/api-queue")
        expect(page.locator("#live-status")).to_have_text("Live")
        assert client.post("/api/v1/resources", json=definition("api-queue", "1.1.0")).status_code == 201
        expect(page.locator("h1 .version")).to_have_text("1.1.0")
        page.evaluate("window.nestorLive.disconnect()")
        expect(page.locator("#live-status")).to_have_text("Reconnecting…")
        last = page.evaluate("window.nestorLive.lastId")
        assert client.post("/api/v1/resources", json=definition("api-queue", "1.2.0")).status_code == 201
    expect(page.locator("h1 .version")).to_have_text("1.2.0", timeout=20_000)
    expect(page.locator("table.history tbody tr")).to_have_count(3)
    assert len(streams) == 2
    assert "last-event-id" not in streams[0], "the first connection starts at the page's revision"
    assert streams[1]["last-event-id"] == last, "the reconnection resumes after the last event seen"
    assert any(seen.endswith("resource.updated api-queue 1.2.0") for seen in page.evaluate("window.nestorLive.seen"))


def test_a_refused_file_pushed_during_the_test_appears_on_the_dashboard(
    page: Page, repo: tuple[ServedRepo, str]
) -> None:
    served, _ = repo
    page.goto("/ui/sync")
    expect(page.locator("#live-status")).to_have_text("Live")
    expect(page.locator(".refused code", has_text="catalog/late-broken.yaml")).to_have_count(0)
    served.work.write("catalog/late-broken.yaml", BROKEN.replace("broken-queue", "late-broken"))
    served.publish("another broken file")
    finding = page.locator(".findings li", has_text="catalog/late-broken.yaml:13:13")
    expect(finding).to_contain_text("INPUT_NAME_SNAKE_CASE", timeout=20_000)


def test_a_sidecar_serves_the_ui_from_its_mirror(browser: Browser, server: ServerHandle, tmp_path: Path) -> None:
    config = {"storage": {"type": "memory"}, "service": {"upstream": server.url}}
    with run_server(config, workdir=tmp_path) as sidecar:
        sidecar.wait_ready()
        context = browser.new_context(base_url=sidecar.url)
        page = context.new_page()
        guard = OriginGuard(sidecar.url)
        guard.attach(page)
        page.goto("/?q=mysql")
        expect(page.locator(".card h2 a").first).to_have_text("aws-rds-mysql")
        expect(page.locator("#live-status")).to_have_text("Live")
        page.goto("/ui/resources/aws-rds-mysql")
        expect(page.locator("table.history tbody tr")).to_have_count(4)
        page.goto("/ui/sync")
        expect(page.locator("#h-upstream")).to_contain_text("connected")
        expect(page.locator("section.source")).to_contain_text(server.url)
        page.goto("/docs")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("nestor-catalog")
        context.close()
        assert guard.foreign == [], "everything came from the sidecar itself"
        assert guard.failed == []


def test_a_deprecation_appears_without_a_reload(page: Page, server: ServerHandle) -> None:
    with server.client() as client:
        assert client.post("/api/v1/resources", json=definition("old-topic", "1.0.0")).status_code == 201
        page.goto("/ui/resources/old-topic")
        expect(page.locator("#live-status")).to_have_text("Live")
        expect(page.get_by_role("note", name="Deprecation")).to_have_count(0)
        deprecation = {"message": "Use the new topics", "replacement": "team-queue-01", "sunset": "2027-03-01"}
        answer = client.put("/api/v1/resources/old-topic/1.0.0/deprecation", json=deprecation)
        assert answer.status_code == 200
    banner = page.get_by_role("note", name="Deprecation")
    expect(banner).to_contain_text("Use the new topics", timeout=20_000)
    expect(banner.get_by_role("link", name="team-queue-01")).to_have_attribute("href", "/ui/resources/team-queue-01")
    expect(page.locator("h1 .badge-sunset")).to_have_text("sunset on 2027-03-01")
    expect(page.locator("#toast")).to_contain_text("Lifecycle changed: old-topic")
