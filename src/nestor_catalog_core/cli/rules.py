"""``nestor-catalog rules``: every rule id with its severity, layer, meaning and fix.

Loading, structure, policy, inputs and tree rules come from ``validation.RULES``; the
compatibility rules of ``check-compat`` from ``versions.RULES`` (each with the smallest
version bump it needs), so one command lists every id the catalog can report.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from nestor_catalog_core.validation import RULES, Layer

__all__ = ["COMPATIBILITY", "rule_table", "rules"]

COMPATIBILITY = "compatibility"


def rule_table() -> list[dict[str, Any]]:
    """Every rule id the catalog reports: ``{rule, severity, layer, summary, fix}`` rows."""
    rows = [
        {"rule": r.id, "severity": r.severity.value, "layer": r.layer.value, "summary": r.summary, "fix": r.fix}
        for r in RULES.values()
    ]
    from nestor_catalog_core.versions import BUMP_TOO_SMALL, VERSION_NOT_INCREASED
    from nestor_catalog_core.versions import RULES as CHANGE_RULES

    for rule_id, bump in CHANGE_RULES.items():
        rows.append(
            {
                "rule": rule_id,
                "severity": "error",
                "layer": COMPATIBILITY,
                "summary": (
                    f"A change that needs at least a {bump.name.lower()} version bump "
                    "(an error only when the declared bump is smaller)."
                ),
                "fix": f"Release the change as a new {bump.name.lower()} version, or undo it.",
            }
        )
    rows.append(
        {
            "rule": BUMP_TOO_SMALL,
            "severity": "error",
            "layer": COMPATIBILITY,
            "summary": "The declared version bump is smaller than the changes need.",
            "fix": "Raise the version as the message says, or undo the breaking changes.",
        }
    )
    rows.append(
        {
            "rule": VERSION_NOT_INCREASED,
            "severity": "error",
            "layer": COMPATIBILITY,
            "summary": "The new version is not higher than the previous one.",
            "fix": "Give the new content a higher version; published versions never change.",
        }
    )
    rows.append(
        {
            "rule": "IMMUTABLE_VERSION",
            "severity": "error",
            "layer": COMPATIBILITY,
            "summary": "A published version (or the version at the compared ref) has other content here.",
            "fix": "Published versions never change: give the new content a new version.",
        }
    )
    rows.append(
        {
            "rule": "VERSION_WITHDRAWN",
            "severity": "info",
            "layer": COMPATIBILITY,
            "summary": "A version defined at the compared ref is no longer defined; the catalog will withdraw it.",
            "fix": "Nothing, if intended; restore the file to keep the version resolvable.",
        }
    )
    return rows


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
