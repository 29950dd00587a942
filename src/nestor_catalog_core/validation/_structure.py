"""The structure layer: build the pydantic model (or, ``build_view``, its pydantic-free view
from the same core schema, ``models._views``) and turn every error into an issue.

Pydantic reports every structural error of a document in one pass, so all of them reach
the user at once. Each error becomes an issue with a stable rule id (from the error type and
where it happened), the data path (pydantic's union branch tags such as ``int``/``float``
are dropped, they are not in the file) and a message that says what to do.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Final, TypeVar

from nestor_catalog_core.models._base import API_VERSION, KIND
from nestor_catalog_core.models._extension import ValidationError
from nestor_catalog_core.models.findings import Severity
from nestor_catalog_core.validation._issues import DataPath, Issue, describe_value

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails

    from nestor_catalog_core.models._views import DefinitionLike, DefinitionView
    from nestor_catalog_core.models.definition import ResourceDefinition

__all__ = ["build_definition", "build_view", "identity_issues"]

_D = TypeVar("_D", bound="ResourceDefinition | DefinitionView")

_DATE = "a date like 2026-06-30 (YYYY-MM-DD)"
_EXPECTED_TYPE: Final[dict[str, str]] = {
    "string_type": "a string",
    "string_sub_type": "a string",
    "string_unicode": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "a boolean (true or false)",
    "bool_parsing": "a boolean (true or false)",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "date_type": _DATE,
    "date_parsing": _DATE,
    "date_from_datetime_parsing": _DATE,
    "date_from_datetime_inexact": _DATE,
}
_NAME_PATH: Final = ("metadata", "name")
_VERSION_PATH: Final = ("metadata", "version")


def build_definition(
    data: Any, *, strict_mode: bool = True, lax_types: bool = False
) -> tuple[ResourceDefinition | None, list[Issue]]:
    """The model built from ``data`` (or ``None``) and every structural issue.

    ``strict_mode=False`` turns unknown fields into warnings and builds the model without
    them. ``lax_types=True`` lets pydantic coerce harmless type drift (``"20"`` for 20).
    """
    from nestor_catalog_core.models.definition import ResourceDefinition

    def validate(value: Any, strict: bool | None) -> ResourceDefinition:
        # by_name=False: documents spell fields as the schema does (``apiVersion``), never the
        # Python attribute names the model config also accepts for in-process construction.
        return ResourceDefinition.model_validate(value, strict=strict, by_alias=True, by_name=False)

    return _build(validate, data, strict_mode=strict_mode, lax_types=lax_types)


def build_view(
    data: Any, *, strict_mode: bool = True, lax_types: bool = False
) -> tuple[DefinitionView | None, list[Issue]]:
    """``build_definition`` building a view (``models._views``) instead of the model, without
    importing pydantic: the same issues, in the same order, from the same core schema."""
    from nestor_catalog_core.models._views import validate_view

    def validate(value: Any, strict: bool | None) -> DefinitionView:
        return validate_view(value, strict=strict)

    return _build(validate, data, strict_mode=strict_mode, lax_types=lax_types)


def _build(
    validate: Callable[[Any, bool | None], _D], data: Any, *, strict_mode: bool, lax_types: bool
) -> tuple[_D | None, list[Issue]]:
    definition, errors = _validate(validate, data, lax_types=lax_types)
    if not errors:
        identity = identity_issues(definition) if definition is not None else []
        return (None, identity) if identity else (definition, [])
    unknown = [error for error in errors if error["type"] == "extra_forbidden"]
    if strict_mode or not unknown:
        return None, _issues(data, errors)
    warnings = [_unknown_field(data, error, Severity.WARNING) for error in unknown]
    cleaned = _without(data, [_real_path(data, error["loc"]) for error in unknown])
    definition, errors = _validate(validate, cleaned, lax_types=lax_types)
    identity = identity_issues(definition) if definition is not None else []
    return (None if identity else definition), [*warnings, *_issues(cleaned, errors), *identity]


def identity_issues(definition: DefinitionLike) -> list[Issue]:
    """What makes a built definition unfit to be an identity: a version with build metadata.

    SemVer gives ``+build`` no precedence, so ``1.0.0+evil`` would be a second, different
    "1.0.0" that ``1.0.0`` and ``^1.0`` resolve to: a way around immutability.
    """
    version = definition.metadata.version
    if "+" not in version:
        return []
    base = version.split("+", 1)[0]
    return [
        Issue(
            "VERSION_BUILD_METADATA",
            _VERSION_PATH,
            f"{version!r} carries build metadata, which SemVer gives no precedence: it would be another "
            f"{base!r}; write {base!r} (if that is the version meant) or publish the change as a new version",
        )
    ]


def _validate(
    validate: Callable[[Any, bool | None], _D], data: Any, *, lax_types: bool
) -> tuple[_D | None, list[ErrorDetails]]:
    try:
        return validate(data, False if lax_types else None), []
    except ValidationError as exc:
        return None, exc.errors(include_url=False, include_context=True, include_input=True)


def _issues(data: Any, errors: Iterable[ErrorDetails]) -> list[Issue]:
    """One issue per (path, rule); union branches of one value merge into one message."""
    grouped: dict[DataPath, list[ErrorDetails]] = {}
    for error in errors:
        missing = error["type"] == "missing"
        grouped.setdefault(_real_path(data, error["loc"], keep_last=missing), []).append(error)
    issues: list[Issue] = []
    for path, group in grouped.items():
        types_only = [error for error in group if error["type"] in _EXPECTED_TYPE]
        if len(types_only) > 1:
            issues.append(_type_issue(path, types_only))
            group = [error for error in group if error["type"] not in _EXPECTED_TYPE]
        issues.extend(_issue(data, path, error) for error in group)
    return issues


def _issue(data: Any, path: DataPath, error: ErrorDetails) -> Issue:
    kind = error["type"]
    if kind == "missing":
        return _missing(path)
    if kind == "extra_forbidden":
        return _unknown_field(data, error, Severity.ERROR)
    if path == _NAME_PATH:
        return _name_format(error)
    if path == _VERSION_PATH:
        return _version_format(error)
    if kind == "literal_error" and path in {("apiVersion",), ("kind",)}:
        return _identity_literal(path, error)
    if kind in _EXPECTED_TYPE:
        return _type_issue(path, [error])
    if kind in {"literal_error", "enum"}:
        return _enum_issue(path, error)
    return Issue("SCHEMA_VALUE", path, _value_message(error))


def _missing(path: DataPath) -> Issue:
    name = path[-1] if path else "?"
    if path == ("apiVersion",):
        return Issue("API_VERSION", path, f"apiVersion is missing; add apiVersion: {API_VERSION}")
    if path == ("kind",):
        return Issue("KIND", path, f"kind is missing; add kind: {KIND}")
    return Issue("SCHEMA_REQUIRED", path, f"required field {name!r} is missing")


def _unknown_field(data: Any, error: ErrorDetails, severity: Severity) -> Issue:
    path = _real_path(data, error["loc"])
    name = str(path[-1]) if path else "?"
    known = _known_fields(path[:-1])
    message = f"unknown field {name!r}"
    close = _close_match(name, known)
    if close:
        message += f" (did you mean {close[0]!r}?)"
    if known:
        message += f"; known fields here: {', '.join(known)}"
    if severity is Severity.WARNING:
        message += " (ignored: strict mode is off)"
    return Issue("UNKNOWN_FIELD", path, message, key=True, severity=severity)


def _close_match(word: str, candidates: list[str]) -> list[str]:
    import difflib  # only for a finding's suggestion: a clean run never needs it

    return difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)


def _name_format(error: ErrorDetails) -> Issue:
    value = error.get("input")
    got = f"{value!r} is not a valid name" if isinstance(value, str) else f"got {describe_value(value)}"
    return Issue(
        "NAME_FORMAT",
        _NAME_PATH,
        f"{got}: use lowercase letters, digits and '-', starting and ending with a letter or digit, "
        "at most 63 characters (like aws-rds-mysql)",
    )


def _version_format(error: ErrorDetails) -> Issue:
    value = error.get("input")
    if isinstance(value, str):
        message = f"{value!r} is not a full SemVer version; write MAJOR.MINOR.PATCH like 1.2.0"
    elif isinstance(value, int | float) and not isinstance(value, bool):
        message = (
            f"got {describe_value(value)}: the version must be a full SemVer version like 1.2.0; "
            "quote it so YAML keeps it a string"
        )
    else:
        message = f"got {describe_value(value)}: the version must be a full SemVer version like 1.2.0"
    return Issue("VERSION_FORMAT", _VERSION_PATH, message)


def _identity_literal(path: DataPath, error: ErrorDetails) -> Issue:
    expected = API_VERSION if path == ("apiVersion",) else KIND
    rule = "API_VERSION" if path == ("apiVersion",) else "KIND"
    return Issue(rule, path, f"must be {expected}, got {describe_value(error.get('input'))}")


def _type_issue(path: DataPath, errors: list[ErrorDetails]) -> Issue:
    expected = list(dict.fromkeys(_EXPECTED_TYPE[error["type"]] for error in errors))
    if "a number" in expected and "an integer" in expected:
        expected.remove("an integer")
    value = errors[0].get("input")
    message = f"must be {' or '.join(expected)}, got {describe_value(value)}"
    if expected == ["a string"] and isinstance(value, bool | int | float):
        message += "; quote it so YAML keeps it a string"
    elif errors[0]["type"] in {"int_type", "float_type"} and isinstance(value, bool):
        message += "; booleans are not numbers"
    elif errors[0]["type"] == "string_unicode":
        message += " (it holds characters that are not valid Unicode)"
    return Issue("SCHEMA_TYPE", path, message)


def _enum_issue(path: DataPath, error: ErrorDetails) -> Issue:
    expected = str((error.get("ctx") or {}).get("expected", ""))
    value = error.get("input")
    message = f"must be one of {expected}, got {describe_value(value)}"
    if isinstance(value, str):
        options = [option.strip().strip("'") for option in expected.replace(" or ", ", ").split(",")]
        close = _close_match(value, [o for o in options if o])
        if close:
            message += f"; did you mean {close[0]!r}?"
    return Issue("SCHEMA_ENUM", path, message)


def _value_message(error: ErrorDetails) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        return "must not be empty"
    if kind == "string_too_short":
        return f"must have at least {ctx.get('min_length')} characters"
    if kind == "string_too_long":
        return f"must have at most {ctx.get('max_length')} characters"
    if kind == "too_short":
        count = ctx.get("min_length")
        return f"must have at least {count} item{'s' if count != 1 else ''}"
    if kind == "too_long":
        return f"must have at most {ctx.get('max_length')} items"
    if kind == "greater_than_equal":
        return f"must be at least {ctx.get('ge')}, got {describe_value(error.get('input'))}"
    message = error["msg"]
    return message[:1].lower() + message[1:]


def _real_path(data: Any, loc: tuple[str | int, ...], *, keep_last: bool = False) -> DataPath:
    """The error location as a path in ``data``: union branch tags are not in the data."""
    path: list[str | int] = []
    current = data
    last = len(loc) - 1
    for index, part in enumerate(loc):
        if _has_step(current, part):
            current = current[part]
            path.append(part)
        elif keep_last and index == last:
            path.append(part)
    return tuple(path)


def _has_step(current: Any, part: str | int) -> bool:
    if isinstance(current, dict):
        return isinstance(part, str) and part in current
    return isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)


def _without(data: Any, paths: list[DataPath]) -> Any:
    cleaned = copy.deepcopy(data)
    for path in sorted(paths, key=len, reverse=True):
        parent = cleaned
        for part in path[:-1]:
            parent = parent[part]
        if isinstance(parent, dict):
            parent.pop(path[-1], None)
    return cleaned


def _known_fields(path: DataPath) -> list[str]:
    """The fields of the model at ``path`` (none when no model is there), as documents spell
    them: read from the core schema, which the model and its view share."""
    from nestor_catalog_core.models._view_schema import DEFINITION_SCHEMA

    definitions = {item["ref"]: item for item in DEFINITION_SCHEMA.get("definitions", [])}
    current: dict[str, Any] | None = _unwrap(DEFINITION_SCHEMA["schema"], definitions)
    for part in path:
        if current is None:
            return []
        if isinstance(part, int):
            current = _unwrap(current["items_schema"], definitions) if current["type"] == "list" else None
        elif current["type"] == "model":
            field = _schema_field(current, part)
            current = None if field is None else _unwrap(field["schema"], definitions)
        else:
            current = None
    if current is None or current["type"] != "model":
        return []
    fields: dict[str, dict[str, Any]] = current["schema"]["fields"]
    return [str(field.get("validation_alias", name)) for name, field in fields.items()]


def _schema_field(model: dict[str, Any], name: str) -> dict[str, Any] | None:
    fields: dict[str, dict[str, Any]] = model["schema"]["fields"]
    for field_name, field in fields.items():
        if field.get("validation_alias", field_name) == name:
            return field
    return None


def _unwrap(schema: dict[str, Any], definitions: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The schema under defaults, ``nullable`` (``X | None``) and references."""
    while True:
        if schema["type"] in {"default", "nullable"}:
            schema = schema["schema"]
        elif schema["type"] == "definition-ref":
            schema = definitions[schema["schema_ref"]]
        else:
            return schema
