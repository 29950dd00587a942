"""A real writer process for the SQLite crash and sharing tests.

``python -m tests.core.storage._crash_writer DB PREFIX COUNT CONCURRENCY [AFTER STATEMENT]``
publishes ``COUNT`` versions named ``PREFIX-00000``... to the SQLite store at ``DB`` (default
options: WAL, ``synchronous=NORMAL``, as shipped), ``CONCURRENCY`` publishes in flight at a
time, and prints ``published <n>`` after each one returns, so the parent knows which
publishes were committed before it kills the process. The records are built before
``ready`` so that, once publishing starts, the process spends its time in transactions.

With ``AFTER`` and ``STATEMENT`` the process SIGKILLs itself once ``AFTER`` publishes have
returned, from inside the next transaction, just as it starts the first SQL statement that
begins with ``STATEMENT`` (for example ``INSERT INTO audit``): a kill at an exact point
between the writes of one publish, which a kill from outside only hits by chance.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from nestor_catalog_core.storage import SQLiteStore
from tests.core.storage.builders import publish_args


async def _arm_self_kill(store: SQLiteStore, statement: str) -> None:
    """Install a trace callback on the store's write connection (from its own thread, as
    ``sqlite3`` requires) that kills this process when ``statement`` starts."""

    def trace(sql: str) -> None:
        if sql.lstrip().upper().startswith(statement.upper()):
            os.kill(os.getpid(), signal.SIGKILL)

    def install() -> None:
        writer = store._writer
        assert writer is not None
        writer.set_trace_callback(trace)

    executors = store._executors
    assert executors is not None
    await asyncio.get_running_loop().run_in_executor(executors.writer, install)


async def publish_batch(
    path: str, prefix: str, count: int, concurrency: int, kill_after: int | None, statement: str | None
) -> None:
    batch = [publish_args(f"{prefix}-{i:05d}", "1.0.0") for i in range(count)]
    async with SQLiteStore(path) as store:
        print("ready", flush=True)
        published = 0
        for start in range(0, count, concurrency):
            if kill_after is not None and statement is not None and published >= kill_after:
                await _arm_self_kill(store, statement)
                kill_after = None
            chunk = batch[start : start + concurrency]
            for write in asyncio.as_completed([store.publish(*args.as_tuple()) for args in chunk]):
                outcome = await write
                assert outcome.created
                published += 1
                print(f"published {published}", flush=True)
    print("done", flush=True)


def main(argv: list[str]) -> None:
    path, prefix, count, concurrency = argv[0], argv[1], int(argv[2]), int(argv[3])
    kill_after = int(argv[4]) if len(argv) > 4 else None
    statement = argv[5] if len(argv) > 5 else None
    asyncio.run(publish_batch(path, prefix, count, concurrency, kill_after, statement))


if __name__ == "__main__":
    main(sys.argv[1:])
