"""``nestor-catalog rules``: every rule id with its severity, layer, meaning and fix.

Loading, structure, policy, inputs and tree rules come from ``validation.RULES``; the
compatibility rules of ``check-compat`` from ``versions.RULES`` (each with the smallest
version bump it needs), so one command lists every id the catalog can report.
"""

from __future__ import annotations

import json
import sys

import click

from nestor_catalog_core.cli._rule_table import COMPATIBILITY, rule_table
from nestor_catalog_core.validation import Layer

__all__ = ["COMPATIBILITY", "rule_table", "rules"]


@click.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option(
    "--layer",
    "layers",
    multiple=True,
    type=click.Choice([*(layer.value for layer in Layer), COMPATIBILITY]),
    help="Only rules of this layer (repeatable).",
)
def rules(fmt: str, layers: tuple[str, ...]) -> None:
    """List the rule ids that validation and check-compat report, with what each means and how to fix it."""
    selected = [row for row in rule_table() if not layers or row["layer"] in layers]
    if fmt == "json":
        sys.stdout.write(json.dumps(selected, indent=2) + "\n")
        return
    width = max((len(row["rule"]) for row in selected), default=0)
    for row in selected:
        click.echo(f"{row['rule']:<{width}}  {row['severity']:<7}  {row['layer']:<13}  {row['summary']}")
        click.echo(f"{'':<{width}}  {'':<7}  {'':<13}  fix: {row['fix']}")
