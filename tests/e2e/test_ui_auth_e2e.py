"""The web UI with ``auth.enabled``, in a real Chromium against a real server process: pages come
back as sign-in shells without catalog data, a token entered once (kept in the tab's session
storage) is sent as a bearer on every request including the event stream (a streaming fetch),
a refused token says so, and live updates work signed in."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from playwright.sync_api import Browser, Page, Request, expect

from tests.server.api.builders import definition
from tests.support.browser import OriginGuard, axe_violations, chromium
from tests.support.server import ServerHandle, run_server

pytestmark = pytest.mark.e2e

SECRET = "e2e-ui-hs256-secret-long-enough-0123456789"


def token(**extra: Any) -> str:
    now = int(time.time())
    claims = {"sub": "ui-user", "aud": "nestor-catalog", "iat": now, "exp": now + 600, **extra}
    return jwt.encode(claims, SECRET, algorithm="HS256")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    folder: Path = tmp_path_factory.mktemp("ui-auth")
    config = {
        "storage": {"type": "memory"},
        "auth": {"enabled": True, "algorithms": ["HS256"], "hs256_secret": SECRET, "audience": "nestor-catalog"},
    }
    with run_server(config, workdir=folder) as handle:
        writer = {"Authorization": f"Bearer {token(groups=['platform-team'])}"}
        with handle.client(headers=writer) as client:
            assert client.post("/api/v1/resources", json=definition("secret-queue", "1.0.0")).status_code == 201
        yield handle


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as instance:
        yield instance


@pytest.fixture
def page(browser: Browser, server: ServerHandle) -> Iterator[Page]:
    context = browser.new_context(base_url=server.url)
    tab = context.new_page()
    guard = OriginGuard(server.url)
    guard.attach(tab)
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    assert guard.foreign == []
    assert errors == []


def test_the_shell_holds_no_data_and_a_refused_token_says_so(page: Page, server: ServerHandle) -> None:
    response = page.goto("/")
    assert response is not None
    assert response.status == 200
    assert "secret-queue" not in response.text()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_label("API token")).to_be_focused()
    violations = axe_violations(page)
    assert violations == [], violations

    page.get_by_label("API token").fill("not-a-token")
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("Not signed in")
    assert page.evaluate("sessionStorage.getItem('nestor-catalog.token')") is None

    assert httpx.get(server.url + "/ui/resources/secret-queue", headers={"X-Nestor-Partial": "1"}).status_code == 200
    refused = httpx.get(server.url + "/ui/resources/secret-queue", headers={"Authorization": "Bearer nope"})
    assert refused.status_code == 401
    assert "secret-queue" not in refused.text
    assert refused.headers["www-authenticate"].startswith("Bearer")


def test_signed_in_every_request_carries_the_bearer_and_updates_are_live(page: Page, server: ServerHandle) -> None:
    credential = token()
    sent: list[tuple[str, str | None]] = []

    def record(request: Request) -> None:
        if request.url.startswith(server.url + "/api/") or request.headers.get("x-nestor-partial"):
            sent.append((request.url, request.all_headers().get("authorization")))

    page.on("request", record)
    page.goto("/")
    page.get_by_label("API token").fill(credential)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".card h2 a")).to_have_text(["secret-queue"])
    expect(page.locator("#live-status")).to_have_text("Live")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()

    writer = {"Authorization": f"Bearer {token(groups=['platform-team'])}"}
    with server.client(headers=writer) as client:
        assert client.post("/api/v1/resources", json=definition("secret-topic", "1.0.0")).status_code == 201
    expect(page.locator(".card h2 a")).to_have_text(["secret-queue", "secret-topic"], timeout=20_000)

    assert any("/api/v1/events" in url for url, _ in sent), "the event stream was opened"
    assert sent
    assert all(authorization == f"Bearer {credential}" for _, authorization in sent), sent

    page.goto("/ui/resources/secret-queue/1.0.0/try")
    expect(page.locator("h1")).to_contain_text("Try inputs")
    page.get_by_label("queue_name").fill("orders")
    page.get_by_role("button", name="Validate").click()
    expect(page.locator("#try-result h2")).to_have_text("Valid")
    assert all(authorization == f"Bearer {credential}" for _, authorization in sent), sent

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('nestor-catalog.token')") is None
