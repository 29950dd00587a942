"""Rules every adapter applies the same way: argument checks, UTC normalization, JSON
encoding, audit ids and cursors, the errors of a refused publish, retention cut-offs, lease
decisions and (``ThreadedStore``) running a blocking driver's calls on worker threads.

Keeping them here means the memory, SQLite and DynamoDB adapters cannot drift apart on
what a valid call is or on the exact error a caller sees.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, TypeVar
from urllib.parse import parse_qsl, urlsplit

from nestor_catalog_core._exceptions import (
    ConcurrentWrite,
    ConfigError,
    ImmutableVersionError,
    InvalidRequest,
    OwnershipConflict,
    StorageUnavailable,
)
from nestor_catalog_core.models import AuditRecord, Event, Lease, StoredVersion

if TYPE_CHECKING:
    from nestor_catalog_core.storage.base import AuditQuery

T = TypeVar("T")

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
#: Width of the zero-padded microsecond prefix of audit ids (enough for the year 9999).
AUDIT_TIME_DIGITS: Final = 18
MAX_PAGE: Final = 10_000


# -- time ----------------------------------------------------------------------------------


def ensure_utc(value: datetime, what: str) -> datetime:
    """``value`` in UTC. Naive datetimes are refused: guessing their zone would silently
    shift audit trails and lease expiries by hours."""
    if value.tzinfo is UTC:
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidRequest(f"{what} must be timezone-aware (got naive {value.isoformat()})")
    return value.astimezone(UTC)


def to_micros(value: datetime) -> int:
    """Microseconds since the Unix epoch, exact (no float rounding)."""
    return (value - EPOCH) // timedelta(microseconds=1)


def from_micros(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)


def normalize_version(version: StoredVersion) -> StoredVersion:
    published_at = ensure_utc(version.published_at, "StoredVersion.published_at")
    updated_at = ensure_utc(version.updated_at, "StoredVersion.updated_at") if version.updated_at else None
    if published_at is version.published_at and updated_at is version.updated_at:
        return version
    return replace(version, published_at=published_at, updated_at=updated_at)


def normalize_event(event: Event) -> Event:
    time = ensure_utc(event.time, "Event.time")
    return event if time is event.time else replace(event, time=time)


def normalize_audit(audit: AuditRecord) -> AuditRecord:
    timestamp = ensure_utc(audit.timestamp, "AuditRecord.timestamp")
    return audit if timestamp is audit.timestamp else replace(audit, timestamp=timestamp)


# -- arguments -----------------------------------------------------------------------------


def check_limit(limit: int, what: str) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidRequest(f"{what} must be between 1 and {MAX_PAGE} (got {limit})", details={what: limit})


def check_ttl(ttl: timedelta) -> None:
    if ttl <= timedelta(0):
        raise InvalidRequest(f"lease ttl must be positive (got {ttl})")


def check_after(after: int) -> None:
    if after < 0:
        raise InvalidRequest(f"'after' must be a sequence number >= 0 (got {after})", details={"after": after})


# -- JSON ----------------------------------------------------------------------------------


def dump_json(value: Any, what: str) -> str:
    """Compact JSON; refuses what JSON cannot represent (NaN, datetimes, sets) so every
    adapter rejects the same records instead of some storing them and others failing."""
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(f"{what} is not JSON-serializable: {exc}") from exc


def event_data_json(event: Event) -> str:
    """The event's data as compact JSON: its ``data_json`` when the writer encoded it already
    (a publish), else ``data`` encoded here."""
    if event.data_json is not None:
        return event.data_json.decode("utf-8")
    return dump_json(event.data, "Event.data")


def load_json(text: str | bytes) -> Any:
    return json.loads(text)


# -- audit ids and cursors -----------------------------------------------------------------


def audit_id(timestamp: datetime, counter: int) -> str:
    """A store-assigned audit id whose string order is ``(timestamp, counter)``: newest
    first is a reverse sort on the id, and ``since``/``until`` become id ranges (the shape
    of a DynamoDB sort key). ``counter`` only needs to be unique within the store."""
    micros = max(to_micros(timestamp), 0)
    return f"{micros:0{AUDIT_TIME_DIGITS}d}-{counter:012d}"


def audit_time_bound(value: datetime, what: str) -> str:
    """The id prefix of ``value``: ids ``>=`` it have a timestamp ``>= value``."""
    return f"{max(to_micros(ensure_utc(value, what)), 0):0{AUDIT_TIME_DIGITS}d}"


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    padded = cursor + "=" * (-len(cursor) % 4)
    try:
        decoded = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
    except (ValueError, UnicodeError, binascii.Error) as exc:
        raise InvalidRequest("invalid audit cursor", details={"cursor": cursor}) from exc
    if not decoded or not decoded.isprintable():
        raise InvalidRequest("invalid audit cursor", details={"cursor": cursor})
    return decoded


@dataclass(frozen=True, slots=True)
class AuditRange:
    """The id range an ``AuditQuery`` selects: ``lower <= id < upper`` (either open)."""

    lower: str | None
    upper: str | None
    limit: int


def audit_range(query: AuditQuery) -> AuditRange:
    """Validate ``query`` and fold ``since`` (inclusive), ``until`` (exclusive) and the
    cursor (records older than the last one returned) into one id range."""
    check_limit(query.limit, "limit")
    lower = audit_time_bound(query.since, "AuditQuery.since") if query.since else None
    uppers = []
    if query.until is not None:
        uppers.append(audit_time_bound(query.until, "AuditQuery.until"))
    if query.cursor is not None:
        uppers.append(decode_cursor(query.cursor))
    return AuditRange(lower=lower, upper=min(uppers) if uppers else None, limit=query.limit)


def next_cursor(ids: list[str], limit: int) -> str | None:
    """The cursor after a page fetched with ``limit + 1`` rows (None on the last page)."""
    return encode_cursor(ids[limit - 1]) if len(ids) > limit else None


# -- refused publishes ---------------------------------------------------------------------


def immutable_error(stored: StoredVersion, new: StoredVersion) -> ImmutableVersionError:
    return ImmutableVersionError(
        f"{stored.name} {stored.version} is already published with digest {stored.digest}; "
        f"the new content has digest {new.digest}. Published versions never change: publish a new version",
        details={
            "resource_name": stored.name,
            "version": stored.version,
            "stored_digest": stored.digest,
            "new_digest": new.digest,
        },
    )


def concurrent_error(expected: int, last: int) -> ConcurrentWrite:
    return ConcurrentWrite(
        f"the event log is at sequence {last}, past the {expected} this write was prepared against: "
        "another writer came first; catch up and prepare it again",
        details={"expected_sequence": expected, "last_sequence": last},
    )


def ownership_error(name: str, owner: str, claimant: str) -> OwnershipConflict:
    return OwnershipConflict(
        f"{name} is owned by {owner}; {claimant} cannot publish it",
        details={"resource_name": name, "owner": owner, "source": claimant},
    )


# -- retention -----------------------------------------------------------------------------


def retention_cutoff(*, last: int, first_young: int | None, older_than: datetime | None, keep_last: int | None) -> int:
    """The lowest sequence to keep. ``first_young`` is the lowest sequence whose time is
    ``>= older_than`` (None when none is). Only a prefix is ever dropped, so the retained
    log stays contiguous even when event times are not monotonic across writers."""
    cutoff = 1
    if older_than is not None:
        cutoff = max(cutoff, first_young if first_young is not None else last + 1)
    if keep_last is not None:
        if keep_last < 0:
            raise InvalidRequest(f"keep_last must be >= 0 (got {keep_last})")
        cutoff = max(cutoff, last - keep_last + 1)
    return cutoff


# -- leases --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LeaseRow:
    """A lease as stored. ``holder`` is None after a release; the row stays so the
    fencing token keeps growing."""

    name: str
    holder: str | None
    expires_at: datetime
    token: int

    def held_by(self, holder: str, now: datetime) -> bool:
        return self.holder == holder and now < self.expires_at

    def is_free(self, now: datetime) -> bool:
        return self.holder is None or now >= self.expires_at

    def as_lease(self) -> Lease:
        assert self.holder is not None
        return Lease(name=self.name, holder=self.holder, expires_at=self.expires_at, token=self.token)


def acquired_lease(current: LeaseRow | None, name: str, holder: str, ttl: timedelta, now: datetime) -> LeaseRow | None:
    """The row after ``holder`` tries to acquire: renewed if already theirs, a new
    acquisition (token + 1) if free or expired, None if another holder has it."""
    check_ttl(ttl)
    if current is not None and current.held_by(holder, now):
        return replace(current, expires_at=now + ttl)
    if current is None or current.is_free(now):
        token = current.token + 1 if current is not None else 1
        return LeaseRow(name=name, holder=holder, expires_at=now + ttl, token=token)
    return None


def renewed_lease(current: LeaseRow | None, holder: str, ttl: timedelta, now: datetime) -> LeaseRow | None:
    check_ttl(ttl)
    if current is None or not current.held_by(holder, now):
        return None
    return replace(current, expires_at=now + ttl)


def released_lease(current: LeaseRow | None, holder: str, now: datetime) -> LeaseRow | None:
    """The row after ``holder`` releases, or None when there is nothing of theirs to release."""
    if current is None or not current.held_by(holder, now):
        return None
    return replace(current, holder=None, expires_at=now)


#: Computes a lease row's next state from the current one (None: nothing to write).
LeaseDecision = Callable[[LeaseRow | None, datetime], LeaseRow | None]


class RowLeases(ABC):
    """The lease operations of ``ComponentStore`` for adapters that change a lease row in one
    conditional step, ``_change_lease`` (read the row, let the decision compute the next one,
    write it unless someone else changed it first); the rules are the functions above."""

    @abstractmethod
    async def _change_lease(self, name: str, decide: LeaseDecision) -> Lease | None:
        """Apply ``decide`` atomically; the lease it leaves held, or None."""

    async def acquire_lease(self, name: str, holder: str, ttl: timedelta) -> Lease | None:
        return await self._change_lease(name, lambda row, now: acquired_lease(row, name, holder, ttl, now))

    async def renew_lease(self, name: str, holder: str, ttl: timedelta) -> Lease | None:
        return await self._change_lease(name, lambda row, now: renewed_lease(row, holder, ttl, now))

    async def release_lease(self, name: str, holder: str) -> None:
        await self._change_lease(name, lambda row, now: released_lease(row, holder, now))


# -- URIs ----------------------------------------------------------------------------------


def split_uri(uri: str, scheme: str) -> tuple[str, str, dict[str, str]]:
    """``(netloc, path, query options)`` of a store URI, refusing repeated options."""
    parts = urlsplit(uri)
    if parts.scheme.lower() != scheme:
        raise ConfigError(f"not a {scheme}:// URI: {uri!r}")
    if parts.fragment:
        raise ConfigError(f"storage URIs take no fragment: {uri!r}")
    try:
        pairs = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError as exc:
        raise ConfigError(f"malformed query in storage URI {uri!r}: {exc}") from exc
    options: dict[str, str] = {}
    for key, value in pairs:
        if key in options:
            raise ConfigError(f"option {key!r} is given twice in storage URI {uri!r}")
        options[key] = value
    return parts.netloc, parts.path, options


def uri_options(scheme: str, query: dict[str, str], options: dict[str, Any], valid: frozenset[str]) -> dict[str, Any]:
    """A URI's query options overridden by the keyword ``options``, refusing any not in ``valid``."""
    merged: dict[str, Any] = {**query, **options}
    unknown = set(merged) - valid
    if unknown:
        raise ConfigError(
            f"unknown {scheme}:// storage option(s) {', '.join(sorted(unknown))}; "
            f"valid options: {', '.join(sorted(valid)) or '(none)'}",
            details={"unknown": sorted(unknown), "valid": sorted(valid)},
        )
    return merged


