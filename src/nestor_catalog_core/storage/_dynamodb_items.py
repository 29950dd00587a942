"""The items of the DynamoDB single-table layout: keys, attribute encoding and the
conversions between items and our records.

Everything here is pure (no client, no I/O), so the layout is defined in one place and can
be read next to the table in ``dynamodb.py``'s module docstring. Items use the low-level
attribute-value format (``{"S": ...}``, ``{"N": ...}``, ``{"B": ...}``): no serializer pass
per attribute, and the type of every attribute is explicit.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from nestor_catalog_core._exceptions import InvalidRequest, PayloadTooLarge, StorageError
from nestor_catalog_core.models import (
    AuditRecord,
    Event,
    EventType,
    Source,
    StoredVersion,
    format_time,
    parse_time,
)
from nestor_catalog_core.storage._common import (
    AUDIT_TIME_DIGITS,
    LeaseRow,
    dump_json,
    event_data_json,
    from_micros,
    load_json,
    to_micros,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

    Item = dict[str, AttributeValueTypeDef]
else:
    Item = dict[str, Any]

__all__ = [
    "COMPRESS_OVER",
    "EVENTS_PER_PARTITION",
    "ITEM_LIMIT",
    "META_KEY",
    "SEQUENCE_DIGITS",
    "SYNC_CHUNK_BYTES",
    "Item",
    "Meta",
    "SyncHead",
    "audit_item",
    "audit_month",
    "audit_month_partition",
    "audit_record_of",
    "audit_resource_partition",
    "event_item",
    "event_key",
    "event_of",
    "event_partition",
    "item_size",
    "join_sync_state",
    "lease_item",
    "lease_key",
    "lease_row_of",
    "lifecycle_update",
    "month_of_id",
    "month_of_micros",
    "names_partition",
    "owner_item",
    "owner_key",
    "pad_sequence",
    "split_sync_state",
    "sync_chunk_item",
    "sync_chunk_key",
    "sync_head_item",
    "sync_head_key",
    "sync_partition",
    "version_item",
    "version_key",
    "version_of",
    "version_rev",
    "versions_partition",
]

#: DynamoDB's item size limit is 400 KB; we stay below it with room for keys and names.
ITEM_LIMIT: Final = 390 * 1024
#: Attributes larger than this are stored zlib-compressed (binary) under ``<name>_z``.
COMPRESS_OVER: Final = 16 * 1024
#: Compressed sync state is split into chunks of at most this many bytes, one item each.
SYNC_CHUNK_BYTES: Final = 256 * 1024
#: Events live in partitions of this many consecutive sequences (``EVT#<sequence // N>``).
EVENTS_PER_PARTITION: Final = 1000
#: Zero-padding of sequences in sort keys: string order is numeric order up to 10**20.
SEQUENCE_DIGITS: Final = 20

META_KEY: Final[Item] = {"PK": {"S": "META"}, "SK": {"S": "SEQ"}}
_NAMES_PK: Final = "NAMES"


# -- attribute helpers ---------------------------------------------------------------------


def _s(value: str) -> AttributeValueTypeDef:
    return {"S": value}


def _n(value: int) -> AttributeValueTypeDef:
    return {"N": str(value)}


def _bool(value: bool) -> AttributeValueTypeDef:
    return {"BOOL": value}


def _str(item: Mapping[str, AttributeValueTypeDef], name: str) -> str:
    return item[name]["S"]


def _opt_str(item: Mapping[str, AttributeValueTypeDef], name: str) -> str | None:
    value = item.get(name)
    return value["S"] if value is not None else None


def _int(item: Mapping[str, AttributeValueTypeDef], name: str, default: int = 0) -> int:
    value = item.get(name)
    return int(value["N"]) if value is not None else default


def _put_optional(item: Item, name: str, value: str | None) -> None:
    if value is not None:
        item[name] = _s(value)


def _put_blob(item: Item, name: str, data: bytes, what: str) -> None:
    """``data`` as ``name`` (binary), or compressed as ``<name>_z`` when it is large."""
    if len(data) > COMPRESS_OVER:
        item[f"{name}_z"] = {"B": zlib.compress(data, 6)}
    else:
        item[name] = {"B": data}
    _check_size(item, what)


def _put_text(item: Item, name: str, text: str, what: str) -> None:
    """``text`` as ``name`` (string), or UTF-8 and compressed as ``<name>_z`` when large."""
    if len(text) > COMPRESS_OVER:
        item[f"{name}_z"] = {"B": zlib.compress(text.encode(), 6)}
    else:
        item[name] = _s(text)
    _check_size(item, what)


def _blob(item: Mapping[str, AttributeValueTypeDef], name: str) -> bytes:
    compressed = item.get(f"{name}_z")
    if compressed is not None:
        return zlib.decompress(compressed["B"])
    return bytes(item[name]["B"])


def _text(item: Mapping[str, AttributeValueTypeDef], name: str) -> str:
    compressed = item.get(f"{name}_z")
    if compressed is not None:
        return zlib.decompress(compressed["B"]).decode()
    return item[name]["S"]


def item_size(item: Mapping[str, AttributeValueTypeDef]) -> int:
    """DynamoDB's size of ``item`` (names plus values), close enough to stay under the limit."""
    total = 0
    for name, value in item.items():
        total += len(name.encode())
        if "S" in value:
            total += len(value["S"].encode())
        elif "B" in value:
            total += len(value["B"])
        elif "N" in value:
            total += len(value["N"]) // 2 + 2
        elif "SS" in value:
            total += sum(len(member.encode()) for member in value["SS"])
        else:
            total += 1
    return total


