"""What ``nestor-catalog validate`` does once its arguments are parsed, without click.

``validate`` (the click command) and the console script's fast path (``_console``, which
parses the common argument lists itself so that a one-file run never imports click: issue
13) both run ``run_validate``.
"""

from __future__ import annotations

import gc
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final

from nestor_catalog_core.cli._output import emit_report, progress
from nestor_catalog_core.loading import (
    DEFAULT_MAX_FILE_SIZE,
    LoadedDocument,
    LoadOptions,
    discover,
    ignored_below,
    iter_load,
    load_file,
)
from nestor_catalog_core.models.findings import Finding, Severity
from nestor_catalog_core.validation._issues import Issue
from nestor_catalog_core.validation.documents import ValidationSettings, validate_document, validate_document_view

if TYPE_CHECKING:
    from nestor_catalog_core.models._views import DefinitionLike, DefinitionView
    from nestor_catalog_core.models.definition import ResourceDefinition

__all__ = [
    "DEFAULT_SUNSET_WARNING_DAYS",
    "TreeReport",
    "no_definitions",
    "parse_size",
    "run_validate",
    "sunset_findings",
    "validate_tree",
]

#: Compiled (by ``re``'s cache) when a size is given as text: the default is a number.
_SIZE: Final = r"\s*(\d+)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?\s*\Z"
_UNITS: Final = {"": 1, "b": 1, "k": 1024, "kb": 1000, "kib": 1024, "m": 1024**2, "mb": 1000**2, "mib": 1024**2}
_UNITS.update({"g": 1024**3, "gb": 1000**3, "gib": 1024**3})
#: How many days before a sunset date ``validate`` and ``check-compat`` start warning.
DEFAULT_SUNSET_WARNING_DAYS: Final = 30


def parse_size(text: str) -> int | None:
    """``1048576``, ``512KiB``, ``2MiB``, ``1MB`` in bytes; ``None`` for anything else or 0."""
    match = re.match(_SIZE, text, re.IGNORECASE)
    if match is None or int(match.group(1)) < 1:
        return None
    return int(match.group(1)) * _UNITS[(match.group(2) or "").lower()]


@dataclass(slots=True)
class TreeReport:
    """What validating a set of files found: counts and every finding, in file order."""

    files: int = 0
    definitions: int = 0
    findings: list[Finding] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)  # every file read, as findings name it


@dataclass(frozen=True, slots=True)
class _Seen:
    """Where the first definition of a (name, version) is: file, document index, position.

    Neither its document nor its model: keeping 10,000 node graphs or models alive makes
    every full garbage collection walk them all, which cost more than validating. The first
    definition is read again only when a duplicate shows up.
    """

    file: str
    index: int
    where: str


def validate_tree(
    paths: Sequence[Path],
    *,
    options: LoadOptions,
    settings: ValidationSettings,
    show_progress: bool = False,
    sunset_warning_days: int | None = DEFAULT_SUNSET_WARNING_DAYS,
) -> TreeReport:
    """Load and validate every definition under ``paths``; the same name and version twice
    is a ``DUPLICATE_VERSION`` finding (an error when their contents differ).

    ``show_progress`` draws a bar on stderr when it is a terminal and the tree is large.
    ``sunset_warning_days`` (None: off) adds ``SUNSET_NEAR``/``SUNSET_PASSED`` warnings.
    """
    report = TreeReport()
    today = datetime.now(UTC).date()
    seen: dict[tuple[str, str], _Seen] = {}
    total = len(discover(paths, options=options)) if show_progress and _stderr_is_terminal() else 0
    with progress(total, label="validating") as advance:
        for result in iter_load(paths, options=options):
            report.files += 1
            report.checked.append(result.file)
            report.findings.extend(result.findings)
            for document in result.documents:
                report.definitions += 1
                # A view, not the model: the same findings without importing pydantic (start-up).
                definition, findings = validate_document_view(document, settings)
                report.findings.extend(findings)
                if definition is not None:
                    report.findings.extend(_duplicates(definition, document, seen, options, settings))
                    if sunset_warning_days is not None:
                        report.findings.extend(
                            sunset_findings(definition, document, today=today, warning_days=sunset_warning_days)
                        )
            advance(1)
    return report


