"""The web UI with 10,000 definitions (1,000 with ``--quick``): first contentful paint of the home
page and of a resource page in headless Chromium on loopback, and each page's weight.

Each FCP is the median over fresh browser contexts (cold cache: every load fetches the HTML, the
stylesheet and the script), read from the page's ``first-contentful-paint`` paint timing. It is
printed beside a ceiling measured in the same run: the median time to fetch the same page's
HTML alone with httpx on a kept-alive connection (what the server costs, without any browser
work); the FCP of a blank ``data:`` page in the same browser (its floor on this machine) is
recorded beside it. Page weight is every byte the page loaded (navigation and resources, from Resource
Timing; the long-lived event stream is not a load). Goals from the issue: FCP within 300 ms,
under 150 KB per page.

The definitions and the SQLite catalog are ``bench_http``'s (built once, then reused); the server
runs with production logging. Needs Debian's ``/usr/bin/chromium`` (``scripts/ensure-tools``).
"""

from __future__ import annotations

import statistics
import time
from typing import Any, Final

import httpx

from benchmarks._harness import Context, Row
from benchmarks.bench_http import _prepare_database, _server_config

FCP_GOAL_MS: Final = 300.0
WEIGHT_GOAL_KB: Final = 150.0

_FCP_SCRIPT: Final = """() => new Promise((resolve) => {
  const seen = performance.getEntriesByName('first-contentful-paint');
  if (seen.length) return resolve(seen[0].startTime);
  new PerformanceObserver((list) => {
    const entry = list.getEntriesByName('first-contentful-paint')[0];
    if (entry) resolve(entry.startTime);
  }).observe({type: 'paint', buffered: true});
})"""
_WEIGHT_SCRIPT: Final = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const resources = performance.getEntriesByType('resource');
  const size = (e) => e.transferSize || e.encodedBodySize || 0;
  return {bytes: size(nav) + resources.reduce((sum, e) => sum + size(e), 0), requests: 1 + resources.length};
}"""


def _html_ms(client: httpx.Client, path: str, runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        response = client.get(path)
        response.raise_for_status()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def _browser_figures(browser: Any, url: str, runs: int) -> tuple[float, dict[str, int]]:
    paints = []
    weight: dict[str, int] = {}
    for _ in range(runs):
        context = browser.new_context()
        page = context.new_page()
        page.goto(url, wait_until="load")
        paints.append(float(page.evaluate(_FCP_SCRIPT)))
        weight = page.evaluate(_WEIGHT_SCRIPT)
        context.close()
    return statistics.median(paints), weight


def run(ctx: Context) -> list[Row]:
    from tests.support.browser import chromium
    from tests.support.server import run_server

    count = ctx.scale(10_000, 1_000)
    runs = 5 if ctx.quick else 15
    database = _prepare_database(ctx, count)
    rows: list[Row] = []
    with run_server(_server_config(database), startup_timeout=180) as server, server.client() as client:
        item = client.get("/api/v1/search", params={"q": "mysql", "limit": 1}).json()["items"][0]["metadata"]
        pages = {"home page /": "/", "resource page": f"/ui/resources/{item['name']}"}
        with chromium() as browser:
            _browser_figures(browser, server.url + "/", 2)  # warm-up: the browser's own start-up
            floor_ms, _ = _browser_figures(browser, "data:text/html,<p>blank</p>", runs)
            for label, path in pages.items():
                html_ms = _html_ms(client, path, runs * 4)
                fcp_ms, weight = _browser_figures(browser, server.url + path, runs)
                kilobytes = weight["bytes"] / 1024
                rows.append(
                    Row(
                        benchmark=f"UI {label}: first contentful paint ({count:,} definitions)",
                        figure=round(fcp_ms, 1),
                        unit="ms",
                        ceiling=round(html_ms, 2),
                        ceiling_label="GET of the HTML alone",
                        goal=f"<= {FCP_GOAL_MS:.0f} ms",
                        met=fcp_ms <= FCP_GOAL_MS,
                        extra={"runs": runs, "path": path, "blank_page_fcp_ms": round(floor_ms, 1)},
                    )
                )
                rows.append(
                    Row(
                        benchmark=f"UI {label}: page weight",
                        figure=round(kilobytes, 1),
                        unit="KB",
                        goal=f"< {WEIGHT_GOAL_KB:.0f} KB",
                        met=kilobytes < WEIGHT_GOAL_KB,
                        extra={"requests": weight["requests"]},
                    )
                )
    return rows
