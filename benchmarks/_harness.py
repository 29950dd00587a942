"""Shared plumbing for the benchmarks: rows, timing helpers, the table and the JSON file.

A benchmark module ``bench_<name>.py`` defines ``run(ctx: Context) -> list[Row]``. Each row
puts the figure for our code beside a ceiling measured in the same run (for example bare
``yaml.CSafeLoader`` parsing of the same files, or a bare Litestar endpoint returning the
same bytes), as a ratio, with the goal the issue sets.
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Context", "Row", "median_us", "print_table", "rss_mb", "timed", "write_json"]


@dataclass
class Context:
    """Options shared by all benchmarks."""

    quick: bool = False  # smaller sizes, for a smoke run
    workdir: Path = field(default_factory=lambda: Path(os.environ.get("BENCH_WORKDIR", "/tmp/nestor-bench")))
    only: list[str] = field(default_factory=list)

    def scale(self, full: int, quick: int) -> int:
        return quick if self.quick else full


@dataclass
class Row:
    benchmark: str  # e.g. "validate 10k definitions (CLI)"
    figure: float  # our measurement
    unit: str  # e.g. "defs/s", "us", "ms"
    ceiling: float | None = None  # the same work done by the bare baseline, same run
    ceiling_label: str = ""  # what the ceiling is
    goal: str = ""  # the goal, human readable
    met: bool | None = None  # whether the goal is met (None if no goal)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        """ours / ceiling (for rates) or ceiling-relative cost (for times): see ``extra``."""
        if self.ceiling in (None, 0):
            return None
        return self.figure / self.ceiling


def timed(fn: Callable[[], Any], *, repeat: int = 1) -> float:
    """Best wall time of ``repeat`` runs, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def median_us(fn: Callable[[], Any], *, number: int = 1000, rounds: int = 7) -> float:
    """Median per-call time in microseconds over ``rounds`` batches of ``number`` calls."""
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - start) / number * 1e6)
    return statistics.median(samples)


def rss_mb() -> float:
    """Resident set size of this process in MiB (Linux)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def print_table(rows: list[Row]) -> str:
    header = ("benchmark", "ours", "unit", "ceiling (same run)", "ratio", "goal", "met")
    lines = [header]
    for row in rows:
        ceiling = f"{_fmt(row.ceiling)} ({row.ceiling_label})" if row.ceiling is not None else "-"
        ratio = f"{row.ratio:.2f}" if row.ratio is not None else "-"
        met = {True: "yes", False: "NO", None: ""}[row.met]
        lines.append((row.benchmark, _fmt(row.figure), row.unit, ceiling, ratio, row.goal, met))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    out = []
    for i, line in enumerate(lines):
        out.append("| " + " | ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)) + " |")
        if i == 0:
            out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    text = "\n".join(out)
    print(text, flush=True)
    return text


def write_json(rows: list[Row], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = [{**asdict(row), "ratio": row.ratio} for row in rows]
    path.write_text(json.dumps(payload, indent=2) + "\n")
