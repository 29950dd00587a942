"""When to try a request again, and how long to wait first.

Only calls that are safe to repeat are retried: every GET, and the two POSTs that change
nothing (``validate`` and ``inputs:validate``). Writes are never retried: a write whose
answer was lost may have happened, and the caller must decide. Retried failures are the
transient ones: the connection failing or timing out, ``502``/``503``/``504`` from the server
or a proxy in front of it, and ``429`` (honouring ``Retry-After``). Delays grow exponentially
with jitter (so a fleet of clients does not retry in lock-step) and are capped.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

__all__ = ["RetryPolicy", "parse_retry_after"]

#: Transport failures that never heal by retrying (a URL the client cannot speak to).
_PERMANENT_TRANSPORT_ERRORS: tuple[type[httpx.TransportError], ...] = (httpx.UnsupportedProtocol,)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retries for idempotent calls.

    ``retries`` is how many times a call is repeated after its first attempt (``0`` turns
    retrying off). The n-th retry waits a random time between half and all of
    ``min(max_delay, initial_delay * 2**n)``, or the server's ``Retry-After`` when that is
    longer; a ``Retry-After`` beyond ``max_retry_after`` is not waited for: the error is raised
    at once with ``details["retry_after"]`` so the caller can schedule it.
    """

    retries: int = 3
    initial_delay: float = 0.2
    max_delay: float = 5.0
    max_retry_after: float = 30.0
    statuses: frozenset[int] = frozenset({429, 502, 503, 504})
    jitter: Callable[[], float] = field(default=random.random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ValueError("retries must be >= 0")
        if self.initial_delay < 0 or self.max_delay < self.initial_delay:
            raise ValueError("need 0 <= initial_delay <= max_delay")

    def backoff(self, attempt: int) -> float:
        """The wait before retry number ``attempt`` (0-based), jittered."""
        ceiling = min(self.max_delay, self.initial_delay * 2.0 ** min(attempt, 32))
        return ceiling / 2 + float(self.jitter()) * ceiling / 2

    def delay_after_response(self, attempt: int, response: httpx.Response, *, idempotent: bool) -> float | None:
        """Seconds to wait before retrying after ``response``, or None to give up."""
        if not idempotent or attempt >= self.retries or response.status_code not in self.statuses:
            return None
        delay = self.backoff(attempt)
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        if retry_after is not None:
            if retry_after > self.max_retry_after:
                return None
            delay = max(delay, retry_after)
        return delay

    def delay_after_error(self, attempt: int, exc: httpx.TransportError, *, idempotent: bool) -> float | None:
        """Seconds to wait before retrying after a transport failure, or None to give up."""
        if not idempotent or attempt >= self.retries or isinstance(exc, _PERMANENT_TRANSPORT_ERRORS):
            return None
        return self.backoff(attempt)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` in seconds: delta-seconds or an HTTP date; None when absent or invalid."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
