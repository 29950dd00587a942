"""Validating definitions (structure from the models, then policies) and consumers' inputs.

Every finding is ``{rule, severity, field, message, file, line, column}``; rule ids and
their default severities are in ``RULES`` (``nestor-catalog rules`` prints them).

Names are imported the first time they are used (PEP 562 ``__getattr__``): the JSON Schema
and the inputs' validators need pydantic and jsonschema, which ``nestor-catalog validate``
does not import (it runs ``documents.validate_document_view``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nestor_catalog_core import _lazy

if TYPE_CHECKING:
    from nestor_catalog_core.validation.documents import (
        ValidatedDocument,
        ValidationSettings,
        check_definition,
        validate_data,
        validate_document,
    )
    from nestor_catalog_core.validation.inputs import (
        InputsResult,
        inputs_json_schema,
        validate_inputs,
    )
    from nestor_catalog_core.validation.limits import (
        DEFAULT_LIMITS,
        Limits,
    )
    from nestor_catalog_core.validation.policies import (
        check_policies,
    )
    from nestor_catalog_core.validation.rules import (
        RULES,
        Layer,
        Rule,
    )
    from nestor_catalog_core.validation.schema import (
        DEFINITION_SCHEMA_ID,
        definition_json_schema,
    )

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

_LAZY: dict[str, str] = {
    "DEFAULT_LIMITS": "nestor_catalog_core.validation.limits",
    "DEFINITION_SCHEMA_ID": "nestor_catalog_core.validation.schema",
    "InputsResult": "nestor_catalog_core.validation.inputs",
    "Layer": "nestor_catalog_core.validation.rules",
    "Limits": "nestor_catalog_core.validation.limits",
    "RULES": "nestor_catalog_core.validation.rules",
    "Rule": "nestor_catalog_core.validation.rules",
    "ValidatedDocument": "nestor_catalog_core.validation.documents",
    "ValidationSettings": "nestor_catalog_core.validation.documents",
    "check_definition": "nestor_catalog_core.validation.documents",
    "check_policies": "nestor_catalog_core.validation.policies",
    "definition_json_schema": "nestor_catalog_core.validation.schema",
    "inputs_json_schema": "nestor_catalog_core.validation.inputs",
    "validate_data": "nestor_catalog_core.validation.documents",
    "validate_document": "nestor_catalog_core.validation.documents",
    "validate_inputs": "nestor_catalog_core.validation.inputs",
}


__getattr__, __dir__ = _lazy.lazy_names(globals(), _LAZY)
