"""What the definition models and their pydantic-free views share: the identity constants,
``ValueType``, the sunset date check and ``canonical_json``.

No pydantic here (only pydantic-core's error type, from its extension: ``_extension``):
``nestor-catalog validate`` builds views of definitions (``_views``) without importing
pydantic, whose import and model build cost more than the rest of the command's start-up.
"""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import Any, Final

from nestor_catalog_core.models._extension import PydanticCustomError

__all__ = [
    "API_VERSION",
    "KIND",
    "NAME_PATTERN",
    "SEMVER_PATTERN",
    "TYPED_ENGINES",
    "ValueType",
    "canonical_json",
    "configured_engines",
    "iso_date_only",
]

API_VERSION: Final = "catalog.nestor.io/v1"
KIND: Final = "ResourceDefinition"
#: The engines ``engine_configs`` types; any other key is a free-form map.
TYPED_ENGINES: Final = ("crossplane", "pulumi", "terraform")
NAME_PATTERN: Final = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
# SemVer 2.0.0, the regex from semver.org (full X.Y.Z, optional prerelease and build), with [0-9]
# for \d: pydantic-core's and Python's \d also match non-ASCII digits such as Arabic-Indic digits.
SEMVER_PATTERN: Final = (
    r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    r"(?:-((?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)


class ValueType(StrEnum):
    """The types an input or output may have (JSON Schema's, without ``null``)."""

    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    ARRAY = "array"
    OBJECT = "object"


_ISO_DATE: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def iso_date_only(value: Any) -> Any:
    """Accept ``YYYY-MM-DD`` text or a ``date``: pydantic's lax date parsing would also take
    Unix timestamps and datetimes, which the JSON Schema (``format: date``) rejects."""
    if type(value) is date or (isinstance(value, str) and _ISO_DATE.fullmatch(value)):
        return value
    raise PydanticCustomError("date_type", "Input should be a date in YYYY-MM-DD form")


def canonical_json(data: Any) -> bytes:
    """Deterministic JSON: sorted keys, no spaces, UTF-8."""
    import json  # here: validating through views never serialises (start-up, issue 13)

    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def configured_engines(configs: Any) -> dict[str, Any]:
    """Every engine an ``EngineConfigs`` (model or view) configures, with its config: the typed
    ones that are set, then the free-form ones."""
    out: dict[str, Any] = {}
    for key in TYPED_ENGINES:
        value = getattr(configs, key)
        if value is not None:
            out[key] = value
    out.update(configs.__pydantic_extra__ or {})
    return out
