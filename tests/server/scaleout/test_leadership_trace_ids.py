"""The lease's background log lines carry a trace id, one per lease step (acquire, renew,
step down), so an operator can follow one attempt across its lines."""

from __future__ import annotations

import io
import json
import logging
from datetime import timedelta

from nestor_catalog_core import MemoryStore
from nestor_catalog_server.observability.logging import JsonFormatter
from nestor_catalog_server.scaleout import LeaderElector


async def test_each_lease_step_logs_under_its_own_trace_id() -> None:
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter("catalog"))
    logger = logging.getLogger("nestor_catalog_server.scaleout")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)

    async def nothing() -> None:
        return None

    store = MemoryStore()
    await store.open()
    try:
        elector = LeaderElector(
            store,
            name="git-sync",
            replica_id="replica-a",
            url="http://replica-a:8080",
            ttl=timedelta(seconds=15),
            on_elected=nothing,
            on_deposed=nothing,
        )
        await elector.start()
        await elector.stop()
    finally:
        await store.close()
        logger.removeHandler(handler)
        logger.setLevel(previous)
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    messages = {line["message"]: line for line in lines}
    leading = messages["leading: holding the git-sync lease"]
    released = messages["released the git-sync lease"]
    stopping = next(line for line in lines if line["message"].startswith("no longer leading"))
    assert len(leading["trace_id"]) == 32
    assert released["trace_id"] == stopping["trace_id"], "one step, one trace id"
    assert released["trace_id"] != leading["trace_id"], "another step, another trace id"
