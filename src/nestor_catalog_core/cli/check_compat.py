"""``nestor-catalog check-compat``: semantic versioning checked before a change merges.

Three ways to call it:

- ``check-compat OLD NEW``: files or directories. Every version in NEW that OLD does not hold
  identically is compared with its predecessor.
- ``check-compat PATH``: one tree holding a whole history; each version is compared with its
  predecessor.
- ``check-compat --against GIT_REF [PATH]``: the working tree under PATH (default ``.``, files
  as they are on disk, committed or not) against the same path at GIT_REF (a branch, tag,
  commit, optionally with ``~N``/``^N``) of the enclosing repository, read with dulwich:
  nothing is checked out.

Versions of both sides are merged per name. A version's predecessor is the highest lower
version of the same name on either side (the OLD content when both sides hold it), as the
catalog compares a new version with the highest published one below it. The same name and
version with other content on both sides is ``IMMUTABLE_VERSION`` (always an error: the
catalog would reject it whatever ``--compatibility`` says). Files of the NEW side are
validated like ``validate`` does; on the OLD side only errors are reported, as warnings, since
they are not the change under review. With ``--against``, versions whose files are gone are
noted (``VERSION_WITHDRAWN``, info): the catalog will withdraw them.

Output and exit codes are ``validate``'s (``--format text|json|github``; 0 clean, 1 errors,
2 usage). ``text`` prints the findings that belong to no comparison, then per compared pair
a header (``aws-rds-mysql 1.2.0 -> 2.0.0: declared major, required major: ok``), one line per
change (``RULE field: old -> new (needs major)``) and the located findings of the changes that
need a larger bump. ``json`` adds ``comparisons`` (each report, with both values of every
change) to the ``{"files", "definitions", "findings"}`` object; ``github`` annotates every
finding.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any, Final, Literal, TextIO

import click
from dulwich.errors import NotGitRepository
from dulwich.object_store import tree_lookup_path
from dulwich.objects import Blob, Commit, ObjectID, Tree, TreeEntry
from dulwich.objectspec import parse_commit
from dulwich.repo import Repo

from nestor_catalog_core.cli._output import (
    emit_report,
    exit_code,
    in_ci,
    progress,
    summary_line,
)
from nestor_catalog_core.cli.validate import checking_options, sunset_findings
from nestor_catalog_core.loading import (
    DEFINITION_SUFFIXES,
    IGNORE_FILE,
    IgnoreRules,
    LoadedDocument,
    LoadOptions,
    LoadResult,
    discover,
    is_ignored,
    iter_load,
    load_bytes,
)
from nestor_catalog_core.models import utcnow
from nestor_catalog_core.models.definition import ResourceDefinition
from nestor_catalog_core.models.findings import Finding, Severity
from nestor_catalog_core.validation import ValidationSettings, validate_document
from nestor_catalog_core.versions import CompatReport, changed_fields, compare, is_version, predecessor, sort_versions

__all__ = [
    "Comparison",
    "CompatCheck",
    "GitRefError",
    "Side",
    "check_compat",
    "compare_sides",
    "git_tree_results",
    "read_side",
]

Compatibility = Literal["strict", "warn", "off"]

IMMUTABLE_VERSION: Final = "IMMUTABLE_VERSION"
DUPLICATE_VERSION: Final = "DUPLICATE_VERSION"
VERSION_WITHDRAWN: Final = "VERSION_WITHDRAWN"
_VERSION_PATH: Final = ("metadata", "version")
_REF_SUFFIX: Final = re.compile(r"(?P<base>.+?)(?P<steps>(?:[~^][0-9]*)*)")
_STEP: Final = re.compile(r"([~^])([0-9]*)")
_TYPE_MASK: Final = 0o170000
_TREE_MODE: Final = 0o040000
_GITLINK_MODE: Final = 0o160000
_SYMLINK_MODE: Final = 0o120000


@dataclass(frozen=True, slots=True)
class _Version:
    definition: ResourceDefinition
    document: LoadedDocument
    digest: str


@dataclass(slots=True)
class Side:
    """The definitions read from one side (OLD, NEW or the tree at a git ref)."""

    versions: dict[str, dict[str, _Version]] = field(default_factory=dict)
    files: int = 0
    definitions: int = 0
    findings: list[Finding] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    def add(self, version: _Version) -> _Version | None:
        """Record ``version``; returns the version already recorded under its name and
        version, if any (the first one is kept)."""
        by_version = self.versions.setdefault(version.definition.name, {})
        existing = by_version.get(version.definition.version)
        if existing is None:
            by_version[version.definition.version] = version
        return existing


@dataclass(frozen=True, slots=True)
class Comparison:
    """One version checked against its predecessor: the report and its findings (with the
    new file's positions)."""

    report: CompatReport
    file: str
    findings: tuple[Finding, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, **self.report.to_dict()}


@dataclass(slots=True)
class CompatCheck:
    """Everything a check found: counts, findings that belong to no comparison (loading,
    validation, immutability, withdrawals) and the comparisons."""

    files: int = 0
    definitions: int = 0
    findings: list[Finding] = field(default_factory=list)
    comparisons: list[Comparison] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)  # the NEW side's files

    def all_findings(self) -> list[Finding]:
        return [*self.findings, *(f for comparison in self.comparisons for f in comparison.findings)]