def sunset_findings(
    definition: DefinitionLike, document: LoadedDocument, *, today: date, warning_days: int
) -> list[Finding]:
    """``SUNSET_PASSED`` when the definition's sunset date has come (the catalog no longer
    resolves it as latest or by constraint), ``SUNSET_NEAR`` when it is at most
    ``warning_days`` away: warnings, so teams plan the migration before consumers break."""
    deprecation = definition.metadata.deprecation
    if deprecation is None or deprecation.sunset is None:
        return []
    days = (deprecation.sunset - today).days
    path = ("metadata", "deprecation", "sunset")
    name = f"{definition.name} {definition.version}"
    if days <= 0:
        since = "today" if days == 0 else f"{-days} day{'' if days == -1 else 's'} ago"
        message = (
            f"{name} reached its sunset date {deprecation.sunset.isoformat()} {since}: the catalog no longer "
            "resolves it as latest or by constraint (exact fetches still work); move consumers to "
            f"{deprecation.replacement or 'a replacement'} or remove the version"
        )
        return [Issue("SUNSET_PASSED", path, message, severity=Severity.WARNING).finding(document)]
    if days <= warning_days:
        message = (
            f"{name} reaches its sunset date {deprecation.sunset.isoformat()} in {days} day{'' if days == 1 else 's'}: "
            "from then on it no longer resolves as latest or by constraint"
        )
        return [Issue("SUNSET_NEAR", path, message, severity=Severity.WARNING).finding(document)]
    return []


def no_definitions(paths: Sequence[Path], files: int) -> Finding:
    """The ``NO_DEFINITIONS`` error for a run that found nothing to validate."""
    shown = ", ".join(str(path) for path in paths) or "the paths given (all ignored)"
    read = f"{files} file{'' if files == 1 else 's'} read" if files else "no *.yaml, *.yml or *.json file found"
    message = (
        f"no definitions under {shown} ({read}): nothing was validated; check the paths and any "
        ".nestorignore, or pass --allow-empty if an empty tree is expected"
    )
    return Finding("NO_DEFINITIONS", Severity.ERROR, "", message, str(paths[0]) if paths else None)


def _reread(seen: _Seen, options: LoadOptions, settings: ValidationSettings) -> ResourceDefinition | None:
    for document in load_file(Path(seen.file), options=options).documents:
        if document.index == seen.index:
            return validate_document(document, settings).definition
    return None


def _digest(definition: ResourceDefinition | None) -> str | None:
    return None if definition is None else definition.compute_digest()


@contextmanager
def _imports_frozen() -> Iterator[None]:
    """Keep full garbage collections off the objects that already exist (modules, pydantic's
    validators, click's commands): they outlive the run, and walking them again on every full
    collection costs about 8% of validating 10,000 files. Unfrozen afterwards, so embedding
    callers (tests, other commands) keep normal collection."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _stderr_is_terminal() -> bool:
    return sys.stderr.isatty()


def _duplicates(
    definition: DefinitionView,
    document: LoadedDocument,
    seen: dict[tuple[str, str], _Seen],
    options: LoadOptions,
    settings: ValidationSettings,
) -> list[Finding]:
    key = definition.key
    first = seen.get(key)
    if first is None:
        line, column = document.position(("metadata", "version"))
        seen[key] = _Seen(document.file, document.index, f"{document.file}:{line}:{column}")
        return []
    # The digest needs the models (a view has no serializer): built here, for duplicates only.
    original = _digest(_reread(first, options, settings))
    same = original is not None and original == _digest(validate_document(document, settings).definition)
    where = first.where
    if same:
        issue = Issue(
            "DUPLICATE_VERSION",
            ("metadata", "version"),
            f"{key[0]} {key[1]} is also defined, identically, at {where}; delete one copy",
            severity=Severity.WARNING,
        )
    else:
        issue = Issue(
            "DUPLICATE_VERSION",
            ("metadata", "version"),
            f"{key[0]} {key[1]} is also defined at {where} with other content; a version is immutable, "
            "so give this content a new version",
        )
    return [issue.finding(document)]


def run_validate(
    paths: Sequence[Path],
    *,
    fmt: str = "text",
    fail_on: Severity = Severity.ERROR,
    no_strict: bool = False,
    no_schema: bool = False,
    no_policies: bool = False,
    max_file_size: int = DEFAULT_MAX_FILE_SIZE,
    sunset_warning_days: int = DEFAULT_SUNSET_WARNING_DAYS,
    force_exclude: bool = False,
    allow_empty: bool = False,
) -> int:
    """Validate ``paths`` and print the report as the ``validate`` command's options say;
    returns the exit code."""
    settings = ValidationSettings(
        strict_mode=not no_strict, schema_validation=not no_schema, policy_enforcement=not no_policies
    )
    options = LoadOptions(max_file_size=max_file_size)
    if force_exclude:
        paths = tuple(path for path in paths if not ignored_below(path, Path.cwd()))
    with _imports_frozen():
        report = validate_tree(
            list(paths),
            options=options,
            settings=settings,
            show_progress=fmt in ("text", "github"),
            sunset_warning_days=sunset_warning_days,
        )
    if report.definitions == 0 and not allow_empty:
        report.findings.append(no_definitions(paths, report.files))
    return emit_report(
        report.findings,
        fmt=fmt,
        files=report.files,
        definitions=report.definitions,
        fail_on=fail_on,
        checked=report.checked,
    )