def _check_size(item: Item, what: str) -> None:
    size = item_size(item)
    if size > ITEM_LIMIT:
        raise PayloadTooLarge(
            f"{what} needs {size:,} bytes in DynamoDB even compressed, over the {ITEM_LIMIT:,} byte item limit",
            details={"size": size, "limit": ITEM_LIMIT},
        )


# -- versions and owners -------------------------------------------------------------------


def versions_partition(name: str) -> str:
    return f"RES#{name}"


def version_key(name: str, version: str) -> Item:
    return {"PK": _s(versions_partition(name)), "SK": _s(f"VER#{version}")}


def owner_key(name: str) -> Item:
    """Owner items share the ``NAMES`` partition: a strongly consistent, sorted name index."""
    return {"PK": _s(_NAMES_PK), "SK": _s(name)}


def owner_item(name: str, owner: str) -> Item:
    return {**owner_key(name), "owner": _s(owner)}


def names_partition() -> str:
    return _NAMES_PK


def version_item(version: StoredVersion) -> Item:
    """A version item; ``rev`` counts lifecycle and withdrawal changes (optimistic locking)."""
    index_sort = f"{version.name}#{version.version}"
    item: Item = {
        **version_key(version.name, version.version),
        "GSI1PK": _s(f"PROVIDER#{version.provider}"),
        "GSI1SK": _s(index_sort),
        "GSI2PK": _s(f"CATEGORY#{version.category}"),
        "GSI2SK": _s(index_sort),
        "name": _s(version.name),
        "version": _s(version.version),
        "digest": _s(version.digest),
        "provider": _s(version.provider),
        "category": _s(version.category),
        "resource_type": _s(version.resource_type),
        "source": _s(dump_json(version.source.to_dict(), "Source")),
        "published_at": _s(format_time(version.published_at)),
        "sequence": _n(version.sequence),
        "withdrawn": _bool(version.withdrawn),
        "deprecated": _bool(version.deprecated),
        "rev": _n(0),
    }
    _put_optional(item, "updated_at", format_time(version.updated_at) if version.updated_at else None)
    _put_blob(item, "document", version.document, f"the document of {version.name} {version.version}")
    return item


def version_of(item: Mapping[str, AttributeValueTypeDef]) -> StoredVersion:
    updated_at = _opt_str(item, "updated_at")
    return StoredVersion(
        name=_str(item, "name"),
        version=_str(item, "version"),
        digest=_str(item, "digest"),
        document=_blob(item, "document"),
        provider=_str(item, "provider"),
        category=_str(item, "category"),
        resource_type=_str(item, "resource_type"),
        source=Source.from_dict(load_json(_str(item, "source"))),
        published_at=parse_time(_str(item, "published_at")),
        sequence=_int(item, "sequence"),
        updated_at=parse_time(updated_at) if updated_at else None,
        withdrawn=item["withdrawn"]["BOOL"],
        deprecated=item["deprecated"]["BOOL"],
    )


def version_rev(item: Mapping[str, AttributeValueTypeDef]) -> int:
    return _int(item, "rev")


