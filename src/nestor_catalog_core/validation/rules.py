"""Every rule id the catalog reports while loading and validating, in one table.

Rule ids are stable: platform teams grep for them, silence them in reviews and link to
them from CI. ``nestor-catalog rules`` prints this table. The severity here is the
default; two rules change with the settings (``UNKNOWN_FIELD`` is a warning when strict
mode is off; ``FOREIGN_API_VERSION`` and ``EMPTY_DOCUMENT`` are always notices).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from nestor_catalog_core.models.findings import Severity

__all__ = ["RULES", "Layer", "Rule", "rule"]


class Layer(StrEnum):
    LOAD = "load"
    STRUCTURE = "structure"
    LIMITS = "limits"
    POLICY = "policy"
    INPUTS = "inputs"
    TREE = "tree"


@dataclass(frozen=True, slots=True)
class Rule:
    """A rule id with its severity, the layer that checks it, what it means and how to fix it."""

    id: str
    severity: Severity
    layer: Layer
    summary: str
    fix: str


_E, _W, _I = Severity.ERROR, Severity.WARNING, Severity.INFO

_TABLE: Final[tuple[Rule, ...]] = (
    # Loading: the file itself.
    Rule("YAML_SYNTAX", _E, Layer.LOAD, "The YAML does not parse.", "Fix the syntax at the position shown."),
    Rule("JSON_SYNTAX", _E, Layer.LOAD, "The JSON does not parse.", "Fix the syntax at the position shown."),
    Rule(
        "DUPLICATE_KEY", _E, Layer.LOAD, "A key appears twice in one mapping.", "Keep one; YAML would drop the other."
    ),
    Rule(
        "NON_STRING_KEY",
        _E,
        Layer.LOAD,
        "A mapping key reads as a number, boolean, null or collection.",
        "Quote the key.",
    ),
    Rule(
        "YAML_TAG",
        _E,
        Layer.LOAD,
        "An explicit YAML tag (!foo, !!python/..., !!binary); nothing is ever constructed.",
        "Remove the tag; definitions are plain data.",
    ),
    Rule(
        "YAML_ALIAS_BOMB",
        _E,
        Layer.LOAD,
        "Aliases expand beyond the budget, or an alias refers to its own anchor.",
        "Write the values out, or use fewer aliases.",
    ),
    Rule(
        "NESTING_TOO_DEEP",
        _E,
        Layer.LOAD,
        "Mappings and lists nest deeper than the limit (100).",
        "Flatten the structure.",
    ),
    Rule(
        "NUMBER_OUT_OF_RANGE",
        _E,
        Layer.LOAD,
        "A number JSON cannot carry: infinity, NaN, or an integer with thousands of digits.",
        "Use a finite number, or quote it as a string.",
    ),
    Rule(
        "FILE_TOO_LARGE",
        _E,
        Layer.LOAD,
        "The file is over the size limit (1 MiB by default).",
        "Split it, or raise --max-file-size.",
    ),
    Rule("NOT_UTF8", _E, Layer.LOAD, "The file is not valid UTF-8.", "Save it as UTF-8."),
    Rule(
        "SYMLINK_OUTSIDE_ROOT",
        _E,
        Layer.LOAD,
        "A symlink resolves outside the tree being read; it is not followed.",
        "Copy the file into the tree, or remove the link.",
    ),
    Rule("FILE_UNREADABLE", _E, Layer.LOAD, "The file cannot be read.", "Check that it exists and is readable."),
    Rule(
        "NOT_A_MAPPING",
        _E,
        Layer.LOAD,
        "A document is a list or a scalar, not a mapping.",
        "A definition is a mapping with apiVersion, kind, metadata and spec.",
    ),
    Rule(
        "FOREIGN_API_VERSION",
        _I,
        Layer.LOAD,
        "A document of another API (a Kubernetes manifest, say) was skipped.",
        "Nothing, if intended; otherwise set apiVersion: catalog.nestor.io/v1.",
    ),
    Rule(
        "EMPTY_DOCUMENT",
        _I,
        Layer.LOAD,
        "The file holds no documents.",
        "Nothing, if intended; otherwise add the definition.",
    ),
    # Structure: the shape the models (and the JSON Schema) define.
    Rule(
        "API_VERSION",
        _E,
        Layer.STRUCTURE,
        "apiVersion is missing or not catalog.nestor.io/v1.",
        "Set apiVersion: catalog.nestor.io/v1.",
    ),
    Rule("KIND", _E, Layer.STRUCTURE, "kind is not ResourceDefinition.", "Set kind: ResourceDefinition."),
    Rule(
        "NAME_FORMAT",
        _E,
        Layer.STRUCTURE,
        "metadata.name is not a lowercase DNS label of at most 63 characters.",
        "Use a-z, 0-9 and '-', starting and ending with a letter or digit (aws-rds-mysql).",
    ),
    Rule(
        "VERSION_FORMAT",
        _E,
        Layer.STRUCTURE,
        "metadata.version is not a full SemVer 2.0.0 version.",
        'Write MAJOR.MINOR.PATCH and quote it: version: "1.2.0".',
    ),
    Rule(
        "VERSION_BUILD_METADATA",
        _E,
        Layer.STRUCTURE,
        "metadata.version carries +build metadata, which SemVer gives no precedence (1.0.0+x would be another 1.0.0).",
        "Drop the +build part, or publish the change as a new version.",
    ),
    # Bounds: always checked, whatever the policy settings (validation.limits.* in the server).
    Rule(
        "PATTERN_INVALID",
        _E,
        Layer.LIMITS,
        "A validation pattern does not compile on RE2, the linear-time engine that matches it "
        "(no backreferences, lookaround or possessive quantifiers).",
        "Fix or rewrite the pattern as the finding says; in YAML double quotes, write \\\\ for a backslash.",
    ),
    Rule(
        "FIELD_TOO_LONG",
        _E,
        Layer.LIMITS,
        "A description, deprecation message, label value or pattern is longer than its limit.",
        "Shorten it (the limit is validation.limits.<field>_max_length on the server).",
    ),
    Rule(
        "TOO_MANY_LABELS",
        _E,
        Layer.LIMITS,
        "More labels than validation.limits.max_labels.",
        "Keep the labels readers filter on.",
    ),
    Rule("SCHEMA_REQUIRED", _E, Layer.STRUCTURE, "A required field is missing.", "Add the field."),
    Rule(
        "SCHEMA_TYPE",
        _E,
        Layer.STRUCTURE,
        "A field has the wrong type (a list where a string belongs, say).",
        "Use the type the message names; quote values YAML would read as numbers or booleans.",
    ),
    Rule("SCHEMA_ENUM", _E, Layer.STRUCTURE, "A field is not one of its allowed values.", "Use an allowed value."),
    Rule(
        "SCHEMA_VALUE",
        _E,
        Layer.STRUCTURE,
        "A field breaks a constraint (empty where text is required, negative length...).",
        "Change the value as the message says.",
    ),
    Rule(
        "UNKNOWN_FIELD",
        _E,
        Layer.STRUCTURE,
        "A field the schema does not define (a warning when strict mode is off, and then dropped).",
        "Remove it or fix its spelling; the message suggests the closest known field.",
    ),
    # Policies: what platform teams agreed a good definition looks like.
    Rule(
        "INPUT_NAME_SNAKE_CASE",
        _E,
        Layer.POLICY,
        "An input name is not snake_case.",
        "Rename it like instance_class.",
    ),
    Rule(
        "INPUT_NAME_UNIQUE",
        _E,
        Layer.POLICY,
        "Two inputs (required or optional) share a name.",
        "Rename or remove one.",
    ),
    Rule(
        "OUTPUT_NAME_SNAKE_CASE",
        _E,
        Layer.POLICY,
        "An output name is not snake_case.",
        "Rename it like endpoint_address.",
    ),
    Rule("OUTPUT_NAME_UNIQUE", _E, Layer.POLICY, "Two outputs share a name.", "Rename or remove one."),
    Rule(
        "ENGINES_REQUIRED",
        _E,
        Layer.POLICY,
        "spec.supported_engines is empty.",
        "List the engines that can deploy this resource (crossplane, pulumi, terraform...).",
    ),
    Rule(
        "ENGINE_NAME_FORMAT",
        _E,
        Layer.POLICY,
        "An engine name is not lowercase letters, digits and '-'.",
        "Write it like terraform or crossplane.",
    ),
    Rule("ENGINE_DUPLICATE", _E, Layer.POLICY, "An engine is listed twice.", "List each engine once."),
    Rule(
        "ENGINE_CONFIG_MISSING",
        _E,
        Layer.POLICY,
        "A supported engine has no entry in spec.engine_configs.",
        "Add its config, or remove it from supported_engines.",
    ),
    Rule(
        "ENGINE_CONFIG_UNKNOWN",
        _E,
        Layer.POLICY,
        "spec.engine_configs configures an engine that is not in supported_engines.",
        "Add the engine to supported_engines, or remove the config.",
    ),
    Rule(
        "DEFAULT_TYPE_MISMATCH",
        _E,
        Layer.POLICY,
        "An input's default does not have the input's type.",
        "Change the default (or the type); booleans are not integers.",
    ),
    Rule(
        "DEFAULT_VIOLATES_VALIDATION",
        _E,
        Layer.POLICY,
        "An input's default breaks the input's own validation.",
        "Pick a default inside the validation, or loosen it.",
    ),
    Rule(
        "DEFAULT_ON_REQUIRED",
        _W,
        Layer.POLICY,
        "A required input has a default, which is never used.",
        "Move the input to optional_inputs, or drop the default.",
    ),
    Rule(
        "SENSITIVE_DEFAULT",
        _W,
        Layer.POLICY,
        "A sensitive input has a default, so the secret sits in git.",
        "Drop the default; let consumers supply the value.",
    ),
    Rule("MIN_GT_MAX", _E, Layer.POLICY, "validation.min is greater than validation.max.", "Swap or fix the bounds."),
    Rule(
        "LENGTH_MIN_GT_MAX",
        _E,
        Layer.POLICY,
        "validation.min_length is greater than validation.max_length.",
        "Swap or fix the bounds.",
    ),
    Rule(
        "VALIDATION_NOT_APPLICABLE",
        _E,
        Layer.POLICY,
        "A validation keyword does not apply to the input's type (pattern on an integer, min on a string...).",
        "Remove the keyword or change the type.",
    ),
    Rule(
        "ENUM_TYPE_MISMATCH",
        _E,
        Layer.POLICY,
        "An allowed value (validation.enum) does not have the input's type.",
        "Fix the value or the type.",
    ),
    Rule(
        "ENUM_VIOLATES_VALIDATION",
        _E,
        Layer.POLICY,
        "An allowed value (validation.enum) breaks the input's other validation, so it can never be used.",
        "Fix the value or the other validation.",
    ),
    Rule(
        "MAINTAINERS_REQUIRED",
        _E,
        Layer.POLICY,
        "metadata.maintainers is empty.",
        "Name at least one owning team's email address.",
    ),
    Rule(
        "MAINTAINER_EMAIL",
        _E,
        Layer.POLICY,
        "A maintainer is not an email address.",
        "Write it like platform-team@company.com.",
    ),
    Rule(
        "PROVIDER_FORMAT",
        _E,
        Layer.POLICY,
        "metadata.provider is not a lowercase identifier.",
        "Write it like aws, gcp, azure or kubernetes.",
    ),
    Rule(
        "CATEGORY_FORMAT",
        _E,
        Layer.POLICY,
        "metadata.category is not a lowercase identifier.",
        "Write it like database, cache, queue, storage, network or compute.",
    ),
    Rule(
        "RESOURCE_TYPE_FORMAT",
        _E,
        Layer.POLICY,
        "metadata.resource_type is not a lowercase identifier.",
        "Write it like mysql, s3-bucket or redis.",
    ),
    Rule(
        "LABEL_FORMAT",
        _E,
        Layer.POLICY,
        "A label key or value breaks Kubernetes label syntax.",
        "Keys: optional DNS prefix and '/', then up to 63 of [A-Za-z0-9-_.]; values: up to 63 of the same.",
    ),
    Rule(
        "DESCRIPTION_MISSING",
        _W,
        Layer.POLICY,
        "The definition, an input or an output has no description.",
        "Say what it is for; consumers read it in forms and docs.",
    ),
    Rule(
        "DEPRECATION_REPLACEMENT",
        _E,
        Layer.POLICY,
        "metadata.deprecation.replacement is not a name or name@constraint.",
        "Write it like aws-rds-mysql@^2 or aws-aurora-mysql.",
    ),
    # Inputs a consumer passes for a definition (validate_inputs).
    Rule("INPUT_REQUIRED", _E, Layer.INPUTS, "A required input is missing.", "Supply a value."),
    Rule("INPUT_UNKNOWN", _E, Layer.INPUTS, "An input the definition does not declare.", "Remove it or fix its name."),
    Rule("INPUT_TYPE", _E, Layer.INPUTS, "An input value has the wrong type.", "Use the declared type."),
    Rule("INPUT_PATTERN", _E, Layer.INPUTS, "A string input does not match its pattern.", "Match the pattern."),
    Rule("INPUT_RANGE", _E, Layer.INPUTS, "A number input is outside its min/max.", "Stay within the bounds."),
    Rule(
        "INPUT_LENGTH",
        _E,
        Layer.INPUTS,
        "A string or list input is too short or too long.",
        "Stay within the bounds.",
    ),
    Rule("INPUT_ENUM", _E, Layer.INPUTS, "An input value is not one of the allowed values.", "Use an allowed value."),
    Rule(
        "PATTERN_INPUT_TOO_LONG",
        _E,
        Layer.INPUTS,
        "A string checked against a pattern is longer than validation.limits.pattern_input_max_length.",
        "Send a shorter value; the limit bounds the work one request can ask for.",
    ),
    Rule("INPUT_INVALID", _E, Layer.INPUTS, "An input value breaks its schema.", "Change the value."),
    Rule(
        "INPUT_DEPRECATED",
        _W,
        Layer.INPUTS,
        "The consumer sets an input the definition marks deprecated (it still works).",
        "Stop setting it; set its replacement, if the message names one.",
    ),
    # Trees of files validated together.
    Rule(
        "DUPLICATE_VERSION",
        _E,
        Layer.TREE,
        "The same name and version is defined twice in the files checked (a warning when both are identical).",
        "A version is immutable: give the new content a new version, or delete the copy.",
    ),
    Rule(
        "SUNSET_NEAR",
        _W,
        Layer.TREE,
        "A deprecated definition's sunset date is near (validate and check-compat, --sunset-warning-days).",
        "Move consumers to the replacement before the date; the version then stops resolving.",
    ),
    Rule(
        "SUNSET_PASSED",
        _W,
        Layer.TREE,
        "A deprecated definition's sunset date has come: the catalog no longer resolves it as latest or by constraint.",
        "Move the remaining consumers to the replacement, or remove the version from the source.",
    ),
    Rule(
        "NO_DEFINITIONS",
        _E,
        Layer.TREE,
        "validate found no definition in the paths given (a CI job pointed at the wrong folder).",
        "Check the paths and .nestorignore; pass --allow-empty when an empty tree is expected.",
    ),
)

RULES: Final[dict[str, Rule]] = {entry.id: entry for entry in _TABLE}


def rule(rule_id: str) -> Rule:
    """The rule with this id; ``KeyError`` names unknown ids (a typo in code, never user input)."""
    return RULES[rule_id]
