"""The retry policy: which failures are retried, how long to wait, ``Retry-After``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from nestor_catalog_client import ReconnectPolicy, RetryPolicy
from nestor_catalog_client._retry import parse_retry_after

REQUEST = httpx.Request("GET", "http://catalog.test/api/v1/resources")


def response(status: int, **headers: str) -> httpx.Response:
    return httpx.Response(status, headers=headers, request=REQUEST)


def test_backoff_doubles_from_the_initial_delay_up_to_the_cap() -> None:
    low = RetryPolicy(initial_delay=0.5, max_delay=3.0, jitter=lambda: 0.0)
    high = RetryPolicy(initial_delay=0.5, max_delay=3.0, jitter=lambda: 1.0)
    assert [high.backoff(n) for n in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert [low.backoff(n) for n in range(5)] == [0.25, 0.5, 1.0, 1.5, 1.5]
    assert high.backoff(10_000) == 3.0


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_transient_statuses_are_retried_for_idempotent_calls(status: int) -> None:
    policy = RetryPolicy(retries=2, jitter=lambda: 1.0)
    assert policy.delay_after_response(0, response(status), idempotent=True) == pytest.approx(0.2)
    assert policy.delay_after_response(1, response(status), idempotent=True) == pytest.approx(0.4)
    assert policy.delay_after_response(2, response(status), idempotent=True) is None


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 413, 422, 500])
def test_other_statuses_are_never_retried(status: int) -> None:
    assert RetryPolicy().delay_after_response(0, response(status), idempotent=True) is None


def test_writes_are_never_retried() -> None:
    policy = RetryPolicy()
    assert policy.delay_after_response(0, response(503), idempotent=False) is None
    assert policy.delay_after_error(0, httpx.ConnectError("refused"), idempotent=False) is None


def test_retry_after_is_honoured_when_longer_than_the_backoff() -> None:
    policy = RetryPolicy(jitter=lambda: 0.0)
    assert policy.delay_after_response(0, response(429, **{"Retry-After": "7"}), idempotent=True) == 7.0


def test_retry_after_beyond_the_limit_is_not_waited_for() -> None:
    policy = RetryPolicy(max_retry_after=30.0)
    assert policy.delay_after_response(0, response(503, **{"Retry-After": "120"}), idempotent=True) is None


def test_transport_errors_are_retried_except_permanent_ones() -> None:
    policy = RetryPolicy(retries=1, jitter=lambda: 1.0)
    for exc in (httpx.ConnectError("x"), httpx.ReadTimeout("x"), httpx.RemoteProtocolError("x")):
        assert policy.delay_after_error(0, exc, idempotent=True) == pytest.approx(0.2)
        assert policy.delay_after_error(1, exc, idempotent=True) is None
    assert policy.delay_after_error(0, httpx.UnsupportedProtocol("ftp"), idempotent=True) is None


def test_zero_retries_turns_retrying_off() -> None:
    assert RetryPolicy(retries=0).delay_after_response(0, response(503), idempotent=True) is None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"retries": -1}, "retries must be >= 0"), ({"initial_delay": 2.0, "max_delay": 1.0}, "initial_delay")],
)
def test_invalid_policies_are_refused(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_parse_retry_after_forms() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=90), usegmt=True)
    earlier = format_datetime(now - timedelta(seconds=90), usegmt=True)
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after(" 12 ") == 12.0
    assert parse_retry_after(later, now=now) == 90.0
    assert parse_retry_after(earlier, now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_reconnect_policy_respects_the_server_hint_and_the_cap() -> None:
    policy = ReconnectPolicy(initial_delay=0.5, max_delay=10.0)
    assert policy.delay(0, None, 1.0) == 0.5
    assert policy.delay(0, 3.0, 1.0) == 3.0
    assert policy.delay(3, None, 1.0) == 4.0
    assert policy.delay(30, None, 1.0) == 10.0
    assert policy.delay(0, None, 0.0) == 0.25
