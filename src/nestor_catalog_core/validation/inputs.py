"""What consumers need to check their users' values against a definition.

``inputs_json_schema`` turns a definition's inputs into a Draft 2020-12 object schema
(form renderers and other languages use it as is); ``validate_inputs`` checks values with
``jsonschema`` against that schema, reporting every problem with its path, and returns the
values with defaults filled in. Values of ``sensitive`` inputs never appear in messages.

``pattern`` is matched by RE2 (linear time), not by jsonschema's ``re``: a consumer's value
must never be able to stall the caller. A string longer than
``Limits.pattern_input_max_length`` is refused (``PATTERN_INPUT_TOO_LONG``) unmatched.
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final

from nestor_catalog_core._exceptions import ValidationFailed
from nestor_catalog_core.models.definition import InputSpec, ResourceDefinition, ValueType
from nestor_catalog_core.models.findings import Finding, Severity, format_field_path
from nestor_catalog_core.validation._issues import describe_value
from nestor_catalog_core.validation._patterns import compiled_pattern, pattern_error
from nestor_catalog_core.validation._values import pattern_input_too_long
from nestor_catalog_core.validation.limits import DEFAULT_LIMITS, Limits
from nestor_catalog_core.validation.rules import rule

__all__ = ["InputsResult", "inputs_json_schema", "validate_inputs"]

DRAFT_2020_12: Final = "https://json-schema.org/draft/2020-12/schema"
_CACHE_SIZE: Final = 1024
_RULE_BY_KEYWORD: Final = {
    "type": "INPUT_TYPE",
    "pattern": "INPUT_PATTERN",
    "minimum": "INPUT_RANGE",
    "maximum": "INPUT_RANGE",
    "minLength": "INPUT_LENGTH",
    "maxLength": "INPUT_LENGTH",
    "minItems": "INPUT_LENGTH",
    "maxItems": "INPUT_LENGTH",
    "enum": "INPUT_ENUM",
    "required": "INPUT_REQUIRED",
    "additionalProperties": "INPUT_UNKNOWN",
}


@dataclass(slots=True)
class InputsResult:
    """The outcome of ``validate_inputs``: every finding, and the values with defaults applied.

    ``values`` is a new dict (the caller's mapping is never changed) holding the given
    values plus a copy of the default of every optional input that was not given.
    """

    values: dict[str, Any] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(f.severity is Severity.ERROR for f in self.findings)


def inputs_json_schema(definition: ResourceDefinition) -> dict[str, Any]:
    """The JSON Schema (Draft 2020-12) of ``definition``'s inputs.

    One property per input with its type, description and the validation keywords that
    apply to the type (``pattern``, ``minimum``/``maximum``, ``minLength``/``maxLength`` for
    strings or ``minItems``/``maxItems`` for arrays, ``enum``), the ``default`` of optional
    inputs, ``writeOnly: true`` for sensitive ones and ``deprecated: true`` (with the message
    and replacement under ``x-deprecation``) for deprecated ones. ``required`` lists the
    required inputs and no other property is allowed.
    """
    spec = definition.spec
    properties: dict[str, Any] = {}
    for item in spec.required_inputs:
        properties[item.name] = _property(item, with_default=False)
    for item in spec.optional_inputs:
        properties[item.name] = _property(item, with_default=True)
    schema: dict[str, Any] = {
        "$schema": DRAFT_2020_12,
        "$id": f"urn:nestor-catalog:inputs:{definition.metadata.name}:{definition.metadata.version}",
        "title": f"Inputs of {definition.metadata.name} {definition.metadata.version}",
    }
    if definition.metadata.description:
        schema["description"] = definition.metadata.description
    schema.update(
        {
            "type": "object",
            "properties": properties,
            "required": list(dict.fromkeys(item.name for item in spec.required_inputs)),
            "additionalProperties": False,
        }
    )
    return schema


def _property(item: InputSpec, *, with_default: bool) -> dict[str, Any]:
    prop: dict[str, Any] = {"type": item.type.value}
    if item.description:
        prop["description"] = item.description
    validation = item.validation
    if validation is not None:
        if item.type is ValueType.STRING:
            _put(prop, "pattern", validation.pattern)
            _put(prop, "minLength", validation.min_length)
            _put(prop, "maxLength", validation.max_length)
        elif item.type is ValueType.ARRAY:
            _put(prop, "minItems", validation.min_length)
            _put(prop, "maxItems", validation.max_length)
        elif item.type in (ValueType.INTEGER, ValueType.NUMBER):
            _put(prop, "minimum", validation.min)
            _put(prop, "maximum", validation.max)
        if validation.enum is not None:
            prop["enum"] = copy.deepcopy(validation.enum)
    if with_default and item.has_default:
        prop["default"] = copy.deepcopy(item.default)
    if item.sensitive:
        prop["writeOnly"] = True
    if item.deprecated is not None:
        prop["deprecated"] = True  # the JSON Schema annotation (2019-09 and later)
        prop["x-deprecation"] = item.deprecated.model_dump(mode="json", exclude_none=True)
    return prop


def _put(target: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        target[key] = value


def validate_inputs(
    definition: ResourceDefinition, values: Mapping[str, Any], *, limits: Limits = DEFAULT_LIMITS
) -> InputsResult:
    """Check a consumer's ``values`` against ``definition``: all findings at once, with paths
    like ``allocated_storage`` or ``tags[0]``, and the values with defaults applied.

    Raises ``ValidationFailed`` only when the definition itself cannot give a usable schema
    (a pattern RE2 cannot compile, in a definition that was never validated).
    """
    if not _is_mapping(values):
        message = f"inputs must be a mapping of names to values, got {describe_value(values)}"
        return InputsResult(values={}, findings=[_finding("INPUT_TYPE", "", message)])
    entry = _validator_for(definition, limits.pattern_input_max_length)
    given = dict(values)
    findings = _presence_findings(entry.schema, given)
    for error in sorted(entry.validator.iter_errors(given), key=_error_order):
        if error.validator in {"required", "additionalProperties"} and not error.absolute_path:
            continue
        findings.append(_error_finding(error, entry.sensitive))
    findings.extend(_deprecated_findings(definition, given))
    return InputsResult(values=_with_defaults(definition, given), findings=findings)


def _deprecated_findings(definition: ResourceDefinition, given: Mapping[str, Any]) -> list[Finding]:
    """A warning per deprecated input the consumer sets (a deprecated input still works)."""
    out: list[Finding] = []
    for item in definition.spec.inputs():
        if item.deprecated is None or item.name not in given:
            continue
        message = f"input {item.name!r} is deprecated: {item.deprecated.message}"
        if item.deprecated.replacement:
            message += f"; set {item.deprecated.replacement!r} instead"
        out.append(_finding("INPUT_DEPRECATED", item.name, message))
    return out


def _is_mapping(values: object) -> bool:
    """Callers pass parsed request bodies, which may be anything despite the annotation."""
    return isinstance(values, Mapping)


def _presence_findings(schema: dict[str, Any], given: dict[str, Any]) -> list[Finding]:
    properties: dict[str, Any] = schema["properties"]
    findings = [
        _finding("INPUT_REQUIRED", name, f"required input {name!r} is missing")
        for name in schema["required"]
        if name not in given
    ]
    known = ", ".join(properties) or "none"
    findings.extend(
        _finding("INPUT_UNKNOWN", str(name), f"unknown input {str(name)!r}; this definition takes: {known}")
        for name in given
        if name not in properties
    )
    return findings


def _error_finding(error: Any, sensitive: frozenset[str]) -> Finding:
    path = list(error.absolute_path)
    keyword = str(error.validator)
    hidden = bool(path) and path[0] in sensitive
    field_path = format_field_path(path)
    if keyword == "pattern" and error.message.startswith(_TOO_LONG_MARK):
        return _finding("PATTERN_INPUT_TOO_LONG", field_path, error.message.removeprefix(_TOO_LONG_MARK))
    message = _message(keyword, error.validator_value, error.instance, hidden=hidden) or error.message
    if hidden and message == error.message:
        message = f"the value breaks {keyword}"
    return _finding(_RULE_BY_KEYWORD.get(keyword, "INPUT_INVALID"), field_path, message)


def _message(keyword: str, expected: Any, instance: Any, *, hidden: bool) -> str | None:
    got = "" if hidden else f", got {describe_value(instance)}"
    if keyword == "type":
        return f"must be {_TYPE_NAMES.get(str(expected), str(expected))}{got}"
    if keyword == "pattern":
        return f"must match the pattern {expected!r}{got}"
    if keyword == "minimum":
        return f"must be at least {expected!r}{got}"
    if keyword == "maximum":
        return f"must be at most {expected!r}{got}"
    if keyword in {"minLength", "maxLength", "minItems", "maxItems"}:
        bound = "at least" if keyword.startswith("min") else "at most"
        unit = "characters" if keyword.endswith("Length") else "items"
        count = "" if hidden else f", got {len(instance)}"
        return f"must have {bound} {expected} {unit}{count}"
    if keyword == "enum":
        return f"must be one of {', '.join(repr(v) for v in expected)}{got}"
    return None


_TYPE_NAMES: Final = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "array": "an array (list)",
    "object": "an object (mapping)",
}


def _error_order(error: Any) -> tuple[str, str]:
    return (format_field_path(list(error.absolute_path)), str(error.validator))


def _finding(rule_id: str, field_path: str, message: str) -> Finding:
    return Finding(rule=rule_id, severity=rule(rule_id).severity, field=field_path, message=message)


def _with_defaults(definition: ResourceDefinition, given: dict[str, Any]) -> dict[str, Any]:
    values = dict(given)
    for item in definition.spec.optional_inputs:
        if item.name not in values and item.has_default:
            values[item.name] = copy.deepcopy(item.default)
    return values


@dataclass(frozen=True, slots=True)
class _Entry:
    schema: dict[str, Any]
    validator: Any
    sensitive: frozenset[str]


class _ValidatorCache:
    """Compiled validators per (definition digest, pattern input limit): a definition's schema
    never changes."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[tuple[str, int], _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, definition: ResourceDefinition, max_pattern_input: int) -> _Entry:
        key = (definition.compute_digest(), max_pattern_input)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                return entry
        entry = _compile(definition, max_pattern_input)
        with self._lock:
            self._entries[key] = entry
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return entry


_TOO_LONG_MARK: Final = "\x00too-long:"


def _re2_pattern_keyword(max_pattern_input: int) -> Any:
    """jsonschema's ``pattern`` keyword on RE2, refusing (unmatched) strings past the limit."""
    from jsonschema.exceptions import ValidationError as SchemaValidationError

    limits = Limits(pattern_input_max_length=max_pattern_input)

    def pattern(validator: Any, patrn: str, instance: Any, schema: Any) -> Any:
        if not validator.is_type(instance, "string"):
            return
        too_long = pattern_input_too_long(len(instance), limits)
        if too_long is not None:
            yield SchemaValidationError(f"{_TOO_LONG_MARK}{too_long}")
            return
        compiled = compiled_pattern(patrn)
        if compiled is None or compiled.search(instance) is None:
            yield SchemaValidationError(f"{instance!r} does not match {patrn!r}")

    return pattern


@lru_cache(maxsize=16)
def _validator_class(max_pattern_input: int) -> Any:
    from jsonschema import Draft202012Validator, validators

    return validators.extend(Draft202012Validator, {"pattern": _re2_pattern_keyword(max_pattern_input)})


def _compile(definition: ResourceDefinition, max_pattern_input: int) -> _Entry:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    name = f"{definition.metadata.name} {definition.metadata.version}"
    broken = _invalid_patterns(definition)
    if broken:
        raise ValidationFailed(f"{name} has an invalid inputs schema", findings=broken)
    schema = inputs_json_schema(definition)
    try:
        # No format checker: it would compile each pattern with Python's re, whose dialect is not
        # RE2's (``\pL``); the patterns were checked on RE2 just above.
        Draft202012Validator.check_schema(schema, format_checker=None)
    except SchemaError as exc:
        finding = _finding("INPUT_INVALID", "", f"the inputs schema of {name} is invalid: {exc.message}")
        raise ValidationFailed(f"{name} has an invalid inputs schema", findings=[finding]) from exc
    sensitive = frozenset(item.name for item in definition.spec.inputs() if item.sensitive)
    return _Entry(schema, _validator_class(max_pattern_input)(schema), sensitive)


def _invalid_patterns(definition: ResourceDefinition) -> list[Finding]:
    spec = definition.spec
    findings = []
    for section, inputs in (("required_inputs", spec.required_inputs), ("optional_inputs", spec.optional_inputs)):
        for index, item in enumerate(inputs):
            pattern = item.validation.pattern if item.validation is not None else None
            if pattern is not None and item.type is ValueType.STRING and compiled_pattern(pattern) is None:
                field_path = format_field_path(["spec", section, index, "validation", "pattern"])
                findings.append(_finding("PATTERN_INVALID", field_path, pattern_error(pattern) or "invalid pattern"))
    return findings


_validators = _ValidatorCache(_CACHE_SIZE)


def _validator_for(
    definition: ResourceDefinition, max_pattern_input: int = DEFAULT_LIMITS.pattern_input_max_length
) -> _Entry:
    return _validators.get(definition, max_pattern_input)
