"""Validating loaded documents: structure, then policies, every finding placed in its file.

The three layers follow the spec's ``validation:`` block (``ValidationSettings``):
``strict_mode`` (unknown fields are errors, or warnings that are dropped), ``schema_validation``
(strict types, or pydantic's lax coercion of harmless drift like ``"20"`` for 20; whatever
still fails is an error, since an unbuildable document cannot be served) and
``policy_enforcement``. Identity rules (``NAME_FORMAT``, ``VERSION_FORMAT``,
``VERSION_BUILD_METADATA``) and the bounds of ``Limits`` (``limits.py``) always apply.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, TypeVar

from nestor_catalog_core.loading import LoadedDocument
from nestor_catalog_core.models.findings import Finding, Severity
from nestor_catalog_core.validation._issues import Issue, describe_value
from nestor_catalog_core.validation._structure import build_definition, build_view, identity_issues
from nestor_catalog_core.validation.limits import DEFAULT_LIMITS, Limits, limit_issues
from nestor_catalog_core.validation.policies import policy_issues

if TYPE_CHECKING:
    from nestor_catalog_core.models._views import DefinitionView
    from nestor_catalog_core.models.definition import ResourceDefinition

__all__ = [
    "ValidatedDocument",
    "ValidationSettings",
    "check_definition",
    "validate_data",
    "validate_document",
    "validate_document_view",
]

_D = TypeVar("_D", bound="ResourceDefinition | DefinitionView")


@dataclass(frozen=True, slots=True)
class ValidationSettings:
    """The spec's ``validation:`` block; all layers on by default, and the bounds."""

    strict_mode: bool = True
    schema_validation: bool = True
    policy_enforcement: bool = True
    limits: Limits = DEFAULT_LIMITS


DEFAULT_SETTINGS: Final = ValidationSettings()


@dataclass(slots=True)
class ValidatedDocument:
    """A document with the definition built from it (``None`` when it could not be built)
    and every finding about it, in layer order: structure, then policies."""

    document: LoadedDocument
    definition: ResourceDefinition | None
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """A definition was built and no finding is an error."""
        return self.definition is not None and not any(f.severity is Severity.ERROR for f in self.findings)


def validate_document(document: LoadedDocument, settings: ValidationSettings = DEFAULT_SETTINGS) -> ValidatedDocument:
    """Validate one loaded document; every finding carries its file, line and column."""
    definition, findings = _validate(build_definition, document, settings)
    return ValidatedDocument(document, definition, findings)


def validate_document_view(
    document: LoadedDocument, settings: ValidationSettings = DEFAULT_SETTINGS
) -> tuple[DefinitionView | None, list[Finding]]:
    """``validate_document``'s findings, byte for byte, and the definition as a view
    (``models._views``): what a caller that only reports findings needs, without importing
    pydantic or building the model graph (``nestor-catalog validate``)."""
    return _validate(build_view, document, settings)


def _validate(
    build: Callable[..., tuple[_D | None, list[Issue]]], document: LoadedDocument, settings: ValidationSettings
) -> tuple[_D | None, list[Finding]]:
    issues: list[Issue]
    definition: _D | None
    if not isinstance(document.data, dict):
        definition = None
        shape = describe_value(document.data)
        message = f"a definition is a mapping with apiVersion, kind, metadata and spec, not {shape}"
        issues = [Issue("NOT_A_MAPPING", (), message)]
    else:
        definition, issues = build(
            document.data, strict_mode=settings.strict_mode, lax_types=not settings.schema_validation
        )
        if definition is not None:
            issues.extend(limit_issues(definition, settings.limits))
            if settings.policy_enforcement:
                issues.extend(policy_issues(definition, settings.limits))
    return definition, [issue.finding(document) for issue in issues]


def validate_data(
    data: Any, *, file: str | None = None, settings: ValidationSettings = DEFAULT_SETTINGS
) -> ValidatedDocument:
    """Validate plain data that has no file positions (an API payload, a Python dict).

    Findings carry ``file`` when given and no line or column.
    """
    return validate_document(LoadedDocument(file or "<input>", 0, data), settings)


def check_definition(definition: ResourceDefinition, settings: ValidationSettings = DEFAULT_SETTINGS) -> list[Finding]:
    """What ``validate_document`` reports for an already built definition (one made in Python
    rather than loaded): identity rules, the bounds and, when enabled, policies; no positions."""
    issues = [*identity_issues(definition), *limit_issues(definition, settings.limits)]
    if settings.policy_enforcement:
        issues.extend(policy_issues(definition, settings.limits))
    return [issue.finding() for issue in issues]
