"""Every rule id the catalog can report, as ``nestor-catalog rules`` lists them and the SARIF
report's rule table names them (``_reports``): without click, which ``validate --format sarif``
does not import (``_console``).
"""

from __future__ import annotations

from typing import Any

from nestor_catalog_core.validation import RULES

__all__ = ["COMPATIBILITY", "rule_table"]

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