class GitRefError(click.UsageError):
    """The git repository or ref cannot be read (a usage error: exit 2)."""


# --- reading the sides --------------------------------------------------------------------


def read_side(
    results: Iterable[LoadResult],
    settings: ValidationSettings,
    *,
    baseline: bool = False,
    advance: Callable[[int], None] | None = None,
    sunset_warning_days: int | None = None,
) -> Side:
    """Validate every loaded document and collect the definitions by name and version.

    ``baseline`` (the OLD side) keeps only error findings, downgraded to warnings, and drops
    duplicates silently; otherwise every finding is kept and a second definition of the same
    name and version is ``DUPLICATE_VERSION`` (an error when the contents differ).
    """
    side = Side()
    today = utcnow().date()
    for result in results:
        if advance is not None:
            advance(1)
        side.files += 1
        if not baseline:
            side.checked.append(result.file)
        side.findings.extend(_as_baseline(result.findings) if baseline else result.findings)
        for document in result.documents:
            side.definitions += 1
            validated = validate_document(document, settings)
            side.findings.extend(_as_baseline(validated.findings) if baseline else validated.findings)
            definition = validated.definition
            if definition is None:
                continue
            if sunset_warning_days is not None and not baseline:
                side.findings.extend(
                    sunset_findings(definition, document, today=today, warning_days=sunset_warning_days)
                )
            if not is_version(definition.version):
                side.findings.append(_not_orderable(definition, document))
                continue
            version = _Version(definition, document, definition.compute_digest())
            existing = side.add(version)
            if existing is not None and not baseline:
                side.findings.append(_duplicate(version, existing))
    return side


def _as_baseline(findings: Iterable[Finding]) -> list[Finding]:
    return [replace(f, severity=Severity.WARNING) for f in findings if f.severity is Severity.ERROR]


def _finding(rule: str, severity: Severity, message: str, document: LoadedDocument) -> Finding:
    line, column = document.position(_VERSION_PATH)
    return Finding(rule, severity, "metadata.version", message, document.file, line, column)


def _where(document: LoadedDocument) -> str:
    line, column = document.position(_VERSION_PATH)
    return f"{document.file}:{line}:{column}"


def _not_orderable(definition: ResourceDefinition, document: LoadedDocument) -> Finding:
    message = f"{definition.version!r} is not a SemVer 2.0.0 version this catalog can order; it was not compared"
    return _finding("VERSION_FORMAT", Severity.ERROR, message, document)


