"""A real Chromium for UI tests: Debian's ``/usr/bin/chromium`` launched by Python Playwright
(never ``playwright install``, which downloads a browser), and axe-core run inside the page.

``chromium()`` yields a Playwright ``Browser``; ``OriginGuard`` records every request a page
makes and aborts any that would leave the server under test (so a page that needs a CDN fails
visibly); ``axe_violations(page)`` injects ``tools/node/node_modules/axe-core/axe.min.js`` and
returns the violations of impact ``serious`` or ``critical``.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from playwright.sync_api import Browser, Page, Request, Response, Route, sync_playwright

__all__ = ["AXE_SCRIPT", "CHROMIUM", "OriginGuard", "axe_violations", "chromium"]

ROOT: Final = Path(__file__).resolve().parents[2]
CHROMIUM: Final = shutil.which("chromium") or "/usr/bin/chromium"
AXE_SCRIPT: Final = ROOT / "tools" / "node" / "node_modules" / "axe-core" / "axe.min.js"
_ARGS: Final = ["--headless", "--no-sandbox", "--disable-gpu"]


@contextlib.contextmanager
def chromium() -> Iterator[Browser]:
    """Headless Chromium from the system, closed on exit."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class OriginGuard:
    """Route handler for ``page.route("**/*", guard)``: requests to ``origin`` go through, any
    other is aborted and remembered in ``foreign``; ``failed`` collects requests that failed."""

    origin: str
    requests: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        page.route("**/*", self._route)
        page.on("requestfailed", self._failed)

    def _route(self, route: Route) -> None:
        url = route.request.url
        self.requests.append(url)
        if url.startswith((self.origin + "/", "data:")):
            route.continue_()
        else:
            self.foreign.append(url)
            route.abort()

    def _failed(self, request: Request) -> None:
        # Requests the browser drops itself (the page navigated away, a live stream cut) are
        # not failures of the page; those this guard aborted are in ``foreign``.
        if request.failure != "net::ERR_ABORTED":
            self.failed.append(f"{request.url}: {request.failure}")

    def check(self, response: Response) -> None:
        """For ``page.on("response", guard.check)``: an asset or API call answering an error is a
        failure (a page itself may be an error page: that is for the test to judge)."""
        if response.status >= 400 and response.request.resource_type != "document":
            self.failed.append(f"{response.url}: HTTP {response.status}")


def axe_violations(page: Page, *, impacts: tuple[str, ...] = ("serious", "critical")) -> list[dict[str, Any]]:
    """axe-core's violations of the given impacts on the page as it is now."""
    # Evaluated through the DevTools protocol, which the pages' Content-Security-Policy (scripts
    # from the server only) does not apply to, unlike an injected <script> element.
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE_SCRIPT.read_text())
    result: dict[str, Any] = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        {
            "id": violation["id"],
            "impact": violation["impact"],
            "help": violation["help"],
            "nodes": [node["target"] for node in violation["nodes"]][:5],
        }
        for violation in result["violations"]
        if violation["impact"] in impacts
    ]
