"""``nestor-catalog schema`` and ``nestor-catalog inputs-schema FILE``: JSON Schemas to stdout."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from nestor_catalog_core.cli._output import EXIT_FINDINGS, EXIT_USAGE, emit_report
from nestor_catalog_core.loading import LoadOptions, load_file
from nestor_catalog_core.models.definition import ResourceDefinition
from nestor_catalog_core.models.findings import Finding, Severity
from nestor_catalog_core.validation import (
    ValidationSettings,
    definition_json_schema,
    inputs_json_schema,
    validate_document,
)

__all__ = ["inputs_schema", "schema"]


def _print_json(data: Any, indent: int) -> None:
    sys.stdout.write(json.dumps(data, indent=indent or None, ensure_ascii=False) + "\n")


@click.command()
@click.option("--indent", type=click.IntRange(0, 8), default=2, show_default=True, help="0 prints one line.")
def schema(indent: int) -> None:
    """Print the JSON Schema (Draft 2020-12) of a ResourceDefinition.

    Save it for editors: nestor-catalog schema > resource-definition.schema.json
    """
    _print_json(definition_json_schema(), indent)


@click.command("inputs-schema")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", help="Which definition, when FILE holds several.")
@click.option("--indent", type=click.IntRange(0, 8), default=2, show_default=True, help="0 prints one line.")
def inputs_schema(file: Path, name: str | None, indent: int) -> None:
    """Print the JSON Schema of the inputs of the definition in FILE.

    Form renderers and consumers in any language validate their users' values with it.
    An invalid definition prints its findings on stderr and exits 1.
    """
    definitions, findings = _definitions(file)
    if any(f.severity is Severity.ERROR for f in findings):
        emit_report(findings, fmt="text", files=1, definitions=len(definitions), out=sys.stderr)
        raise SystemExit(EXIT_FINDINGS)
    chosen = _choose(definitions, name, file)
    _print_json(inputs_json_schema(chosen), indent)


def _definitions(file: Path) -> tuple[list[ResourceDefinition], list[Finding]]:
    result = load_file(file, options=LoadOptions())
    findings = list(result.findings)
    definitions = []
    for document in result.documents:
        validated = validate_document(document, ValidationSettings())
        findings.extend(validated.findings)
        if validated.definition is not None:
            definitions.append(validated.definition)
    return definitions, findings


def _choose(definitions: list[ResourceDefinition], name: str | None, file: Path) -> ResourceDefinition:
    matching = [d for d in definitions if name is None or d.metadata.name == name]
    if len(matching) == 1:
        return matching[0]
    available = ", ".join(f"{d.metadata.name} {d.metadata.version}" for d in definitions) or "none"
    if not matching:
        problem = f"no definition named {name!r} in {file}" if name else f"{file} holds no definition"
    else:
        problem = f"{file} holds {len(matching)} definitions; choose one with --name"
    click.echo(f"Error: {problem} (found: {available})", err=True)
    raise SystemExit(EXIT_USAGE)