def option_error(scheme: str, option: str, value: object, expected: str, *, label: str | None = None) -> ConfigError:
    """An adapter option's refused value: ``invalid <scheme> <label> <value>: expected ...``, with
    ``option``, ``value`` and ``reason`` in the details (the config loader shows the reason at the
    option's line)."""
    return ConfigError(
        f"invalid {scheme} {label or option} {value!r}: expected {expected}",
        details={"option": option, "value": str(value), "reason": f"expected {expected} (got {value!r})"},
    )


def choice_error(
    scheme: str, option: str, value: object, choices: tuple[str, ...], *, label: str | None = None
) -> ConfigError:
    """An option's value that is none of ``choices``: ``invalid <scheme> <label> <value>; valid: ...``."""
    listed = ", ".join(choices)
    return ConfigError(
        f"invalid {scheme} {label or option} {value!r}; valid: {listed}",
        details={"option": option, "value": str(value), "reason": f"expected one of {listed} (got {value!r})"},
    )


def int_option(scheme: str, option: str, value: object, minimum: int, *, unit: str = "an integer") -> int:
    """An integer option of at least ``minimum`` (``unit`` names it in the error)."""
    try:
        number = int(str(value))
    except ValueError:
        number = minimum - 1
    if number < minimum:
        raise option_error(scheme, option, value, f"{unit} >= {minimum}")
    return number


# -- threads -------------------------------------------------------------------------------


class ThreadedStore(ABC):
    """A mixin for adapters whose driver blocks (sqlite3, boto3): their calls run on the
    store's own executors, and an executor already shut down means the store was closed."""

    @abstractmethod
    def _closed_error(self) -> StorageUnavailable:
        """The error a call on a closed store gets (naming the file or table)."""

    async def _submit(self, executor: ThreadPoolExecutor, call: Callable[[], T]) -> T:
        try:
            future = asyncio.get_running_loop().run_in_executor(executor, call)
        except RuntimeError as exc:
            raise self._closed_error() from exc
        return await future
