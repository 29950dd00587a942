"""Validating definitions (structure from the models, then policies) and consumers' inputs.

Every finding is ``{rule, severity, field, message, file, line, column}``; rule ids and
their default severities are in ``RULES`` (``nestor-catalog rules`` prints them).
"""

from nestor_catalog_core.validation.documents import (
    ValidatedDocument,
    ValidationSettings,
    check_definition,
    validate_data,
    validate_document,
)
from nestor_catalog_core.validation.inputs import InputsResult, inputs_json_schema, validate_inputs
from nestor_catalog_core.validation.limits import DEFAULT_LIMITS, Limits
from nestor_catalog_core.validation.policies import check_policies
from nestor_catalog_core.validation.rules import RULES, Layer, Rule
from nestor_catalog_core.validation.schema import DEFINITION_SCHEMA_ID, definition_json_schema

__all__ = [
    "DEFAULT_LIMITS",
    "DEFINITION_SCHEMA_ID",
    "RULES",
    "InputsResult",
    "Layer",
    "Limits",
    "Rule",
    "ValidatedDocument",
    "ValidationSettings",
    "check_definition",
    "check_policies",
    "definition_json_schema",
    "inputs_json_schema",
    "validate_data",
    "validate_document",
    "validate_inputs",
]
