"""The JSON Schema of a ``ResourceDefinition``, generated from the pydantic models.

The models are the schema: what this document says and what ``validate_document`` accepts
are the same (the tests check both on hypothesis-generated documents). Editors use it
through yaml-language-server (``# yaml-language-server: $schema=<url>``) or
``nestor-catalog schema > resource-definition.schema.json``.

Two differences are inherent to JSON Schema tooling, not to this document: an ``integer``
in JSON Schema also admits ``1.0`` (the models in strict mode do not), and Python's
``jsonschema`` lets ``$`` in a pattern match before a trailing newline (ECMA-262 and the
models do not).
"""

from __future__ import annotations

import copy
from functools import lru_cache
from typing import Any, Final

from nestor_catalog_core.models.definition import API_VERSION, ResourceDefinition

__all__ = ["DEFINITION_SCHEMA_ID", "definition_json_schema"]

DEFINITION_SCHEMA_ID: Final = "https://schemas.nestor.io/catalog.nestor.io/v1/resource-definition.schema.json"
_DRAFT_2020_12: Final = "https://json-schema.org/draft/2020-12/schema"


def definition_json_schema() -> dict[str, Any]:
    """The Draft 2020-12 JSON Schema of a ``catalog.nestor.io/v1`` ``ResourceDefinition``.

    Every object forbids unknown properties (``additionalProperties: false``) except
    ``spec.engine_configs``, whose untyped engines are free-form mappings. A fresh copy is
    returned on each call, so callers may change it.
    """
    return copy.deepcopy(_generated())


@lru_cache(maxsize=1)
def _generated() -> dict[str, Any]:
    generated = ResourceDefinition.model_json_schema(by_alias=True, mode="validation")
    generated.pop("title", None)
    description = generated.pop("description", "")
    return {
        "$schema": _DRAFT_2020_12,
        "$id": DEFINITION_SCHEMA_ID,
        "title": f"Nestor ResourceDefinition ({API_VERSION})",
        "description": description,
        **generated,
    }
