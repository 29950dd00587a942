"""A clock tests move by hand: pass it as a store's (or anything's) ``clock`` and ``advance``
it instead of sleeping until a lease or a deadline passes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["ManualClock"]


class ManualClock:
    """Starts at the real time (so ``expires_at > datetime.now(UTC)`` still reads true) and
    only moves when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by
