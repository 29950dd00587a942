"""Stopping background tasks reliably on Python 3.11.

``asyncio.wait_for`` (which redis-py uses around socket writes) loses a cancellation that
arrives in the same loop step as the result it was waiting for: the task goes on, its
``cancelling()`` count raised, and blocks in its next read. Loops that run forever call
``raise_if_cancelling()`` before each blocking call, and ``stop_tasks`` cancels again until
the tasks are done.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, Final

__all__ = ["raise_if_cancelling", "stop_tasks"]

_RECHECK: Final = 0.1


def raise_if_cancelling() -> None:
    """Raise ``CancelledError`` when the current task was asked to stop and carried on."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def stop_tasks(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancel ``tasks`` and wait until every one has ended, cancelling again any that a lost
    cancellation left running."""
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _done, pending = await asyncio.wait(pending, timeout=_RECHECK)
