from __future__ import annotations

import asyncio
import os
import re

import pytest

from nestor_catalog_server.observability import (
    current_trace_id,
    new_trace_id,
    reset_trace_id,
    set_trace_id,
    trace_context,
    trace_id_from_headers,
)

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
HEX32 = re.compile(r"[0-9a-f]{32}")


def test_w3c_traceparent_gives_its_trace_id() -> None:
    assert trace_id_from_headers({"traceparent": TRACEPARENT}) == TRACE_ID
    assert trace_id_from_headers({"Traceparent": f" {TRACEPARENT} ", "X-Request-ID": "req-1"}) == TRACE_ID


def test_a_future_traceparent_version_may_carry_more_fields() -> None:
    assert (
        trace_id_from_headers({"traceparent": f"cc-{TRACE_ID}-00f067aa0ba902b7-01-what-the-future-holds"}) == TRACE_ID
    )


@pytest.mark.parametrize(
    "value",
    [
        f"00-{'0' * 32}-00f067aa0ba902b7-01",
        f"00-{TRACE_ID}-{'0' * 16}-01",
        f"ff-{TRACE_ID}-00f067aa0ba902b7-01",
        f"00-{TRACE_ID.upper()}-00f067aa0ba902b7-01",
        f"00-{TRACE_ID}-00f067aa0ba902b7-01-extra",
        f"00-{TRACE_ID[:-1]}-00f067aa0ba902b7-01",
        "garbage",
        "",
    ],
)
def test_invalid_traceparent_falls_back_to_the_request_id(value: str) -> None:
    assert trace_id_from_headers({"traceparent": value, "x-request-id": "req-42"}) == "req-42"


def test_request_id_is_sanitized_and_bounded() -> None:
    assert trace_id_from_headers({"X-Request-ID": "abc\r\ndef\x00\u00e9"}) == "abcdef"
    assert trace_id_from_headers({"x-request-id": "r" * 500}) == "r" * 128


def test_without_headers_a_new_id_is_made() -> None:
    first = trace_id_from_headers({})
    second = trace_id_from_headers({"x-request-id": "\n\t"})
    assert HEX32.fullmatch(first)
    assert HEX32.fullmatch(second)
    assert first != second
    assert HEX32.fullmatch(new_trace_id())


def test_trace_context_sets_and_restores() -> None:
    assert current_trace_id() is None
    with trace_context("outer") as outer:
        assert outer == "outer"
        with trace_context() as inner:
            assert HEX32.fullmatch(inner)
            assert current_trace_id() == inner
        assert current_trace_id() == "outer"
    assert current_trace_id() is None


def test_setter_and_reset() -> None:
    token = set_trace_id("abc")
    assert current_trace_id() == "abc"
    reset_trace_id(token)
    assert current_trace_id() is None


async def test_concurrent_tasks_keep_their_own_trace_id() -> None:
    seen: dict[str, str | None] = {}
    both_inside = asyncio.Barrier(2)

    async def handle(trace_id: str) -> None:
        with trace_context(trace_id):
            await both_inside.wait()
            await asyncio.sleep(0)
            seen[trace_id] = current_trace_id()

    await asyncio.gather(handle("first"), handle("second"))
    assert seen == {"first": "first", "second": "second"}
    assert current_trace_id() is None


def test_new_trace_ids_are_unique_and_differ_in_forked_workers() -> None:
    """Ids come from ``random`` (not ``secrets``): distinct, and distinct across granian's
    forked workers because ``random`` reseeds in a forked child."""
    ids = {new_trace_id() for _ in range(10_000)}
    assert len(ids) == 10_000
    assert all(HEX32.fullmatch(i) and i != "0" * 32 for i in ids)
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe and exits
        os.write(write, new_trace_id().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    with os.fdopen(read, "rb") as pipe:
        from_child = pipe.read().decode()
    assert HEX32.fullmatch(from_child)
    assert from_child != new_trace_id()
    assert from_child not in ids
