"""Issues: findings that still know their data path, so they can be placed in a file later."""

from __future__ import annotations

from dataclasses import dataclass

from nestor_catalog_core.loading import LoadedDocument
from nestor_catalog_core.models.findings import Finding, Severity, format_field_path
from nestor_catalog_core.validation.rules import rule

__all__ = ["DataPath", "Issue", "describe_value"]

DataPath = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Issue:
    """A rule broken at ``path``; ``key`` places it on the mapping key rather than the value."""

    rule: str
    path: DataPath
    message: str
    key: bool = False
    severity: Severity | None = None

    def finding(self, document: LoadedDocument | None = None, *, file: str | None = None) -> Finding:
        """The issue as a ``Finding``, positioned in ``document`` when it has positions."""
        line: int | None = None
        column: int | None = None
        if document is not None:
            file = document.file
            if document.positioned:
                line, column = document.position(self.path, key=self.key)
        return Finding(
            rule=self.rule,
            severity=self.severity if self.severity is not None else rule(self.rule).severity,
            field=format_field_path(self.path),
            message=self.message,
            file=file,
            line=line,
            column=column,
        )


def describe_value(value: object, *, limit: int = 40) -> str:
    """How a value reads in a message: ``the string 'x'``, ``the number 3``, ``a list``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        text = value if len(value) <= limit else value[: limit - 3] + "..."
        return f"the string {text!r}"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"
