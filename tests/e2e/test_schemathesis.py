"""Property-based API testing with schemathesis against the real server process.

Every operation of the OpenAPI document but the event stream gets generated requests
(valid and invalid: schemathesis' positive and negative modes) and each response is
checked: no 5xx, a status code the document declares, a body matching the declared
schema, and the declared content type. Bounded in examples per operation so the suite
stays fast; any failure fails the suite.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.conftest import copy_examples, examples_config
from tests.support.server import ServerHandle, run_server

pytestmark = pytest.mark.e2e

#: Generated requests per operation and mode (positive: valid by the document; negative: not).
EXAMPLES = 20
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance, content_type_conformance]


@pytest.fixture(scope="module")
def fuzz_server(examples_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    workdir = tmp_path_factory.mktemp("schemathesis-server")
    folder = copy_examples(examples_dir, workdir / "examples")
    with run_server(examples_config(folder, workdir), workdir=workdir) as server:
        server.wait_ready()
        yield server


def _operations(server: ServerHandle) -> list[schemathesis.APIOperation]:
    schema = schemathesis.openapi.from_url(f"{server.url}/api/v1/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    return [op for op in operations if op.path != "/api/v1/events"]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["positive", "negative"])
def test_every_operation_keeps_its_contract(fuzz_server: ServerHandle, mode: GenerationMode) -> None:
    """Each operation, ``EXAMPLES`` generated requests: every failure is collected, then reported."""
    failures: list[str] = []
    operations = _operations(fuzz_server)
    assert len(operations) >= 20

    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(checks=CHECKS, timeout=10)

        try:
            check()
        except Unsatisfiable:
            # Negative mode only: nothing about this operation can be made invalid (a free-form
            # string path parameter, no query, no body).
            assert mode is GenerationMode.NEGATIVE, operation.label
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis raises a FailureGroup; all reported below
            failures.append(f"{operation.label}: {exc}"[:2000])
    assert not failures, "\n\n".join(failures)
