"""``nestor-catalog rules``: every rule id with its severity, layer, meaning and fix."""

from __future__ import annotations

import json
import sys

import click

from nestor_catalog_core.validation import RULES, Layer

__all__ = ["rules"]


@click.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option(
    "--layer",
    "layers",
    multiple=True,
    type=click.Choice([layer.value for layer in Layer]),
    help="Only rules of this layer (repeatable).",
)
def rules(fmt: str, layers: tuple[str, ...]) -> None:
    """List the rule ids that validation reports, with what each means and how to fix it."""
    selected = [r for r in RULES.values() if not layers or r.layer.value in layers]
    if fmt == "json":
        rows = [
            {"rule": r.id, "severity": r.severity.value, "layer": r.layer.value, "summary": r.summary, "fix": r.fix}
            for r in selected
        ]
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    width = max((len(r.id) for r in selected), default=0)
    for r in selected:
        click.echo(f"{r.id:<{width}}  {r.severity.value:<7}  {r.layer.value:<9}  {r.summary}")
        click.echo(f"{'':<{width}}  {'':<7}  {'':<9}  fix: {r.fix}")
