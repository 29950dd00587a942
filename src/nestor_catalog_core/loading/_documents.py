"""What loading returns: options, documents that remember where each node was, results per file."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

from nestor_catalog_core._exceptions import ConfigError
from nestor_catalog_core.models.findings import Finding, Severity

__all__ = [
    "DEFAULT_MAX_ALIAS_EXPANSION",
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_FILE_SIZE",
    "LoadOptions",
    "LoadResult",
    "LoadedDocument",
    "Locator",
    "Position",
    "load_finding",
]

DEFAULT_MAX_FILE_SIZE: Final = 1024 * 1024
DEFAULT_MAX_ALIAS_EXPANSION: Final = 10_000
DEFAULT_MAX_DEPTH: Final = 100

Position = tuple[int, int]


@dataclass(frozen=True, slots=True)
class LoadOptions:
    """Limits that keep loading safe on hostile input.

    ``max_alias_expansion`` counts the nodes visited a second time or more because an alias
    reuses them (a billion-laughs document hits it after a few thousand steps, not after
    building gigabytes); the text reached through aliases is also capped at ``max_file_size``
    characters. ``root``: files whose real path (symlinks resolved) is outside it are refused.
    ``max_depth`` bounds nesting, so no walk ever meets Python's recursion limit.
    """

    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    max_alias_expansion: int = DEFAULT_MAX_ALIAS_EXPANSION
    root: Path | None = None
    max_depth: int = DEFAULT_MAX_DEPTH

    def __post_init__(self) -> None:
        for name in ("max_file_size", "max_alias_expansion", "max_depth"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"LoadOptions.{name} must be a positive integer, got {value!r}")


class Locator(Protocol):
    """Maps a data path to the 1-based (line, column) where it was written."""

    def locate(self, path: Sequence[str | int], *, key: bool) -> Position: ...


@dataclass(frozen=True, slots=True)
class LoadedDocument:
    """One document of a file as plain JSON-like data, plus what it takes to find its nodes.

    Positions are computed only when asked for (``position``): a clean document never pays
    for a path map. Documents made without a locator (``validate_data`` on API payloads)
    have ``positioned == False`` and report every position as 1:1.
    """

    file: str
    index: int
    data: Any
    locator: Locator | None = field(default=None, repr=False, compare=False)

    @property
    def positioned(self) -> bool:
        return self.locator is not None

    def position(self, path: Sequence[str | int], *, key: bool = False) -> Position:
        """1-based ``(line, column)`` of the node at ``path``.

        ``key=True`` gives the position of the mapping key instead of its value. Scalars
        report their value; mappings and lists reached through a key report that key (where
        a reader looks for ``required_inputs:``). A path that does not exist (a missing
        field) reports its nearest existing ancestor the same way.
        """
        if self.locator is None:
            return (1, 1)
        return self.locator.locate(path, key=key)


@dataclass(slots=True)
class LoadResult:
    """Everything read from one file: its catalog documents and the findings about it.

    ``documents`` holds only ``apiVersion: catalog.nestor.io/v1`` documents that loaded
    without errors; a document with a load error is left out (its findings say why), and
    documents of other APIs are skipped with an info finding.
    """

    file: str
    documents: list[LoadedDocument] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(f.severity is Severity.ERROR for f in self.findings)


def load_finding(
    rule: str,
    message: str,
    file: str,
    position: Position = (1, 1),
    *,
    field: str = "",
    severity: Severity = Severity.ERROR,
) -> Finding:
    return Finding(
        rule=rule,
        severity=severity,
        field=field,
        message=message,
        file=file,
        line=position[0],
        column=position[1],
    )
