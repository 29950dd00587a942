"""Versions, constraints and the compatibility checker: the read model's hot paths.

- Sorting 100k version strings with ``version_key`` (cold cache, then warm) beside a plain
  ``sorted()`` of the same strings: the floor for any sort of strings.
- ``Constraint.allows`` on a parsed constraint beside the bare inline tuple test of the same
  interval on a precomputed key (what a hand-written check would cost); goal: a few us.
- ``Constraint.select`` over 1,000 versions beside a bare ``max()`` over the keys in range.
- ``Constraint.parse`` uncached beside ``semver.Version.parse`` of one version.
- ``compare()`` of two versions of a realistic definition beside ``compute_digest()`` of the
  new one (which every publish computes anyway).
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import semver
import yaml

from benchmarks._harness import Context, Row, median_us, timed
from nestor_catalog_core.models.definition import ResourceDefinition
from nestor_catalog_core.versions import Constraint, compare, sort_versions, version_key
from nestor_catalog_core.versions.constraint import _parse_intervals

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _versions(count: int, seed: int = 5) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        core = f"{rng.randrange(20)}.{rng.randrange(50)}.{rng.randrange(100)}"
        if rng.random() < 0.1:
            core += f"-{rng.choice(['alpha', 'beta', 'rc'])}.{rng.randrange(10)}"
        out.append(core)
    return out


def _sort_rows(ctx: Context) -> list[Row]:
    count = ctx.scale(100_000, 10_000)
    versions = _versions(count)

    def cold() -> None:
        version_key.cache_clear()
        sort_versions(versions)

    cold_s = timed(cold, repeat=3)
    warm_s = timed(lambda: sort_versions(versions), repeat=3)
    floor_s = timed(lambda: sorted(versions), repeat=3)
    floor_ms, label = floor_s * 1000, "plain sorted() of the strings"
    return [
        Row(
            f"sort {count:,} versions (version_key, cold)", cold_s * 1000, "ms", floor_ms, label, "< 1 s", cold_s < 1.0
        ),
        Row(f"sort {count:,} versions (version_key, cached)", warm_s * 1000, "ms", floor_ms, label),
    ]


def _constraint_rows(ctx: Context) -> list[Row]:
    number = ctx.scale(20_000, 2_000)
    constraint = Constraint.parse("^1.2")
    lo, hi = version_key("1.2.0"), version_key("2.0.0-0")
    key = version_key("1.7.3")
    allows_us = median_us(lambda: constraint.allows("1.7.3"), number=number)
    bare_us = median_us(lambda: lo <= key < hi and key[3] == 1, number=number)
    versions = _versions(1000, seed=9)
    keys = [(version_key(v), v) for v in versions]
    select_us = median_us(lambda: constraint.select(versions), number=max(number // 200, 20))
    bare_select_us = median_us(
        lambda: max((k for k in keys if lo <= k[0] < hi and k[0][3] == 1), default=None),
        number=max(number // 200, 20),
    )
    texts = [f">={i % 7}.{i % 11}.0 <{i % 7 + 1}.0.0 || ~{i % 5}.{i % 3}" for i in range(200)]

    def parse_all() -> None:
        for text in texts:
            _parse_intervals(text)

    parse_us = median_us(parse_all, number=max(number // 400, 5)) / len(texts)
    semver_us = median_us(lambda: semver.Version.parse("1.2.3-rc.1"), number=number)
    return [
        Row(
            "Constraint.allows (^1.2, parsed)",
            allows_us,
            "us",
            bare_us,
            "bare inline tuple test",
            goal="<= 5 us",
            met=allows_us <= 5,
        ),
        Row("Constraint.select over 1,000 versions", select_us, "us", bare_select_us, "bare max() over keys in range"),
        Row(
            "Constraint.parse (uncached, 2 alternatives)",
            parse_us,
            "us",
            semver_us,
            "semver.Version.parse of one version",
        ),
    ]


def _compare_rows(ctx: Context) -> list[Row]:
    number = ctx.scale(2_000, 200)
    old = ResourceDefinition.model_validate(yaml.safe_load((EXAMPLES / "aws-rds-mysql-1.2.0.yaml").read_text()))
    new = ResourceDefinition.model_validate(yaml.safe_load((EXAMPLES / "aws-rds-mysql-2.0.0.yaml").read_text()))
    compare_us = median_us(lambda: compare(old, new), number=number)
    digest_us = median_us(new.compute_digest, number=number)
    return [
        Row(
            "compare() aws-rds-mysql 1.2.0 -> 2.0.0",
            compare_us,
            "us",
            digest_us,
            "compute_digest() of the new version",
            goal="< 1 ms",
            met=compare_us < 1000,
        )
    ]


def run(ctx: Context) -> list[Row]:
    start = time.perf_counter()
    rows = [*_sort_rows(ctx), *_constraint_rows(ctx), *_compare_rows(ctx)]
    for row in rows:
        row.extra["bench_seconds"] = round(time.perf_counter() - start, 2)
    return rows
