"""The policy layer: what platform teams agreed a good definition looks like.

Policies run on a built ``ResourceDefinition`` (or its view, ``models._views``, which has the
same fields), so they only see well-typed data and can be plain Python over the model. Each
check returns issues with data paths; ``check_policies`` gives them as findings without
positions (for definitions that did not come from a file), ``validate_document`` places them
in the file. Rule ids and severities: ``rules.py``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final

from nestor_catalog_core._exceptions import InvalidConstraint
from nestor_catalog_core.models._base import NAME_PATTERN, ValueType
from nestor_catalog_core.models.findings import Finding, format_field_path
from nestor_catalog_core.validation._issues import DataPath, Issue, describe_value
from nestor_catalog_core.validation._values import APPLICABLE, type_matches, validation_violations
from nestor_catalog_core.validation.limits import DEFAULT_LIMITS, Limits

if TYPE_CHECKING:
    from nestor_catalog_core.models._views import DefinitionLike, InputSpecLike, OutputSpecLike

    _Check = Callable[[DefinitionLike, Limits], Iterator[Issue]]

__all__ = ["check_policies", "policy_issues"]

_SNAKE_CASE: Final = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*\Z")
_IDENTIFIER: Final = re.compile(r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?\Z")
_RESOURCE_TYPE: Final = re.compile(r"[a-z0-9](?:[-_a-z0-9]{0,61}[a-z0-9])?\Z")
_ENGINE: Final = re.compile(r"[a-z][a-z0-9-]{0,62}\Z")
_NAME: Final = re.compile(NAME_PATTERN)
_EMAIL: Final = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+\Z"
)
_LABEL_NAME: Final = re.compile(r"(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]\Z")
_DNS_SUBDOMAIN: Final = re.compile(r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*\Z")


def check_policies(definition: DefinitionLike, limits: Limits = DEFAULT_LIMITS) -> list[Finding]:
    """Every policy finding for ``definition``, without positions."""
    return [issue.finding() for issue in policy_issues(definition, limits)]


def policy_issues(definition: DefinitionLike, limits: Limits = DEFAULT_LIMITS) -> list[Issue]:
    """Every policy issue for ``definition``, with data paths, in document order.

    ``limits`` bounds the strings matched against patterns (defaults, enum values); the
    bounds themselves are checked by ``limit_issues``, whatever the policy settings."""
    return [issue for check in _CHECKS for issue in check(definition, limits)]


def _metadata(definition: DefinitionLike, _limits: Limits) -> Iterator[Issue]:
    metadata = definition.metadata
    if not metadata.description.strip():
        yield Issue("DESCRIPTION_MISSING", ("metadata", "description"), "describe what this resource is for")
    formats = (
        ("provider", metadata.provider, _IDENTIFIER, "PROVIDER_FORMAT", "aws, gcp, azure or kubernetes"),
        ("category", metadata.category, _IDENTIFIER, "CATEGORY_FORMAT", "database, cache, queue or network"),
        ("resource_type", metadata.resource_type, _RESOURCE_TYPE, "RESOURCE_TYPE_FORMAT", "mysql or s3-bucket"),
    )
    for field, value, pattern, rule, examples in formats:
        if not pattern.match(value):
            yield Issue(rule, ("metadata", field), f"{value!r} must be a lowercase identifier like {examples}")
    if not metadata.maintainers:
        yield Issue("MAINTAINERS_REQUIRED", ("metadata", "maintainers"), "name at least one maintainer email address")
    for index, maintainer in enumerate(metadata.maintainers):
        if not _EMAIL.match(maintainer):
            yield Issue(
                "MAINTAINER_EMAIL",
                ("metadata", "maintainers", index),
                f"{maintainer!r} is not an email address; write it like platform-team@company.com",
            )
    yield from _labels(metadata.labels)


def _labels(labels: dict[str, str]) -> Iterator[Issue]:
    for key, value in labels.items():
        problem = _label_key_problem(key)
        if problem:
            yield Issue("LABEL_FORMAT", ("metadata", "labels", key), f"label key {key!r} {problem}", key=True)
        if value and (len(value) > 63 or not _LABEL_NAME.match(value)):
            yield Issue(
                "LABEL_FORMAT",
                ("metadata", "labels", key),
                f"label value {value!r} must be at most 63 characters of [A-Za-z0-9-_.], "
                "starting and ending with a letter or digit",
            )


def _label_key_problem(key: str) -> str | None:
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        return "has a prefix that is not a lowercase DNS subdomain (like app.kubernetes.io)"
    if not name or len(name) > 63 or not _LABEL_NAME.match(name):
        return (
            "must be an optional DNS prefix and '/', then at most 63 characters of [A-Za-z0-9-_.], "
            "starting and ending with a letter or digit"
        )
    return None


def _deprecation(definition: DefinitionLike, _limits: Limits) -> Iterator[Issue]:
    deprecation = definition.metadata.deprecation
    if deprecation is None or deprecation.replacement is None:
        return
    path: DataPath = ("metadata", "deprecation", "replacement")
    replacement = deprecation.replacement
    name, at, constraint = replacement.partition("@")
    if not _NAME.match(name) or len(name) > 63:
        yield Issue(
            "DEPRECATION_REPLACEMENT",
            path,
            f"{replacement!r} must be a resource name or name@constraint, like aws-rds-mysql@^2",
        )
        return
    if at:
        from nestor_catalog_core.versions.constraint import Constraint  # only for name@constraint

        try:
            Constraint.parse(constraint)
        except InvalidConstraint as exc:
            yield Issue("DEPRECATION_REPLACEMENT", path, f"the constraint in {replacement!r} does not parse: {exc}")
            return
    elif name == definition.metadata.name:
        yield Issue(
            "DEPRECATION_REPLACEMENT",
            path,
            f"{replacement!r} points at this resource itself; name the versions to move to, like {name}@^2",
        )


def _engines(definition: DefinitionLike, _limits: Limits) -> Iterator[Issue]:
    spec = definition.spec
    if not spec.supported_engines:
        yield Issue(
            "ENGINES_REQUIRED",
            ("spec", "supported_engines"),
            "list at least one engine that can deploy this resource (crossplane, pulumi, terraform...)",
        )
    configured = spec.engine_configs.engines()
    seen: set[str] = set()
    for index, engine in enumerate(spec.supported_engines):
        path: DataPath = ("spec", "supported_engines", index)
        if not _ENGINE.match(engine):
            yield Issue("ENGINE_NAME_FORMAT", path, f"engine {engine!r} must be lowercase letters, digits and '-'")
        if engine in seen:
            yield Issue("ENGINE_DUPLICATE", path, f"engine {engine!r} is listed more than once")
            continue
        seen.add(engine)
        if engine not in configured:
            yield Issue(
                "ENGINE_CONFIG_MISSING",
                path,
                f"engine {engine!r} has no entry in spec.engine_configs; add one or drop the engine",
            )
    for engine in configured:
        if engine not in seen:
            yield Issue(
                "ENGINE_CONFIG_UNKNOWN",
                ("spec", "engine_configs", engine),
                f"config for engine {engine!r}, which is not in spec.supported_engines; add it there or drop this",
                key=True,
            )


def _inputs(definition: DefinitionLike, limits: Limits) -> Iterator[Issue]:
    first_seen: dict[str, DataPath] = {}
    sections: tuple[tuple[str, Sequence[InputSpecLike]], ...] = (
        ("required_inputs", definition.spec.required_inputs),
        ("optional_inputs", definition.spec.optional_inputs),
    )
    for section, inputs in sections:
        for index, item in enumerate(inputs):
            path: DataPath = ("spec", section, index)
            yield from _input_name(item, path, first_seen)
            yield from _input_validation(item, path, limits)
            yield from _input_default(item, path, limits, required=section == "required_inputs")
            if not item.description.strip():
                yield Issue("DESCRIPTION_MISSING", (*path, "description"), f"describe input {item.name!r}")


def _input_name(spec: InputSpecLike, path: DataPath, first_seen: dict[str, DataPath]) -> Iterator[Issue]:
    name_path = (*path, "name")
    if not _SNAKE_CASE.match(spec.name):
        yield Issue("INPUT_NAME_SNAKE_CASE", name_path, _snake_case_message("input", spec.name))
    if spec.name in first_seen:
        yield Issue(
            "INPUT_NAME_UNIQUE",
            name_path,
            f"input {spec.name!r} is already defined at {_field(first_seen[spec.name])}",
        )
    else:
        first_seen[spec.name] = path


def _input_validation(spec: InputSpecLike, path: DataPath, limits: Limits) -> Iterator[Issue]:
    validation = spec.validation
    if validation is None:
        return
    vpath: DataPath = (*path, "validation")
    for keyword, types in APPLICABLE.items():
        if getattr(validation, keyword) is not None and spec.type not in types:
            allowed = " or ".join(sorted(t.value for t in types))
            yield Issue(
                "VALIDATION_NOT_APPLICABLE",
                (*vpath, keyword),
                f"{keyword} does not apply to {_a(spec.type)} input (only to {allowed}); remove it",
            )
    if validation.min is not None and validation.max is not None and validation.min > validation.max:
        yield Issue("MIN_GT_MAX", (*vpath, "min"), f"min {validation.min!r} is greater than max {validation.max!r}")
    if (
        validation.min_length is not None
        and validation.max_length is not None
        and validation.min_length > validation.max_length
    ):
        yield Issue(
            "LENGTH_MIN_GT_MAX",
            (*vpath, "min_length"),
            f"min_length {validation.min_length} is greater than max_length {validation.max_length}",
        )
    yield from _enum_values(spec, vpath, limits)


def _enum_values(spec: InputSpecLike, vpath: DataPath, limits: Limits) -> Iterator[Issue]:
    validation = spec.validation
    if validation is None or validation.enum is None:
        return
    for index, value in enumerate(validation.enum):
        value_path = (*vpath, "enum", index)
        if not type_matches(value, spec.type):
            yield Issue(
                "ENUM_TYPE_MISMATCH",
                value_path,
                f"allowed value {_short(value)} is not {_a(spec.type)}, the input's type",
            )
            continue
        for problem in validation_violations(value, spec.type, validation, enum=False, limits=limits):
            yield Issue("ENUM_VIOLATES_VALIDATION", value_path, f"allowed value {_short(value)} {problem}")


def _input_default(spec: InputSpecLike, path: DataPath, limits: Limits, *, required: bool) -> Iterator[Issue]:
    if not spec.has_default:
        return
    default_path = (*path, "default")
    if required:
        yield Issue(
            "DEFAULT_ON_REQUIRED",
            default_path,
            f"required input {spec.name!r} has a default that is never used; make it optional or drop the default",
        )
    if spec.sensitive:
        yield Issue(
            "SENSITIVE_DEFAULT",
            default_path,
            f"sensitive input {spec.name!r} has a default, so the secret is stored in git; drop it",
        )
    shown = "the default" if spec.sensitive else f"default {_short(spec.default)}"
    if not type_matches(spec.default, spec.type):
        got = "" if spec.sensitive else f", got {describe_value(spec.default)}"
        yield Issue("DEFAULT_TYPE_MISMATCH", default_path, f"the default must be {_a(spec.type)}{got}")
        return
    for problem in validation_violations(spec.default, spec.type, spec.validation, limits=limits):
        yield Issue("DEFAULT_VIOLATES_VALIDATION", default_path, f"{shown} {problem}")


def _outputs(definition: DefinitionLike, _limits: Limits) -> Iterator[Issue]:
    first_seen: dict[str, DataPath] = {}
    outputs: Sequence[OutputSpecLike] = definition.spec.outputs
    for index, output in enumerate(outputs):
        path: DataPath = ("spec", "outputs", index)
        if not _SNAKE_CASE.match(output.name):
            yield Issue("OUTPUT_NAME_SNAKE_CASE", (*path, "name"), _snake_case_message("output", output.name))
        if output.name in first_seen:
            yield Issue(
                "OUTPUT_NAME_UNIQUE",
                (*path, "name"),
                f"output {output.name!r} is already defined at {_field(first_seen[output.name])}",
            )
        else:
            first_seen[output.name] = path
        if not output.description.strip():
            yield Issue("DESCRIPTION_MISSING", (*path, "description"), f"describe output {output.name!r}")


_CHECKS: Final[tuple[_Check, ...]] = (_metadata, _deprecation, _engines, _inputs, _outputs)


def _snake_case_message(what: str, name: str) -> str:
    suggestion = _to_snake_case(name)
    hint = f", like {suggestion!r}" if suggestion and suggestion != name and _SNAKE_CASE.match(suggestion) else ""
    return f"{what} name {name!r} must be snake_case{hint}"


def _to_snake_case(name: str) -> str:
    spaced = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name)
    return re.sub(r"[^a-z0-9]+", "_", spaced.lower()).strip("_")


def _field(path: DataPath) -> str:
    return format_field_path(path)


def _a(value_type: ValueType) -> str:
    return {
        ValueType.STRING: "a string",
        ValueType.INTEGER: "an integer",
        ValueType.NUMBER: "a number",
        ValueType.BOOLEAN: "a boolean",
        ValueType.ARRAY: "an array (list)",
        ValueType.OBJECT: "an object (mapping)",
    }[value_type]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
