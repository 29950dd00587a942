"""Checking a value against an input's type and validation, with JSON Schema's semantics.

Policies check defaults and enum values here, without jsonschema (too slow for the hot
path); consumers' values go through jsonschema with the schema ``inputs_json_schema``
builds. Both must agree, so these functions copy JSON Schema's rules exactly: booleans are
not numbers, ``1.0`` is an integer, ``pattern`` is searched (not anchored) with RE2 (see
``_patterns``; a string longer than ``Limits.pattern_input_max_length`` is refused rather
than matched), lengths count code points, and enum membership uses JSON equality (``1 == 1.0`` but
``true != 1``). The tests hold them against jsonschema.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from nestor_catalog_core.models._base import ValueType
from nestor_catalog_core.validation._patterns import compiled_pattern
from nestor_catalog_core.validation.limits import DEFAULT_LIMITS, Limits

if TYPE_CHECKING:
    from nestor_catalog_core.models._views import InputValidationLike

__all__ = [
    "APPLICABLE",
    "json_equal",
    "pattern_input_too_long",
    "type_matches",
    "validation_violations",
]

#: The validation keywords that mean something for each type (others are VALIDATION_NOT_APPLICABLE).
APPLICABLE: Final[dict[str, frozenset[ValueType]]] = {
    "pattern": frozenset({ValueType.STRING}),
    "min": frozenset({ValueType.INTEGER, ValueType.NUMBER}),
    "max": frozenset({ValueType.INTEGER, ValueType.NUMBER}),
    "min_length": frozenset({ValueType.STRING, ValueType.ARRAY}),
    "max_length": frozenset({ValueType.STRING, ValueType.ARRAY}),
    "enum": frozenset(ValueType),
}


def type_matches(value: Any, value_type: ValueType) -> bool:
    """Whether ``value`` is of JSON Schema type ``value_type``."""
    if value_type is ValueType.STRING:
        return isinstance(value, str)
    if value_type is ValueType.BOOLEAN:
        return isinstance(value, bool)
    if value_type is ValueType.INTEGER:
        return not isinstance(value, bool) and (
            isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        )
    if value_type is ValueType.NUMBER:
        return not isinstance(value, bool) and isinstance(value, int | float)
    if value_type is ValueType.ARRAY:
        return isinstance(value, list)
    return isinstance(value, dict)


def json_equal(one: Any, two: Any) -> bool:
    """JSON equality: ``1 == 1.0``, ``true != 1``, lists by position, mappings by key."""
    if isinstance(one, str) or isinstance(two, str):
        return bool(one == two)
    if isinstance(one, Sequence) and isinstance(two, Sequence):
        return len(one) == len(two) and all(json_equal(a, b) for a, b in zip(one, two, strict=True))
    if isinstance(one, Mapping) and isinstance(two, Mapping):
        return one.keys() == two.keys() and all(json_equal(one[key], two[key]) for key in one)
    if isinstance(one, bool) or isinstance(two, bool):
        return isinstance(one, bool) and isinstance(two, bool) and one is two
    return bool(one == two)


def pattern_input_too_long(length: int, limits: Limits) -> str | None:
    """Why a string of ``length`` characters is not matched against a pattern, if it is not."""
    if length <= limits.pattern_input_max_length:
        return None
    return (
        f"has {length:,} characters; strings checked against a pattern may have at most "
        f"{limits.pattern_input_max_length:,} (validation.limits.pattern_input_max_length)"
    )


def validation_violations(
    value: Any,
    value_type: ValueType,
    validation: InputValidationLike | None,
    *,
    enum: bool = True,
    limits: Limits = DEFAULT_LIMITS,
) -> list[str]:
    """Why ``value`` (already of ``value_type``) breaks ``validation``; empty when it does not.

    Only keywords that apply to the type are checked, as JSON Schema ignores the others.
    ``enum=False`` leaves out enum membership (for checking enum values themselves).
    """
    if validation is None:
        return []
    problems: list[str] = []
    if isinstance(value, str) and value_type is ValueType.STRING:
        problems.extend(_string_problems(value, validation, limits))
    elif isinstance(value, list) and value_type is ValueType.ARRAY:
        problems.extend(_length_problems(len(value), validation, "items"))
    elif value_type in (ValueType.INTEGER, ValueType.NUMBER) and isinstance(value, int | float):
        problems.extend(_number_problems(value, validation))
    if enum and validation.enum is not None and not any(json_equal(value, allowed) for allowed in validation.enum):
        problems.append("is not one of the allowed values (validation.enum)")
    return problems


def _string_problems(value: str, validation: InputValidationLike, limits: Limits) -> list[str]:
    problems = _length_problems(len(value), validation, "characters")
    if validation.pattern is not None:
        too_long = pattern_input_too_long(len(value), limits)
        if too_long is not None:
            problems.append(too_long)
            return problems
        compiled = compiled_pattern(validation.pattern)
        if compiled is not None and compiled.search(value) is None:
            problems.append(f"does not match the pattern {validation.pattern!r}")
    return problems


def _length_problems(length: int, validation: InputValidationLike, unit: str) -> list[str]:
    problems = []
    if validation.min_length is not None and length < validation.min_length:
        problems.append(f"has {length} {unit}, fewer than min_length {validation.min_length}")
    if validation.max_length is not None and length > validation.max_length:
        problems.append(f"has {length} {unit}, more than max_length {validation.max_length}")
    return problems


def _number_problems(value: float, validation: InputValidationLike) -> list[str]:
    problems = []
    if validation.min is not None and value < validation.min:
        problems.append(f"is below min {validation.min!r}")
    if validation.max is not None and value > validation.max:
        problems.append(f"is above max {validation.max!r}")
    return problems