def _duplicate(version: _Version, first: _Version) -> Finding:
    name, number = version.definition.key
    if version.digest == first.digest:
        message = f"{name} {number} is also defined, identically, at {_where(first.document)}; delete one copy"
        return _finding(DUPLICATE_VERSION, Severity.WARNING, message, version.document)
    message = (
        f"{name} {number} is also defined at {_where(first.document)} with other content; a version is "
        "immutable, so give this content a new version"
    )
    return _finding(DUPLICATE_VERSION, Severity.ERROR, message, version.document)


# --- the git side -------------------------------------------------------------------------


def git_tree_results(path: Path, ref: str, *, options: LoadOptions) -> Iterator[LoadResult]:
    """Load the definition files under ``path`` as they are at ``ref`` in the enclosing git
    repository: the same files a walk of the working tree would read (hidden entries
    skipped, ``.nestorignore`` honoured, sorted). Files are named ``REF:repo/relative/path``.
    Symlinks and submodules at the ref are not followed. Raises ``GitRefError``."""
    try:
        repo = Repo.discover(str(path))
    except NotGitRepository as exc:
        raise GitRefError(f"{path} is not inside a git repository") from exc
    with repo:
        root = Path(repo.path).resolve()
        try:
            relative = PurePosixPath(path.resolve().relative_to(root).as_posix())
        except ValueError as exc:
            raise GitRefError(f"{path} is outside the repository at {root}") from exc
        tree_id = _resolve_commit(repo, ref).tree
        if relative.parts:
            try:
                mode, tree_id = tree_lookup_path(repo.object_store.__getitem__, tree_id, relative.as_posix().encode())
            except KeyError:
                return  # the path did not exist at the ref: nothing to compare against
            if mode & _TYPE_MASK != _TREE_MODE:
                files: Iterable[tuple[PurePosixPath, ObjectID]] = [] if mode == _SYMLINK_MODE else [(relative, tree_id)]
            else:
                files = _walk_tree(repo, tree_id, relative, ())
        else:
            files = _walk_tree(repo, tree_id, relative, ())
        for file_path, blob_id in files:
            blob = repo.object_store[blob_id]
            if isinstance(blob, Blob):
                display = f"{ref}:{file_path.as_posix()}"
                yield load_bytes(blob.as_raw_string(), display, options=options, suffix=file_path.suffix)


def _resolve_commit(repo: Repo, ref: str) -> Commit:
    """A commit for ``ref``: anything dulwich's ``parse_commit`` takes, followed by git's
    ``~N`` (N-th first-parent ancestor) and ``^N`` (N-th parent) steps."""
    match = _REF_SUFFIX.fullmatch(ref)
    if match is None:
        raise GitRefError(f"unknown git ref {ref!r}")
    try:
        commit = parse_commit(repo, match["base"])
        for kind, count in _STEP.findall(match["steps"]):
            number = int(count) if count else 1
            if kind == "~":
                for _ in range(number):
                    commit = _commit(repo, commit.parents[0])
            elif number:
                commit = _commit(repo, commit.parents[number - 1])
    except (KeyError, IndexError, ValueError) as exc:
        raise GitRefError(f"unknown git ref {ref!r} in {repo.path}") from exc
    return commit


def _commit(repo: Repo, sha: ObjectID) -> Commit:
    obj = repo[sha]
    if not isinstance(obj, Commit):
        raise ValueError(f"{sha.decode()} is not a commit")
    return obj


def _walk_tree(
    repo: Repo, tree_id: ObjectID, directory: PurePosixPath, scopes: tuple[IgnoreRules, ...]
) -> Iterator[tuple[PurePosixPath, ObjectID]]:
    """``(path, blob id)`` of the definition files below ``directory``, in the order the
    loader's working-tree walk reads them."""
    tree = repo.object_store[tree_id]
    if not isinstance(tree, Tree):
        return
    entries = sorted((entry.path.decode("utf-8", "surrogateescape"), entry) for entry in tree.items())
    ignore = _ignore_rules(repo, entries, directory)
    if ignore is not None:
        scopes = (*scopes, ignore)
    for name, entry in entries:
        if name.startswith(".") or entry.mode in (_GITLINK_MODE, _SYMLINK_MODE):
            continue
        path = directory / name
        is_dir = entry.mode & _TYPE_MASK == _TREE_MODE
        if scopes and is_ignored(scopes, path, is_dir=is_dir):
            continue
        if is_dir:
            yield from _walk_tree(repo, entry.sha, path, scopes)
        elif path.suffix.lower() in DEFINITION_SUFFIXES:
            yield path, entry.sha