def lifecycle_update(updated: StoredVersion, rev: int) -> tuple[str, dict[str, str], dict[str, AttributeValueTypeDef]]:
    """``(update expression, names, values)`` writing ``updated``'s mutable fields and
    ``rev + 1``. The document is rewritten whole (plain or compressed) and the other
    encoding removed."""
    assert updated.updated_at is not None
    encoded: Item = {}
    _put_blob(encoded, "document", updated.document, f"the document of {updated.name} {updated.version}")
    [(document_name, document_value)] = encoded.items()
    stale = "document" if document_name == "document_z" else "document_z"
    names = {
        "#doc": document_name,
        "#stale": stale,
        "#withdrawn": "withdrawn",
        "#deprecated": "deprecated",
        "#updated": "updated_at",
        "#rev": "rev",
    }
    values: dict[str, AttributeValueTypeDef] = {
        ":doc": document_value,
        ":withdrawn": _bool(updated.withdrawn),
        ":deprecated": _bool(updated.deprecated),
        ":updated": _s(format_time(updated.updated_at)),
        ":next_rev": _n(rev + 1),
    }
    expression = (
        "SET #doc = :doc, #withdrawn = :withdrawn, #deprecated = :deprecated, #updated = :updated, "
        "#rev = :next_rev REMOVE #stale"
    )
    return expression, names, values


# -- the counters --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Meta:
    """The ``META`` item: sequence and audit counters, retention marks, audit months.

    ``first_sequence`` is the logical start of the log (what readers may see);
    ``purged_below`` is how far event items are physically deleted (it lags behind after
    a trim interrupted between its two steps, and the next trim catches up)."""

    last_sequence: int = 0
    last_audit: int = 0
    first_sequence: int = 1
    purged_below: int = 1
    audit_months: frozenset[str] = frozenset()

    @classmethod
    def of(cls, item: Mapping[str, AttributeValueTypeDef] | None) -> Meta:
        if item is None:
            return cls()
        months = item.get("audit_months")
        return cls(
            last_sequence=_int(item, "last_sequence"),
            last_audit=_int(item, "last_audit"),
            first_sequence=_int(item, "first_sequence", 1),
            purged_below=_int(item, "purged_below", 1),
            audit_months=frozenset(months["SS"]) if months is not None else frozenset(),
        )

    def advanced(self, *, event: bool, audit: bool, month: str | None) -> Meta:
        months = self.audit_months | {month} if month is not None else self.audit_months
        return replace(
            self,
            last_sequence=self.last_sequence + int(event),
            last_audit=self.last_audit + int(audit),
            audit_months=months,
        )


# -- events --------------------------------------------------------------------------------


def pad_sequence(sequence: int) -> str:
    return f"{sequence:0{SEQUENCE_DIGITS}d}"


def event_partition(sequence: int, per_partition: int = EVENTS_PER_PARTITION) -> str:
    return f"EVT#{sequence // per_partition}"


def event_key(sequence: int, per_partition: int = EVENTS_PER_PARTITION) -> Item:
    return {"PK": _s(event_partition(sequence, per_partition)), "SK": _s(pad_sequence(sequence))}


def event_item(event: Event, per_partition: int = EVENTS_PER_PARTITION) -> Item:
    item: Item = {
        **event_key(event.sequence, per_partition),
        "sequence": _n(event.sequence),
        "type": _s(event.type.value),
        "time_us": _n(to_micros(event.time)),
    }
    for name in ("name", "version", "provider", "category", "resource_type"):
        _put_optional(item, name, getattr(event, name))
    _put_text(item, "data", event_data_json(event), f"event {event.sequence}")
    return item


def event_of(item: Mapping[str, AttributeValueTypeDef]) -> Event:
    return Event(
        sequence=_int(item, "sequence"),
        type=EventType(_str(item, "type")),
        time=from_micros(_int(item, "time_us")),
        name=_opt_str(item, "name"),
        version=_opt_str(item, "version"),
        provider=_opt_str(item, "provider"),
        category=_opt_str(item, "category"),
        resource_type=_opt_str(item, "resource_type"),
        data=load_json(_text(item, "data")),
    )


# -- audit ---------------------------------------------------------------------------------


def audit_month(timestamp: datetime) -> str:
    """The month partition of a record (``YYYY-MM``); pre-1970 times fall in 1970-01 as
    their audit ids clamp to the epoch."""
    return month_of_micros(max(to_micros(timestamp), 0))


def month_of_micros(micros: int) -> str:
    return from_micros(micros).strftime("%Y-%m")


def month_of_id(audit_id_or_prefix: str) -> str:
    """The month of an audit id or id time prefix (``audit_time_bound``). A cursor that is
    not one of our ids is refused as such."""
    prefix = audit_id_or_prefix[:AUDIT_TIME_DIGITS]
    try:
        if not prefix.isascii() or not prefix.isdigit():
            raise ValueError(prefix)
        return month_of_micros(int(prefix))
    except (ValueError, OverflowError) as exc:
        raise InvalidRequest("invalid audit cursor", details={"cursor": audit_id_or_prefix}) from exc


