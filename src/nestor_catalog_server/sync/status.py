"""What a sync did (``SyncReport``) and where each source stands (``SourceStatus``).

Both are plain dataclasses with a ``to_dict()`` that is JSON-safe: the HTTP API serves them as
they are (``GET /api/v1/status``, ``POST /api/v1/sync/{repo}``) and the CLI prints them.

Counting conventions, shared by reports, statuses and ``sync.completed`` events:

- ``added``, ``modified``, ``deleted``, ``renamed`` count *files* the sync saw change;
- ``loaded`` counts files read and parsed (a restart that resumes incrementally loads only
  what changed since the last synced commit);
- ``published`` counts *versions* the sync changed in the catalog (created, restored after a
  withdrawal, or given a new lifecycle block); ``unchanged`` versions were already published
  with the same content; ``withdrawn`` versions left the source;
- ``rejected`` counts *files* refused (a load error, or any of their documents failing
  validation, compatibility, immutability or ownership); their findings stay in
  ``SourceStatus.findings`` until the file is fixed or deleted.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime
from typing import Any, Literal

from nestor_catalog_core import SourceKind
from nestor_catalog_core.models import format_time, utcnow

__all__ = ["SourceState", "SourceStatus", "SyncCounts", "SyncOutcome", "SyncReport"]

#: ``syncing`` while an attempt runs; ``failed`` after a failed (or interrupted, or postponed)
#: attempt until one succeeds; ``held`` while a sync that would withdraw too much waits for a
#: confirmation (``WithdrawGuardConfig``).
SourceState = Literal["idle", "syncing", "failed", "held"]
#: ``synced``: something changed and was applied; ``unchanged``: the source had not moved;
#: ``held``: the withdraw guard stopped it, nothing was applied.
SyncOutcome = Literal["synced", "unchanged", "failed", "held"]


def _time(value: datetime | None) -> str | None:
    return format_time(value) if value is not None else None


@dataclass(slots=True)
class SyncCounts:
    """Files and versions one sync touched (see the module docstring for what each counts)."""

    added: int = 0
    modified: int = 0
    deleted: int = 0
    renamed: int = 0
    loaded: int = 0
    published: int = 0
    unchanged: int = 0
    rejected: int = 0
    withdrawn: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @property
    def changed_files(self) -> int:
        return self.added + self.modified + self.deleted + self.renamed


@dataclass(slots=True)
class SyncReport:
    """One sync attempt of one source.

    ``commit`` is the commit the source is at after the attempt (git), ``previous_commit`` the
    one it started from. ``findings`` maps each file rejected *by this attempt* to its finding
    dicts (``{rule, severity, field, message, file, line, column}``). ``error`` is set when the
    attempt itself failed (``{code, message, reason}``); nothing was then applied or saved.
    ``reason`` says what started it: ``start``, ``schedule``, ``retry``, ``manual``,
    ``webhook``, ``watch``, ``once``.
    """

    source: str
    kind: SourceKind
    outcome: SyncOutcome
    started_at: datetime
    duration_ms: float
    reason: str = "manual"
    commit: str | None = None
    previous_commit: str | None = None
    counts: SyncCounts = field(default_factory=SyncCounts)
    findings: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None
    #: Set when the withdraw guard held the sync: ``{withdrawals, live, share, reason, commit}``.
    held: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "kind": self.kind.value,
            "outcome": self.outcome,
            "ok": self.ok,
            "reason": self.reason,
            "started_at": format_time(self.started_at),
            "duration_ms": round(self.duration_ms, 3),
            "commit": self.commit,
            "previous_commit": self.previous_commit,
            "counts": self.counts.to_dict(),
            "findings": {path: list(items) for path, items in self.findings.items()},
            "skipped": list(self.skipped),
            "error": dict(self.error) if self.error is not None else None,
            "held": dict(self.held) if self.held is not None else None,
        }


@dataclass(slots=True)
class SourceStatus:
    """Where one source stands, as ``SyncManager.status()`` reports it.

    ``url`` and ``branch`` are set for git sources (the URL without credentials); ``path`` is the
    folder synced: for a git source the configured ``path`` inside the repository, normalized
    (``resources/`` -> ``resources``, ``""`` for the whole repository), for a local directory
    its absolute path. ``counts`` describe the last sync that applied changes (a poll that
    found nothing new leaves them); ``last_duration_ms`` the last attempt that got through.
    ``findings`` holds the findings of
    every file currently rejected (path -> finding dicts), kept across restarts, until the file
    is fixed or deleted. ``files`` is how many files the source holds.

    ``last_error`` (``{code, message, reason, stage, at}``) says why the last attempt failed and
    which stage failed: ``state`` (reading the stored sync state), ``fetch``, ``load``,
    ``publish``, ``storage``, ``lease`` (postponed: no replica could lead) or ``interrupted``.
    ``held`` (``{withdrawals, live, share, reason, commit}``) is set while the withdraw guard
    holds a sync. ``reachable`` is whether the last fetch reached the source (None before
    one), ``last_fetch`` the time of the last successful fetch (or scan). ``ready`` and
    ``waiting_for`` are the source's part of ``/ready``; ``stale`` follows
    ``SyncReadinessConfig``.
    """

    name: str
    kind: SourceKind
    url: str | None = None
    path: str | None = None
    branch: str | None = None
    state: SourceState = "idle"
    last_commit: str | None = None
    last_success: datetime | None = None
    last_attempt: datetime | None = None
    last_error: dict[str, Any] | None = None
    consecutive_failures: int = 0
    next_sync_at: datetime | None = None
    files: int = 0
    counts: SyncCounts = field(default_factory=SyncCounts)
    findings: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    last_duration_ms: float | None = None
    held: dict[str, Any] | None = None
    reachable: bool | None = None
    last_fetch: datetime | None = None
    ready: bool = False
    waiting_for: str | None = None
    stale: bool = False

    def fetch_age_seconds(self, now: datetime | None = None) -> float | None:
        if self.last_fetch is None:
            return None
        return max(0.0, ((now or utcnow()) - self.last_fetch).total_seconds())

    def to_dict(self) -> dict[str, Any]:
        age = self.fetch_age_seconds()
        return {
            "name": self.name,
            "kind": self.kind.value,
            "url": self.url,
            "path": self.path,
            "branch": self.branch,
            "state": self.state,
            "last_commit": self.last_commit,
            "last_success": _time(self.last_success),
            "last_attempt": _time(self.last_attempt),
            "last_error": dict(self.last_error) if self.last_error is not None else None,
            "consecutive_failures": self.consecutive_failures,
            "next_sync_at": _time(self.next_sync_at),
            "files": self.files,
            "counts": self.counts.to_dict(),
            "findings": {path: list(items) for path, items in self.findings.items()},
            "last_duration_ms": round(self.last_duration_ms, 3) if self.last_duration_ms is not None else None,
            "held": dict(self.held) if self.held is not None else None,
            "reachable": self.reachable,
            "last_fetch": _time(self.last_fetch),
            "last_fetch_age_seconds": round(age, 3) if age is not None else None,
            "ready": self.ready,
            "waiting_for": self.waiting_for,
            "stale": self.stale,
        }

    def copy(self) -> SourceStatus:
        """A snapshot a caller may keep while the source goes on syncing."""
        return replace(
            self,
            last_error=dict(self.last_error) if self.last_error is not None else None,
            counts=SyncCounts(**self.counts.to_dict()),
            findings={path: list(items) for path, items in self.findings.items()},
            held=dict(self.held) if self.held is not None else None,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, base: SourceStatus) -> SourceStatus:
        """The status another replica stored (``to_dict`` output), over ``base`` (the names
        from this replica's configuration); unknown or malformed keys are ignored."""
        status = base.copy()
        names = {f.name for f in fields(cls)} - {"name", "kind", "url", "path", "branch", "counts"}
        times = {"last_success", "last_attempt", "next_sync_at", "last_fetch"}
        for key in names & data.keys():
            value = data[key]
            if key in times:
                value = _parse_time(value)
            setattr(status, key, value)
        counts = data.get("counts")
        if isinstance(counts, dict):
            known = {f.name for f in fields(SyncCounts)}
            status.counts = SyncCounts(**{k: int(v) for k, v in counts.items() if k in known})
        return status


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
