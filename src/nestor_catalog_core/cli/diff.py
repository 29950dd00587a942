"""``nestor-catalog diff OLD NEW``: every change between two versions of a definition.

OLD and NEW are files (YAML or JSON). When a file holds several definitions, ``--name``
chooses the one to compare. The report is the compatibility engine's (the same body as the
server's ``GET /api/v1/resources/{name}/diff``): each change with its rule id, field, both
values and the bump it needs, the bump the version numbers declare and whether it covers them.

Formats: ``text`` (a header and one ``RULE field: old -> new (needs major)`` line per change),
``json`` (the report object), ``github`` (a workflow annotation per change on NEW's lines:
notices, errors for changes that need a larger bump than declared).

Exit status, as ``git diff``: 0 after a successful comparison, whatever it found; with
``--exit-code``, 1 when there are changes. Files that do not hold a usable definition print
their findings and exit 1; usage errors exit 2.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TextIO

import click

from nestor_catalog_core.cli._output import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, emit_report, github_annotation
from nestor_catalog_core.loading import LoadedDocument, load_file
from nestor_catalog_core.models.definition import ResourceDefinition
from nestor_catalog_core.models.findings import Finding
from nestor_catalog_core.validation import ValidationSettings, validate_document
from nestor_catalog_core.versions import CompatReport, compare

__all__ = ["diff", "emit_diff", "read_definition"]

#: Policies are about publishing, not about comparing: a draft with a policy finding still diffs.
_SETTINGS = ValidationSettings(policy_enforcement=False)


class _Unusable(Exception):
    def __init__(self, findings: list[Finding], message: str | None = None) -> None:
        super().__init__(message or "no usable definition")
        self.findings = findings
        self.message = message


def read_definition(path: Path, name: str | None) -> tuple[ResourceDefinition, LoadedDocument]:
    """The definition in ``path`` (the one named ``name`` when there are several) and the
    document it came from; raises ``_Unusable`` with the findings that stopped it."""
    result = load_file(path)
    findings = list(result.findings)
    built: list[tuple[ResourceDefinition, LoadedDocument]] = []
    for document in result.documents:
        validated = validate_document(document, _SETTINGS)
        findings.extend(f for f in validated.findings if f.is_error)
        if validated.definition is not None:
            built.append((validated.definition, document))
    chosen = [item for item in built if name is None or item[0].name == name]
    if len(chosen) == 1:
        return chosen[0]
    if not chosen and findings:
        raise _Unusable(findings)
    if not chosen:
        wanted = f" named {name!r}" if name is not None else ""
        found = ", ".join(sorted({d.name for d, _ in built})) or "none"
        raise _Unusable([], f"{path}: no definition{wanted} (definitions found: {found})")
    names = ", ".join(f"{d.name} {d.version}" for d, _ in chosen)
    raise _Unusable([], f"{path} holds several definitions ({names}); choose one with --name")


def emit_diff(report: CompatReport, *, fmt: str, file: str, document: LoadedDocument, out: TextIO) -> None:
    """Print ``report`` in ``fmt``; ``file``/``document`` locate changes for ``github``."""
    if fmt == "json":
        out.write(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n")
    elif fmt == "github":
        out.writelines(github_annotation(f) + "\n" for f in report.findings(file, locate=document))
        out.write(_footer(report) + "\n")
    else:
        out.write(report.summary() + "\n")
        out.writelines(f"  {change.describe()}\n" for change in report.changes)
        out.write(_footer(report) + "\n")
    out.flush()


def _footer(report: CompatReport) -> str:
    count = len(report.changes)
    if not count:
        return "no changes"
    return f"{count} change{'' if count == 1 else 's'}, the largest needs a {report.required.label} bump"


@click.command("diff")
@click.argument("old", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("new", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", help="The definition to compare when a file holds several.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    show_default=True,
    help="text for people, json for tools (the report object), github for workflow annotations.",
)
@click.option("--exit-code", is_flag=True, help="Exit 1 when there are changes (as git diff --exit-code).")
def diff(old: Path, new: Path, name: str | None, fmt: str, exit_code: bool) -> None:
    """List every change from OLD to NEW (two files of one definition) with its rule id,
    field, both values and the version bump it needs.

    Exit status: 0 (with --exit-code: 1 when something changed), 1 when a file holds no
    usable definition, 2 for usage errors.
    """
    try:
        old_definition, _ = read_definition(old, name)
        new_definition, new_document = read_definition(new, name)
    except _Unusable as exc:
        if exc.message is not None and not exc.findings:
            click.echo(f"nestor-catalog diff: {exc.message}", err=True)
            raise SystemExit(EXIT_USAGE) from None
        emit_report(exc.findings, fmt="github" if fmt == "github" else "text", files=1, definitions=0, out=sys.stderr)
        raise SystemExit(EXIT_FINDINGS) from None
    if old_definition.name != new_definition.name:
        click.echo(
            f"nestor-catalog diff: {old} holds {old_definition.name!r} and {new} holds {new_definition.name!r}; "
            "a diff compares two versions of one definition",
            err=True,
        )
        raise SystemExit(EXIT_USAGE)
    report = compare(old_definition, new_definition)
    emit_diff(report, fmt=fmt, file=str(new), document=new_document, out=sys.stdout)
    raise SystemExit(EXIT_FINDINGS if exit_code and report.changes else EXIT_OK)
