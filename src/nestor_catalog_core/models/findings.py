"""Findings: what loading, validation and compatibility checks report.

A finding always says which rule, how bad, which field (``spec.required_inputs[0].name``),
what to do, and where: file, 1-based line and column. Positions are ``None`` only when the
finding is about something that has no place in a file (an API publish of JSON without
positions, a whole-file problem reports line 1 column 1).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any

__all__ = ["Finding", "Severity", "format_field_path", "has_errors"]


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem: its rule, severity, field path and message, and where it was written."""

    rule: str
    severity: Severity
    field: str
    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["severity"] = self.severity.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        return cls(
            rule=str(data["rule"]),
            severity=Severity(data.get("severity", "error")),
            field=str(data.get("field", "")),
            message=str(data.get("message", "")),
            file=data.get("file"),
            line=data.get("line"),
            column=data.get("column"),
        )

    def located(self, file: str | None, line: int | None, column: int | None) -> Finding:
        return replace(self, file=file, line=line, column=column)

    def location(self) -> str:
        """``file:line:col`` (or what of it is known)."""
        parts = [self.file or "<input>"]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    def __str__(self) -> str:
        where = f" {self.field}:" if self.field else ""
        return f"{self.location()}: {self.severity.value} [{self.rule}]{where} {self.message}"


def has_errors(findings: list[Finding] | tuple[Finding, ...]) -> bool:
    return any(f.severity is Severity.ERROR for f in findings)


_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")


def format_field_path(path: tuple[str | int, ...] | list[str | int]) -> str:
    """``("spec", "required_inputs", 0, "name")`` -> ``spec.required_inputs[0].name``.

    Keys that are not plain identifiers are quoted so the path stays unambiguous:
    ``("metadata", "labels", "app.kubernetes.io/name")`` -> ``metadata.labels["app.kubernetes.io/name"]``.
    """
    out: list[str] = []
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif not _PLAIN_KEY.match(part):
            import json  # here: most paths are plain, and validate's start-up needs no json

            out.append(f"[{json.dumps(part, ensure_ascii=False)}]")
        elif out:
            out.append(f".{part}")
        else:
            out.append(str(part))
    return "".join(out)
