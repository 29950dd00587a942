"""User patterns on RE2: what the linear-time engine costs, and that the worst case stays linear.

1. Validating a definition whose inputs carry 20 patterns (``validate_data``: structure, bounds,
   policies; every pattern compiled by RE2 and each string default matched) beside the same
   definition validated with Python's ``re`` doing the pattern work on benign input (the
   ceiling: what the catalog cost before RE2).
2. ``validate_inputs`` of a 10 KB input against those 20 patterns (RE2 through jsonschema's
   ``pattern`` keyword) beside jsonschema's own ``re``-based validator on the same benign values.
3. The ReDoS pattern of the hardening issue, ``^(a+)+$`` against ``"a" * n + "!"``, at
   n = 10, 100, 1,000, 10,000: the time per match must grow linearly (``re`` at n = 25 already
   takes seconds, so it is printed only up to n = 20 for scale).
"""

from __future__ import annotations

import re
import time
from typing import Any

from benchmarks._harness import Context, Row, median_us
from nestor_catalog_core import validate_inputs
from nestor_catalog_core.models import ResourceDefinition
from nestor_catalog_core.validation import validate_data
from nestor_catalog_core.validation._patterns import compiled_pattern

PATTERNS = [
    r"^[a-z][a-z0-9-]{2,62}$",
    r"^db\.[a-z0-9]+\.[a-z]+$",
    r"^(?:[0-9]{1,3}\.){3}[0-9]{1,3}/[0-9]{1,2}$",
    r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$",
    r"^arn:aws:[a-z0-9-]+:[a-z0-9-]*:[0-9]{12}:.+$",
    r"^v?[0-9]+\.[0-9]+\.[0-9]+$",
    r"^[a-z]{2}-[a-z]+-[0-9]$",
    r"^(?:standard|gp2|gp3|io1|io2)$",
    r"^[0-9]+(?:Mi|Gi|Ti)$",
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
    r"^https://[a-z0-9.-]+(?:/[A-Za-z0-9._~-]*)*$",
    r"^(?:mon|tue|wed|thu|fri|sat|sun):[0-2][0-9]:[0-5][0-9]$",
    r"^[A-Z][A-Za-z ]{0,40}$",
    r"^[0-9a-f]{40}$",
    r"^sg-[0-9a-f]{8,17}$",
    r"^subnet-[0-9a-f]{8,17}$",
    r"^vpc-[0-9a-f]{8,17}$",
    r"^[a-z]+(?:_[a-z]+)*$",
    r"^\S+$",
    r"^.+$",
]
VALUES = [
    "orders-db",
    "db.t3.micro",
    "10.0.0.0/16",
    "team@company.com",
    "arn:aws:iam::123456789012:role/x",
    "1.2.3",
    "eu-west-1",
    "gp3",
    "512Gi",
    "my-bucket",
    "https://example.com/path/to",
    "mon:03:00",
    "Nightly backups",
    "a" * 40,
    "sg-0123456789abcdef0",
    "subnet-0123456789abcdef0",
    "vpc-0123456789abcdef0",
    "snake_case_name",
    "no-spaces",
]


def _document() -> dict[str, Any]:
    inputs = [
        {
            "name": f"input_{index}",
            "type": "string",
            "description": "A patterned input",
            "default": VALUES[index] if index < len(VALUES) else "x" * 100,
            "validation": {"pattern": pattern},
        }
        for index, pattern in enumerate(PATTERNS)
    ]
    return {
        "apiVersion": "catalog.nestor.io/v1",
        "kind": "ResourceDefinition",
        "metadata": {
            "name": "patterned",
            "version": "1.0.0",
            "provider": "aws",
            "category": "database",
            "resource_type": "mysql",
            "description": "Twenty patterns",
            "maintainers": ["platform-team@company.com"],
        },
        "spec": {
            "supported_engines": ["terraform"],
            "optional_inputs": inputs,
            "engine_configs": {"terraform": {"module_source": "git::https://example.com/m.git"}},
        },
    }


def _values() -> dict[str, Any]:
    """About 10 KB of benign values: the last input takes the padding."""
    values = {f"input_{index}": value for index, value in enumerate(VALUES)}
    values["input_19"] = "x" * (10_240 - sum(len(v) for v in VALUES))
    return values


def _python_re_policy_ceiling(document: dict[str, Any]) -> None:
    """What validating cost with ``re`` doing the pattern work: structure and policies without
    patterns, plus ``re.compile`` and a search of every default."""
    data = _without_patterns(document)
    validate_data(data)
    for item in document["spec"]["optional_inputs"]:
        re.compile(item["validation"]["pattern"]).search(item["default"])


def _without_patterns(document: dict[str, Any]) -> dict[str, Any]:
    import copy

    data = copy.deepcopy(document)
    for item in data["spec"]["optional_inputs"]:
        item.pop("validation")
    return data


def _linear_series(sizes: list[int]) -> dict[str, float]:
    compiled = compiled_pattern("^(a+)+$")
    assert compiled is not None
    series = {}
    for size in sizes:
        subject = "a" * size + "!"
        series[f"n={size}"] = round(median_us(lambda s=subject: compiled.search(s), number=200, rounds=5), 2)
    return series


def _python_re_series(sizes: list[int]) -> dict[str, float]:
    compiled = re.compile("^(a+)+$")
    series = {}
    for size in sizes:
        subject = "a" * size + "!"
        start = time.perf_counter()
        compiled.search(subject)
        series[f"n={size}"] = round((time.perf_counter() - start) * 1e6, 1)
    return series


def run(ctx: Context) -> list[Row]:
    from jsonschema import Draft202012Validator

    from nestor_catalog_core import inputs_json_schema

    number = ctx.scale(200, 20)
    document = _document()
    ours_validate = median_us(lambda: validate_data(document), number=number)
    ceiling_validate = median_us(lambda: _python_re_policy_ceiling(document), number=number)

    definition = ResourceDefinition.model_validate(document)
    values = _values()
    assert validate_inputs(definition, values).ok
    python_validator = Draft202012Validator(inputs_json_schema(definition))
    ours_inputs = median_us(lambda: validate_inputs(definition, values), number=number * 5)
    ceiling_inputs = median_us(lambda: list(python_validator.iter_errors(values)), number=number * 5)

    sizes = [10, 100, 1_000, 10_000]
    linear = _linear_series(sizes)
    per_char = [linear[f"n={size}"] / size for size in sizes]
    return [
        Row(
            benchmark="validate a definition with 20 patterns (RE2)",
            figure=ours_validate,
            unit="us/definition",
            ceiling=ceiling_validate,
            ceiling_label="the same checks with Python re doing the pattern work, benign input",
        ),
        Row(
            benchmark="inputs:validate, 10 KB input, 20 patterns (RE2)",
            figure=ours_inputs,
            unit="us/call",
            ceiling=ceiling_inputs,
            ceiling_label="jsonschema's own re-based validator on the same values",
        ),
        Row(
            benchmark="^(a+)+$ against 'a'*n+'!' on RE2, n=10,000",
            figure=linear["n=10000"],
            unit="us/match",
            ceiling=linear["n=1000"] * 10,
            ceiling_label="10x the n=1,000 time (linear growth)",
            goal="linear in n",
            met=linear["n=10000"] <= linear["n=1000"] * 10 * 1.5,
            extra={
                "re2_us": linear,
                "re2_us_per_char": [round(v, 4) for v in per_char],
                "python_re_us": _python_re_series([10, 14, 18, 20]),
            },
        ),
    ]
