"""A real writer process for the SQLite crash and sharing tests.

``python -m tests.core.storage._crash_writer DB PREFIX COUNT [CONCURRENCY]`` publishes
``COUNT`` versions named ``PREFIX-00000``... to the SQLite store at ``DB`` (default
options: WAL, ``synchronous=NORMAL``, as shipped), ``CONCURRENCY`` publishes in flight at a
time, and prints ``published <n>`` after each one returns, so the parent knows which
publishes were committed before it kills the process.
"""

from __future__ import annotations

import asyncio
import sys

from nestor_catalog_core.storage import SQLiteStore
from tests.core.storage.builders import publish_args


async def publish_batch(path: str, prefix: str, count: int, concurrency: int) -> None:
    async with SQLiteStore(path) as store:
        print("ready", flush=True)
        published = 0
        for start in range(0, count, concurrency):
            batch = [publish_args(f"{prefix}-{i:05d}", "1.0.0") for i in range(start, min(start + concurrency, count))]
            for write in asyncio.as_completed([store.publish(*args.as_tuple()) for args in batch]):
                outcome = await write
                assert outcome.created
                published += 1
                print(f"published {published}", flush=True)
    print("done", flush=True)


def main(argv: list[str]) -> None:
    path, prefix, count = argv[0], argv[1], int(argv[2])
    concurrency = int(argv[3]) if len(argv) > 3 else 1
    asyncio.run(publish_batch(path, prefix, count, concurrency))


if __name__ == "__main__":
    main(sys.argv[1:])