def audit_month_partition(month: str) -> str:
    """The partition of every audit record of ``month``: all records, newest first, month
    by month."""
    return f"AUDIT#{month}"


def audit_resource_partition(resource: str) -> str:
    """The partition of the second copy of each record about ``resource``."""
    return f"AUDITRES#{resource}"


def audit_item(record: AuditRecord, partition: str) -> Item:
    """One copy of ``record`` (its ``id`` assigned) in ``partition``. The filterable fields
    are top-level attributes; ``record`` holds the whole record as JSON."""
    item: Item = {"PK": _s(partition), "SK": _s(record.id), "action": _s(record.action)}
    _put_optional(item, "resource", record.resource)
    _put_optional(item, "version", record.version)
    _put_optional(item, "user_name", record.user)
    _put_text(item, "record", dump_json(record.to_dict(), "AuditRecord"), f"audit record {record.id}")
    return item


def audit_record_of(item: Mapping[str, AttributeValueTypeDef]) -> AuditRecord:
    return AuditRecord.from_dict(load_json(_text(item, "record")))


# -- sync state ----------------------------------------------------------------------------


def sync_partition(source: str) -> str:
    return f"SYNC#{source}"


def sync_head_key(source: str) -> Item:
    return {"PK": _s(sync_partition(source)), "SK": _s("HEAD")}


def sync_chunk_key(source: str, index: int) -> Item:
    return {"PK": _s(sync_partition(source)), "SK": _s(f"CHUNK#{index:05d}")}


def sync_head_item(source: str, generation: int, chunks: int, size: int) -> Item:
    return {
        **sync_head_key(source),
        "generation": _n(generation),
        "chunks": _n(chunks),
        "size": _n(size),
    }


def sync_chunk_item(source: str, generation: int, index: int, data: bytes) -> Item:
    return {**sync_chunk_key(source, index), "generation": _n(generation), "data": {"B": data}}


@dataclass(frozen=True, slots=True)
class SyncHead:
    generation: int
    chunks: int

    @classmethod
    def of(cls, item: Mapping[str, AttributeValueTypeDef] | None) -> SyncHead | None:
        if item is None:
            return None
        return cls(generation=_int(item, "generation"), chunks=_int(item, "chunks"))


def split_sync_state(state_json: str) -> list[bytes]:
    """The compressed state in item-sized chunks."""
    compressed = zlib.compress(state_json.encode(), 6)
    return [compressed[i : i + SYNC_CHUNK_BYTES] for i in range(0, len(compressed), SYNC_CHUNK_BYTES)] or [b""]


def join_sync_state(source: str, items: list[dict[str, AttributeValueTypeDef]]) -> str | None:
    """The state JSON from a consistent query of its partition; None when the chunks do not
    all belong to the head's generation (a concurrent write: read again)."""
    head = next((item for item in items if item["SK"]["S"] == "HEAD"), None)
    parsed = SyncHead.of(head)
    if parsed is None:
        raise StorageError(f"sync state of {source!r} has chunks but no head item", details={"source": source})
    chunks = sorted((item for item in items if item["SK"]["S"].startswith("CHUNK#")), key=lambda i: i["SK"]["S"])
    current = [item for item in chunks[: parsed.chunks] if _int(item, "generation") == parsed.generation]
    if len(current) != parsed.chunks:
        return None
    return zlib.decompress(b"".join(bytes(item["data"]["B"]) for item in current)).decode()


# -- leases --------------------------------------------------------------------------------


def lease_key(name: str) -> Item:
    return {"PK": _s(f"LEASE#{name}"), "SK": _s("LEASE")}


def lease_item(row: LeaseRow, rev: int) -> Item:
    item: Item = {
        **lease_key(row.name),
        "expires_us": _n(to_micros(row.expires_at)),
        "token": _n(row.token),
        "rev": _n(rev),
    }
    _put_optional(item, "holder", row.holder)
    return item


def lease_row_of(name: str, item: Mapping[str, AttributeValueTypeDef] | None) -> tuple[LeaseRow | None, int]:
    """The stored lease and its revision (0 when there is no item)."""
    if item is None:
        return None, 0
    row = LeaseRow(
        name=name,
        holder=_opt_str(item, "holder"),
        expires_at=from_micros(_int(item, "expires_us")),
        token=_int(item, "token"),
    )
    return row, _int(item, "rev")