def _ignore_rules(repo: Repo, entries: Sequence[tuple[str, TreeEntry]], directory: PurePosixPath) -> IgnoreRules | None:
    """The ``.nestorignore`` of ``directory`` at the ref, parsed as the loader parses it."""
    for name, entry in entries:
        blob = repo.object_store[entry.sha] if name == IGNORE_FILE else None
        if isinstance(blob, Blob):
            return IgnoreRules.parse(directory, blob.as_raw_string().decode("utf-8", "replace"))
    return None


# --- comparing ----------------------------------------------------------------------------


def compare_sides(
    old: Side, new: Side, *, compatibility: Compatibility = "strict", note_withdrawn: bool = False
) -> CompatCheck:
    """Check every version of ``new`` that ``old`` does not hold identically: immutability
    against ``old``, compatibility against its predecessor in ``old`` and ``new``.
    ``compatibility='warn'`` turns compatibility errors into warnings; ``'off'`` skips them."""
    check = CompatCheck(
        files=old.files + new.files,
        definitions=old.definitions + new.definitions,
        findings=[*old.findings, *new.findings],
        checked=list(new.checked),
    )
    for name in sorted(old.versions.keys() | new.versions.keys()):
        published = old.versions.get(name, {})
        proposed = new.versions.get(name, {})
        merged = {**proposed, **published}
        for version in sort_versions(merged):
            candidate = proposed.get(version)
            if candidate is None:
                if note_withdrawn:
                    check.findings.append(_withdrawn(published[version]))
                continue
            original = published.get(version)
            if original is not None:
                if original.digest == candidate.digest:
                    continue
                check.findings.append(_immutable(original, candidate))
            if compatibility == "off":
                continue
            previous = predecessor(version, merged)
            if previous is not None:
                check.comparisons.append(_compare(merged[previous], candidate, compatibility))
    return check


def _compare(previous: _Version, candidate: _Version, compatibility: Compatibility) -> Comparison:
    report = compare(previous.definition, candidate.definition)
    findings = report.findings(candidate.document.file, locate=candidate.document)
    if compatibility == "warn":
        findings = [replace(f, severity=Severity.WARNING) if f.is_error else f for f in findings]
    return Comparison(report, candidate.document.file, tuple(findings))


def _immutable(original: _Version, candidate: _Version) -> Finding:
    name, version = candidate.definition.key
    fields = ", ".join(changed_fields(original.definition, candidate.definition)) or "formatting of the data"
    message = (
        f"{name} {version} already exists at {_where(original.document)} with other content ({fields}); "
        "a published version never changes: give this content a new version"
    )
    return _finding(IMMUTABLE_VERSION, Severity.ERROR, message, candidate.document)


def _withdrawn(version: _Version) -> Finding:
    name, number = version.definition.key
    message = f"{name} {number} is no longer defined; the catalog will withdraw it (kept, but no longer resolved)"
    return _finding(VERSION_WITHDRAWN, Severity.INFO, message, version.document)


# --- output -------------------------------------------------------------------------------


def _emit(check: CompatCheck, *, fmt: str, fail_on: Severity, out: TextIO) -> int:
    findings = check.all_findings()
    if fmt == "json":
        payload = {
            "files": check.files,
            "definitions": check.definitions,
            "findings": [f.to_dict() for f in findings],
            "comparisons": [comparison.to_dict() for comparison in check.comparisons],
        }
        out.write(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
        out.flush()
        return exit_code(findings, fail_on=fail_on)
    if fmt != "text":
        return emit_report(
            findings,
            fmt=fmt,
            files=check.files,
            definitions=check.definitions,
            out=out,
            fail_on=fail_on,
            command="check-compat",
            checked=check.checked,
        )
    out.writelines(f"{finding}\n" for finding in check.findings)
    for comparison in check.comparisons:
        out.write(comparison.report.summary() + "\n")
        out.writelines(f"  {change.describe()}\n" for change in comparison.report.changes)
        out.writelines(f"{finding}\n" for finding in comparison.findings if finding.severity is not Severity.INFO)
    failing = sum(not comparison.report.ok for comparison in check.comparisons)
    steps = len(check.comparisons)
    out.write(f"{steps} version step{'' if steps == 1 else 's'} checked, {failing} with too small a bump\n")
    out.write(summary_line(findings, files=check.files, definitions=check.definitions) + "\n")
    out.flush()
    return exit_code(findings, fail_on=fail_on)


# --- the command --------------------------------------------------------------------------


def _read_tree(
    paths: list[Path], options: LoadOptions, settings: ValidationSettings, sunset_warning_days: int | None
) -> Side:
    """The NEW side, with a progress bar on a terminal for large trees (never in CI)."""
    total = len(discover(paths, options=options)) if sys.stderr.isatty() and not in_ci() else 0
    with progress(total, label="checking") as advance:
        return read_side(
            iter_load(paths, options=options), settings, advance=advance, sunset_warning_days=sunset_warning_days
        )


def _sides(
    paths: tuple[Path, ...],
    against: str | None,
    options: LoadOptions,
    settings: ValidationSettings,
    sunset_warning_days: int | None = None,
) -> tuple[Side, Side]:
    if against is not None:
        if len(paths) > 1:
            raise click.UsageError("with --against, give at most one PATH (the working tree to check, default '.')")
        path = paths[0] if paths else Path(".")
        old = read_side(git_tree_results(path, against, options=options), settings, baseline=True)
        return old, _read_tree([path], options, settings, sunset_warning_days)
    if len(paths) == 1:
        return Side(), _read_tree(list(paths), options, settings, sunset_warning_days)
    if len(paths) == 2:
        old = read_side(iter_load([paths[0]], options=options), settings, baseline=True)
        return old, _read_tree([paths[1]], options, settings, sunset_warning_days)
    raise click.UsageError("give OLD NEW, a single PATH holding a whole history, or --against GIT_REF [PATH]")


@click.command("check-compat")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--against",
    metavar="GIT_REF",
    help="Compare the working tree under PATH with the same path at this git ref (branch, tag, commit, HEAD~1).",
)
@click.option(
    "--compatibility",
    type=click.Choice(["strict", "warn", "off"]),
    default="strict",
    show_default=True,
    help="strict: a too-small bump is an error; warn: a warning; off: check immutability and validity only.",
)
@checking_options
def check_compat(
    paths: tuple[Path, ...],
    against: str | None,
    compatibility: Compatibility,
    fmt: str,
    fail_on: Severity,
    no_strict: bool,
    no_schema: bool,
    no_policies: bool,
    max_file_size: int,
    sunset_warning_days: int,
) -> None:
    """Check that version bumps match the changes: OLD NEW, PATH (a whole history), or
    --against GIT_REF [PATH].

    Every version is compared with the highest lower version of the same name; each change
    is listed with its rule id, field, both values and the bump it needs. Exit status: 0
    when clean, 1 when a bump is too small (or another error), 2 for usage errors.
    """
    settings = ValidationSettings(
        strict_mode=not no_strict, schema_validation=not no_schema, policy_enforcement=not no_policies
    )
    options = LoadOptions(max_file_size=max_file_size)
    old, new = _sides(paths, against, options, settings, sunset_warning_days)
    check = compare_sides(old, new, compatibility=compatibility, note_withdrawn=against is not None)
    raise SystemExit(_emit(check, fmt=fmt, fail_on=fail_on, out=sys.stdout))
