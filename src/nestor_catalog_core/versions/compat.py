"""Semantic versioning enforced: what changed between two versions of one definition, and
whether the declared version bump is big enough.

Each change carries a stable rule id, the field (``spec.required_inputs[0].validation.pattern``),
both values and the smallest bump it needs (DESIGN.md's table):

===============================  ========  ================================================
rule                             needs     when
===============================  ========  ================================================
``INPUT_REMOVED``                major     an input (required or optional) is gone
``REQUIRED_INPUT_ADDED``         major     a new required input
``INPUT_MADE_REQUIRED``          major     an optional input became required
``INPUT_TYPE_CHANGED``           major     an input's type changed
``VALIDATION_TIGHTENED``         major     min up, max down, a length bound tighter, enum
                                           values removed, a bound/pattern/enum added
``PATTERN_CHANGED``              major     a pattern replaced by another
``OUTPUT_REMOVED``               major     an output is gone
``OUTPUT_TYPE_CHANGED``          major     an output's type changed
``ENGINE_REMOVED``               major     an engine left ``supported_engines``
``PROVIDER_CHANGED``             major     ``metadata.provider``
``CATEGORY_CHANGED``             major     ``metadata.category``
``RESOURCE_TYPE_CHANGED``        major     ``metadata.resource_type``
``OPTIONAL_INPUT_ADDED``         minor     a new optional input
``INPUT_MADE_OPTIONAL``          minor     a required input became optional
``VALIDATION_LOOSENED``          minor     the opposite of tightened (bound/pattern/enum removed too)
``OUTPUT_ADDED``                 minor     a new output
``ENGINE_ADDED``                 minor     a new engine in ``supported_engines``
``DEFAULT_CHANGED``              minor     an input's default changed, appeared or disappeared
``SENSITIVE_CHANGED``            patch     an input or output became sensitive (a fix: it
                                 / minor   only adds care); *minor* when it stops being
                                           sensitive (consumers may now log the value)
``INPUT_DEPRECATION_CHANGED``    patch     an input was marked deprecated (or its deprecation
                                           changed or was lifted): consumers get a warning,
                                           nothing breaks; removing the input later is major
``DESCRIPTION_CHANGED``          patch     any description
``MAINTAINERS_CHANGED``          patch     ``metadata.maintainers`` (order ignored)
``LABELS_CHANGED``               patch     ``metadata.labels``
``ENGINE_CONFIG_CHANGED``        patch     a value under ``spec.engine_configs``
===============================  ========  ================================================

Inputs and outputs are matched by name, never by position: reordering is no change, a rename
is a removal plus an addition. ``metadata.version`` and the lifecycle block
(``metadata.deprecation``) are never changes.

The declared bump (``declared_bump``) is read from the two version numbers:

- ``X.Y.Z`` compared component-wise: major, minor or patch.
- In ``0.y.z`` a minor bump may break and a patch bump may add (as Cargo does): the bump
  counts one level higher.
- Prereleases are held to the bump their ``X.Y.Z`` declares, so a prerelease can never
  smuggle a breaking change into a minor release: ``1.1.0 -> 1.2.0-rc.1`` is a minor bump,
  and when both versions share ``X.Y.Z`` (``1.2.0-rc.1 -> 1.2.0-rc.2`` or ``-> 1.2.0``) the
  bump is the kind of ``X.Y.Z`` itself (``X.0.0`` major, ``X.Y.0`` minor, else patch).
- A new version that is not higher than the old one declares ``Bump.NONE``; the report is
  then never ok (``VERSION_NOT_INCREASED``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from enum import IntEnum
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeAlias

from nestor_catalog_core._exceptions import IncompatibleChange, InvalidRequest
from nestor_catalog_core.models._base import canonical_json
from nestor_catalog_core.models.findings import Finding, Severity
from nestor_catalog_core.versions.version import VersionKey, version_key

if TYPE_CHECKING:
    # The models need pydantic; ``RULES`` (read by ``nestor-catalog validate --format sarif``) does not.
    from nestor_catalog_core.models.definition import (
        InputSpec,
        InputValidation,
        Metadata,
        OutputSpec,
        ResourceDefinition,
        Spec,
    )

__all__ = [
    "BUMP_TOO_SMALL",
    "KNOWN_FIELDS",
    "RULES",
    "VERSION_NOT_INCREASED",
    "Bump",
    "Change",
    "CompatReport",
    "FieldPath",
    "HasPositions",
    "changed_fields",
    "compare",
    "declared_bump",
    "next_version",
]

BUMP_TOO_SMALL: Final = "BUMP_TOO_SMALL"
VERSION_NOT_INCREASED: Final = "VERSION_NOT_INCREASED"


class Bump(IntEnum):
    """The size of a version step; ordered, so ``max()`` of changes is the bump they need."""

    NONE = 0
    PATCH = 1
    MINOR = 2
    MAJOR = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def from_label(cls, label: str) -> Bump:
        """``"minor"`` -> ``Bump.MINOR``; raises ``ValueError`` for anything else."""
        try:
            return cls[label.upper()]
        except KeyError:
            raise ValueError(f"{label!r} is not a bump (none, patch, minor or major)") from None

    def __str__(self) -> str:
        return self.label


#: Every change rule with the bump it needs (``SENSITIVE_CHANGED``: the larger of its two).
RULES: Final[Mapping[str, Bump]] = {
    "INPUT_REMOVED": Bump.MAJOR,
    "REQUIRED_INPUT_ADDED": Bump.MAJOR,
    "INPUT_MADE_REQUIRED": Bump.MAJOR,
    "INPUT_TYPE_CHANGED": Bump.MAJOR,
    "VALIDATION_TIGHTENED": Bump.MAJOR,
    "PATTERN_CHANGED": Bump.MAJOR,
    "OUTPUT_REMOVED": Bump.MAJOR,
    "OUTPUT_TYPE_CHANGED": Bump.MAJOR,
    "ENGINE_REMOVED": Bump.MAJOR,
    "PROVIDER_CHANGED": Bump.MAJOR,
    "CATEGORY_CHANGED": Bump.MAJOR,
    "RESOURCE_TYPE_CHANGED": Bump.MAJOR,
    "OPTIONAL_INPUT_ADDED": Bump.MINOR,
    "INPUT_MADE_OPTIONAL": Bump.MINOR,
    "VALIDATION_LOOSENED": Bump.MINOR,
    "OUTPUT_ADDED": Bump.MINOR,
    "ENGINE_ADDED": Bump.MINOR,
    "DEFAULT_CHANGED": Bump.MINOR,
    "SENSITIVE_CHANGED": Bump.MINOR,
    "INPUT_DEPRECATION_CHANGED": Bump.PATCH,
    "DESCRIPTION_CHANGED": Bump.PATCH,
    "MAINTAINERS_CHANGED": Bump.PATCH,
    "LABELS_CHANGED": Bump.PATCH,
    "ENGINE_CONFIG_CHANGED": Bump.PATCH,
}

#: The model fields this module knows how to compare; a test fails when the models grow a
#: field that is missing here, so no change can go unclassified.
KNOWN_FIELDS: Final[Mapping[str, frozenset[str]]] = {
    "Metadata": frozenset(
        {"name", "version", "provider", "category", "resource_type", "description", "maintainers", "labels"}
        | {"deprecation"}
    ),
    "Spec": frozenset({"supported_engines", "required_inputs", "optional_inputs", "outputs", "engine_configs"}),
    "InputSpec": frozenset({"name", "type", "description", "default", "validation", "sensitive", "deprecated"}),
    "InputValidation": frozenset({"pattern", "min", "max", "min_length", "max_length", "enum"}),
    "OutputSpec": frozenset({"name", "type", "description", "sensitive"}),
}
FieldPath: TypeAlias = tuple[str | int, ...]


class HasPositions(Protocol):
    """Anything that maps a document path to a 1-based ``(line, column)``: the loader's
    ``LoadedDocument`` is one (it falls back to the nearest existing ancestor)."""

    def position(self, path: Sequence[str | int], *, key: bool = False) -> tuple[int, int]: ...


@dataclass(frozen=True, slots=True)
class Change:
    """One difference between two versions. ``old``/``new`` are JSON-safe (``None`` when
    absent). ``field`` is the path in the new document, or in the old one for something
    removed; ``location`` is where the change shows in the new document (for a removal,
    the list it was removed from), used to point findings at a line."""

    rule: str
    field: str
    old: Any
    new: Any
    needs: Bump
    message: str
    location: FieldPath = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "field": self.field,
            "old": self.old,
            "new": self.new,
            "needs": self.needs.label,
            "message": self.message,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Change:
        """The inverse of ``to_dict`` (``location`` is not carried over the wire)."""
        return cls(
            rule=str(data["rule"]),
            field=str(data.get("field", "")),
            old=data.get("old"),
            new=data.get("new"),
            needs=Bump.from_label(str(data.get("needs", "none"))),
            message=str(data.get("message", "")),
        )

    def explain(self) -> str:
        """The message with both values and the bump: what a finding about it says."""
        return f"{self.message} (was {_show(self.old)}, now {_show(self.new)}; needs a {self.needs.label} bump)"

    def describe(self) -> str:
        """``RULE field: old -> new (needs major)``, the CLI's line for a change."""
        return f"{self.rule} {self.field}: {_show(self.old)} -> {_show(self.new)} (needs {self.needs.label})"


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return value
    return canonical_json(value).decode()


@dataclass
class CompatReport:
    """The changes from ``old_version`` to ``new_version`` of ``name``, the bump they need
    (``required``) and the bump the version numbers declare (``declared``)."""

    name: str
    old_version: str
    new_version: str
    declared: Bump
    required: Bump
    changes: list[Change] = dataclass_field(default_factory=list)

    @property
    def version_increased(self) -> bool:
        return self.declared is not Bump.NONE

    @property
    def ok(self) -> bool:
        """The version increased and its bump covers every change."""
        return self.version_increased and self.declared >= self.required

    @property
    def violations(self) -> list[Change]:
        """The changes that need more than the declared bump."""
        return [change for change in self.changes if change.needs > self.declared]

    def summary(self) -> str:
        """``aws-rds-mysql 1.2.0 -> 2.0.0: declared major, required major: ok``."""
        verdict = "ok" if self.ok else ("version not increased" if not self.version_increased else "bump too small")
        return (
            f"{self.name} {self.old_version} -> {self.new_version}: declared {self.declared.label}, "
            f"required {self.required.label}: {verdict}"
        )

    def findings(self, file: str | None = None, *, locate: HasPositions | None = None) -> list[Finding]:
        """A finding per change (error when it needs more than declared, info otherwise),
        then ``VERSION_NOT_INCREASED`` or ``BUMP_TOO_SMALL`` when the report is not ok.
        ``locate`` (a loaded new document) adds line and column."""
        out = [
            self._finding(c.rule, self._severity(c), c.field, c.explain(), c.location, file, locate)
            for c in self.changes
        ]
        version_path: FieldPath = ("metadata", "version")
        if not self.version_increased:
            message = f"{self.new_version} is not higher than {self.old_version}; release {self.suggested_version()}"
            out.append(
                self._finding(
                    VERSION_NOT_INCREASED, Severity.ERROR, "metadata.version", message, version_path, file, locate
                )
            )
        elif not self.ok:
            rules = ", ".join(dict.fromkeys(c.rule for c in self.violations))
            message = (
                f"{self.name} {self.old_version} -> {self.new_version} is a {self.declared.label} bump, "
                f"but the changes need {self.required.label} ({rules}); release {self.suggested_version()} instead"
            )
            out.append(
                self._finding(BUMP_TOO_SMALL, Severity.ERROR, "metadata.version", message, version_path, file, locate)
            )
        return out

    def _severity(self, change: Change) -> Severity:
        return Severity.ERROR if change.needs > self.declared else Severity.INFO

    @staticmethod
    def _finding(
        rule: str,
        severity: Severity,
        field_path: str,
        message: str,
        location: FieldPath,
        file: str | None,
        locate: HasPositions | None,
    ) -> Finding:
        line = column = None
        if locate is not None:
            line, column = locate.position(location)
        return Finding(rule, severity, field_path, message, file, line, column)

    def suggested_version(self) -> str:
        """The lowest version that would carry these changes after ``old_version``."""
        return next_version(self.old_version, self.required)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "old_version": self.old_version,
            "new_version": self.new_version,
            "declared": self.declared.label,
            "required": self.required.label,
            "ok": self.ok,
            "changes": [change.to_dict() for change in self.changes],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CompatReport:
        """The inverse of ``to_dict`` (``ok`` is recomputed from the bumps)."""
        return cls(
            name=str(data["name"]),
            old_version=str(data["old_version"]),
            new_version=str(data["new_version"]),
            declared=Bump.from_label(str(data["declared"])),
            required=Bump.from_label(str(data["required"])),
            changes=[Change.from_dict(item) for item in data.get("changes", [])],
        )

    def to_error(self, findings: Sequence[Finding] = ()) -> IncompatibleChange:
        """The ``IncompatibleChange`` to raise when the report is not ok: its details list
        every change, ``findings`` (``self.findings(...)`` with the file's positions) ride
        along for callers that report per file."""
        return IncompatibleChange(
            f"{self.name} {self.old_version} -> {self.new_version}: the changes need a {self.required.label} "
            f"bump, but {self.new_version} is a {self.declared.label} bump",
            findings=findings,
            details={
                "resource_name": self.name,
                "version": self.new_version,
                "previous_version": self.old_version,
                "declared": self.declared.label,
                "required": self.required.label,
                "changes": [change.to_dict() for change in self.changes],
            },
        )


# --- version bumps ------------------------------------------------------------------------


def _release_kind(numbers: tuple[int, int, int]) -> Bump:
    if numbers[1] == 0 and numbers[2] == 0:
        return Bump.MAJOR
    return Bump.MINOR if numbers[2] == 0 else Bump.PATCH


def _numbers(key: VersionKey) -> tuple[int, int, int]:
    return (key[0], key[1], key[2])


def declared_bump(old_version: str, new_version: str) -> Bump:
    """The largest change the step from ``old_version`` to ``new_version`` may carry
    (see the module docstring for ``0.y.z`` and prereleases); ``Bump.NONE`` when the new
    version is not higher. Raises ``InvalidVersion`` for strings that are not versions."""
    old_key, new_key = version_key(old_version), version_key(new_version)
    if new_key <= old_key:
        return Bump.NONE
    old, new = _numbers(old_key), _numbers(new_key)
    if new == old:
        bump = _release_kind(new)
    elif new[0] > old[0]:
        bump = Bump.MAJOR
    elif new[1] > old[1]:
        bump = Bump.MINOR
    else:
        bump = Bump.PATCH
    if new[0] == 0 and bump is not Bump.MAJOR:
        bump = Bump(bump + 1)
    return bump


def next_version(version: str, bump: Bump) -> str:
    """The lowest version after ``version`` whose declared bump is at least ``bump``
    (``1.2.3`` + minor = ``1.3.0``; ``0.2.3`` + major = ``0.3.0``; ``1.3.0-rc.1`` + minor =
    ``1.3.0``). Raises ``InvalidVersion``."""
    key = version_key(version)
    major, minor, patch = _numbers(key)
    if key[3] == 0 and declared_bump(version, f"{major}.{minor}.{patch}") >= bump:
        return f"{major}.{minor}.{patch}"
    effective = Bump(bump - 1) if major == 0 and bump > Bump.PATCH else bump
    if effective is Bump.MAJOR:
        return f"{major + 1}.0.0"
    if effective is Bump.MINOR:
        return f"{major}.{minor + 1}.0"
    return f"{major}.{minor}.{patch + 1}"


# --- comparing definitions ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Slot:
    """Where a named input or output sits in its document."""

    section: str  # required_inputs | optional_inputs | outputs
    index: int

    @property
    def path(self) -> FieldPath:
        return ("spec", self.section, self.index)

    @property
    def field(self) -> str:
        return f"spec.{self.section}[{self.index}]"

    @property
    def required(self) -> bool:
        return self.section == "required_inputs"


def _index_inputs(spec: Spec) -> dict[str, tuple[_Slot, InputSpec]]:
    """Inputs by name, first occurrence wins (duplicates are a policy error elsewhere)."""
    out: dict[str, tuple[_Slot, InputSpec]] = {}
    for section in ("required_inputs", "optional_inputs"):
        for index, item in enumerate(getattr(spec, section)):
            out.setdefault(item.name, (_Slot(section, index), item))
    return out


def _index_outputs(spec: Spec) -> dict[str, tuple[_Slot, OutputSpec]]:
    out: dict[str, tuple[_Slot, OutputSpec]] = {}
    for index, item in enumerate(spec.outputs):
        out.setdefault(item.name, (_Slot("outputs", index), item))
    return out


_SCALARS: Final = (str, int, float, bool, type(None))


def _same(a: Any, b: Any) -> bool:
    """Equality of JSON values that keeps ``1``, ``1.0`` and ``true`` apart as JSON does.

    Plain values, lists and dicts compare structurally (the common, fast case); anything
    else falls back to comparing canonical JSON."""
    if a is b:
        return True
    kind = type(a)
    if kind is not type(b):
        return a == b and canonical_json(a) == canonical_json(b)
    if kind in _SCALARS:
        return bool(a == b)
    if kind is list:
        return len(a) == len(b) and all(map(_same, a, b))
    if kind is dict:
        return a.keys() == b.keys() and all(_same(a[key], b[key]) for key in a)
    return a == b and canonical_json(a) == canonical_json(b)


def compare(old: ResourceDefinition, new: ResourceDefinition) -> CompatReport:
    """Every change from ``old`` to ``new`` (two versions of one name) and the verdict on
    the declared bump. Raises ``InvalidRequest`` when the names differ and
    ``InvalidVersion`` when a version does not parse."""
    if old.name != new.name:
        raise InvalidRequest(
            f"cannot compare different resources: {old.name!r} and {new.name!r}",
            details={"old": old.name, "new": new.name},
        )
    changes = [
        *_metadata_changes(old.metadata, new.metadata),
        *_engine_changes(old.spec, new.spec),
        *_input_changes(old.spec, new.spec),
        *_output_changes(old.spec, new.spec),
    ]
    return CompatReport(
        name=new.name,
        old_version=old.version,
        new_version=new.version,
        declared=declared_bump(old.version, new.version),
        required=max((change.needs for change in changes), default=Bump.NONE),
        changes=changes,
    )


_MAJOR_METADATA: Final = (
    ("provider", "PROVIDER_CHANGED"),
    ("category", "CATEGORY_CHANGED"),
    ("resource_type", "RESOURCE_TYPE_CHANGED"),
)


def _metadata_changes(old: Metadata, new: Metadata) -> Iterator[Change]:
    for attribute, rule in _MAJOR_METADATA:
        before, after = getattr(old, attribute), getattr(new, attribute)
        if before != after:
            message = f"metadata.{attribute} changed; consumers select resources by it"
            yield Change(rule, f"metadata.{attribute}", before, after, Bump.MAJOR, message, ("metadata", attribute))
    if old.description != new.description:
        yield Change(
            "DESCRIPTION_CHANGED",
            "metadata.description",
            old.description,
            new.description,
            Bump.PATCH,
            "the description changed",
            ("metadata", "description"),
        )
    if sorted(old.maintainers) != sorted(new.maintainers):
        yield Change(
            "MAINTAINERS_CHANGED",
            "metadata.maintainers",
            list(old.maintainers),
            list(new.maintainers),
            Bump.PATCH,
            "the maintainers changed",
            ("metadata", "maintainers"),
        )
    if old.labels != new.labels:
        yield Change(
            "LABELS_CHANGED",
            "metadata.labels",
            dict(old.labels),
            dict(new.labels),
            Bump.PATCH,
            "the labels changed",
            ("metadata", "labels"),
        )


def _engine_changes(old: Spec, new: Spec) -> Iterator[Change]:
    before, after = set(old.supported_engines), set(new.supported_engines)
    for engine in dict.fromkeys(old.supported_engines):
        if engine not in after:
            message = f"engine {engine!r} is no longer supported; consumers deploying with it break"
            yield Change(
                "ENGINE_REMOVED",
                "spec.supported_engines",
                engine,
                None,
                Bump.MAJOR,
                message,
                ("spec", "supported_engines"),
            )
    for index, engine in enumerate(new.supported_engines):
        if engine not in before:
            before.add(engine)
            path: FieldPath = ("spec", "supported_engines", index)
            field_path = f"spec.supported_engines[{index}]"
            yield Change(
                "ENGINE_ADDED", field_path, None, engine, Bump.MINOR, f"engine {engine!r} is now supported", path
            )
    yield from _engine_config_changes(old, new)


def _config_data(config: Any) -> dict[str, Any]:
    if hasattr(config, "model_dump"):
        data: dict[str, Any] = config.model_dump(mode="json", exclude_none=True)
        return data
    return dict(config)


def _engine_config_changes(old: Spec, new: Spec) -> Iterator[Change]:
    before = {name: _config_data(config) for name, config in old.engine_configs.engines().items()}
    after = {name: _config_data(config) for name, config in new.engine_configs.engines().items()}
    engines_before, engines_after = set(old.supported_engines), set(new.supported_engines)
    for engine in dict.fromkeys([*before, *after]):
        path: FieldPath = ("spec", "engine_configs", engine)
        field_path = f"spec.engine_configs.{engine}"
        if engine not in after:
            if engine in engines_after or engine not in engines_before:
                message = f"the {engine} engine config was removed"
                yield Change("ENGINE_CONFIG_CHANGED", field_path, before[engine], None, Bump.PATCH, message, path[:2])
            continue
        if engine not in before:
            if engine in engines_before or engine not in engines_after:
                message = f"a {engine} engine config was added"
                yield Change("ENGINE_CONFIG_CHANGED", field_path, None, after[engine], Bump.PATCH, message, path)
            continue
        for key in dict.fromkeys([*before[engine], *after[engine]]):
            old_value, new_value = before[engine].get(key), after[engine].get(key)
            if not _same(old_value, new_value):
                message = f"the {engine} engine config value {key!r} changed"
                location = (*path, key) if key in after[engine] else path
                yield Change(
                    "ENGINE_CONFIG_CHANGED", f"{field_path}.{key}", old_value, new_value, Bump.PATCH, message, location
                )


def _input_changes(old: Spec, new: Spec) -> Iterator[Change]:
    before, after = _index_inputs(old), _index_inputs(new)
    for name, (slot, _) in before.items():
        if name not in after:
            message = f"input {name!r} ({slot.field} in the old version) was removed; consumers that set it break"
            yield Change("INPUT_REMOVED", slot.field, name, None, Bump.MAJOR, message, ("spec", slot.section))
    for name, (slot, item) in after.items():
        if name in before:
            old_slot, old_item = before[name]
            yield from _input_pair_changes(old_slot, old_item, slot, item)
        elif slot.required:
            message = f"required input {name!r} was added; existing consumers do not set it"
            yield Change("REQUIRED_INPUT_ADDED", slot.field, None, name, Bump.MAJOR, message, slot.path)
        else:
            yield Change(
                "OPTIONAL_INPUT_ADDED",
                slot.field,
                None,
                name,
                Bump.MINOR,
                f"optional input {name!r} was added",
                slot.path,
            )


def _input_pair_changes(old_slot: _Slot, old: InputSpec, slot: _Slot, new: InputSpec) -> Iterator[Change]:
    name = new.name
    moved = old_slot.required != slot.required
    if moved and slot.required:
        message = f"input {name!r} became required; consumers that omit it break"
        yield Change("INPUT_MADE_REQUIRED", slot.field, "optional", "required", Bump.MAJOR, message, slot.path)
    elif moved:
        yield Change(
            "INPUT_MADE_OPTIONAL",
            slot.field,
            "required",
            "optional",
            Bump.MINOR,
            f"input {name!r} became optional",
            slot.path,
        )
    if old.type != new.type:
        message = f"input {name!r} changed type; values of the old type are refused"
        yield Change(
            "INPUT_TYPE_CHANGED",
            f"{slot.field}.type",
            old.type.value,
            new.type.value,
            Bump.MAJOR,
            message,
            (*slot.path, "type"),
        )
    if not _same(old.default, new.default) and (not moved or (old.default is not None and new.default is not None)):
        message = f"the default of input {name!r} changed; consumers that omit it get another value"
        yield Change(
            "DEFAULT_CHANGED",
            f"{slot.field}.default",
            old.default,
            new.default,
            Bump.MINOR,
            message,
            (*slot.path, "default"),
        )
    from nestor_catalog_core.models.definition import InputValidation

    yield from _validation_changes(name, slot, old.validation or InputValidation(), new.validation or InputValidation())
    yield from _common_changes(f"input {name!r}", slot, old.description, new.description, old.sensitive, new.sensitive)
    yield from _deprecation_change(name, slot, old, new)


def _deprecation_change(name: str, slot: _Slot, old: InputSpec, new: InputSpec) -> Iterator[Change]:
    before = old.deprecated.model_dump(mode="json", exclude_none=True) if old.deprecated else None
    after = new.deprecated.model_dump(mode="json", exclude_none=True) if new.deprecated else None
    if before == after:
        return
    if before is None:
        message = f"input {name!r} is now deprecated; consumers that set it get a warning"
    elif after is None:
        message = f"input {name!r} is no longer deprecated"
    else:
        message = f"the deprecation of input {name!r} changed"
    location = (*slot.path, "deprecated") if after is not None else slot.path
    yield Change("INPUT_DEPRECATION_CHANGED", f"{slot.field}.deprecated", before, after, Bump.PATCH, message, location)


def _common_changes(
    what: str, slot: _Slot, old_description: str, new_description: str, old_sensitive: bool, new_sensitive: bool
) -> Iterator[Change]:
    if old_description != new_description:
        yield Change(
            "DESCRIPTION_CHANGED",
            f"{slot.field}.description",
            old_description,
            new_description,
            Bump.PATCH,
            f"the description of {what} changed",
            (*slot.path, "description"),
        )
    if old_sensitive != new_sensitive:
        needs = Bump.PATCH if new_sensitive else Bump.MINOR
        message = (
            f"{what} is now sensitive"
            if new_sensitive
            else f"{what} is no longer sensitive; consumers may now log or display it"
        )
        yield Change(
            "SENSITIVE_CHANGED",
            f"{slot.field}.sensitive",
            old_sensitive,
            new_sensitive,
            needs,
            message,
            (*slot.path, "sensitive"),
        )


# (attribute, direction): +1 when a larger value is tighter (min), -1 when smaller is tighter (max).
_BOUNDS: Final = (("min", 1), ("max", -1), ("min_length", 1), ("max_length", -1))


def _validation_changes(name: str, slot: _Slot, old: InputValidation, new: InputValidation) -> Iterator[Change]:
    def change(attribute: str, tightened: bool, message: str, rule: str | None = None) -> Change:
        chosen = rule or ("VALIDATION_TIGHTENED" if tightened else "VALIDATION_LOOSENED")
        return Change(
            chosen,
            f"{slot.field}.validation.{attribute}",
            getattr(old, attribute),
            getattr(new, attribute),
            RULES[chosen],
            f"input {name!r}: {message}",
            (*slot.path, "validation", attribute),
        )

    yield from _pattern_change(old.pattern, new.pattern, change)
    for attribute, direction in _BOUNDS:
        before, after = getattr(old, attribute), getattr(new, attribute)
        if before == after:
            continue
        if before is None or after is None:
            added = before is None
            yield change(attribute, added, f"validation.{attribute} {'added' if added else 'removed'}")
            continue
        tightened = (after - before) * direction > 0
        verb = "tightened" if tightened else "loosened"
        yield change(attribute, tightened, f"validation.{attribute} {verb}")
    yield from _enum_change(old.enum, new.enum, change)


def _pattern_change(before: str | None, after: str | None, change: Callable[..., Change]) -> Iterator[Change]:
    if before == after:
        return
    if before is None:
        yield change("pattern", True, "validation.pattern added; values that were valid may now fail")
    elif after is None:
        yield change("pattern", False, "validation.pattern removed")
    else:
        yield change(
            "pattern", True, "validation.pattern changed; values that were valid may now fail", "PATTERN_CHANGED"
        )


def _enum_change(before: list[Any] | None, after: list[Any] | None, change: Callable[..., Change]) -> Iterator[Change]:
    if before is None and after is None:
        return
    if before is None or after is None:
        added = before is None
        yield change("enum", added, f"validation.enum {'added' if added else 'removed'}")
        return
    old_values = {canonical_json(value) for value in before}
    new_values = {canonical_json(value) for value in after}
    if old_values == new_values:
        return
    removed = old_values - new_values
    if removed:
        shown = ", ".join(sorted(value.decode() for value in removed))
        yield change("enum", True, f"validation.enum no longer allows {shown}")
    else:
        shown = ", ".join(sorted(value.decode() for value in new_values - old_values))
        yield change("enum", False, f"validation.enum now also allows {shown}")


def _output_changes(old: Spec, new: Spec) -> Iterator[Change]:
    before, after = _index_outputs(old), _index_outputs(new)
    for name, (slot, _) in before.items():
        if name not in after:
            message = f"output {name!r} ({slot.field} in the old version) was removed; consumers that read it break"
            yield Change("OUTPUT_REMOVED", slot.field, name, None, Bump.MAJOR, message, ("spec", "outputs"))
    for name, (slot, item) in after.items():
        if name not in before:
            yield Change("OUTPUT_ADDED", slot.field, None, name, Bump.MINOR, f"output {name!r} was added", slot.path)
            continue
        _, old_item = before[name]
        if old_item.type != item.type:
            message = f"output {name!r} changed type; consumers reading it break"
            yield Change(
                "OUTPUT_TYPE_CHANGED",
                f"{slot.field}.type",
                old_item.type.value,
                item.type.value,
                Bump.MAJOR,
                message,
                (*slot.path, "type"),
            )
        yield from _common_changes(
            f"output {name!r}", slot, old_item.description, item.description, old_item.sensitive, item.sensitive
        )


# --- coarse changed fields, for audit records ---------------------------------------------

_UNORDERED_LISTS: Final = frozenset({"supported_engines", "maintainers"})
_NAMED_LISTS: Final = frozenset({"required_inputs", "optional_inputs", "outputs"})
_NOT_CHANGES: Final = frozenset({("metadata", "version"), ("metadata", "deprecation")})


def _normalized(key: str, value: Any) -> Any:
    """The value with order that carries no meaning removed, for ``_same``."""
    if key in _UNORDERED_LISTS and isinstance(value, list):
        if all(type(item) is str for item in value):
            return sorted(value)
        return sorted(value, key=lambda item: canonical_json(item))
    if key in _NAMED_LISTS and isinstance(value, list):
        by_name: dict[str, Any] = {}
        for item in value:
            by_name.setdefault(str(item.get("name")), item)
        return by_name
    return value


def changed_fields(old: ResourceDefinition, new: ResourceDefinition) -> list[str]:
    """The coarse paths that differ (``["metadata.description", "spec.optional_inputs"]``),
    as audit records list them. Ignores ``metadata.version`` and the lifecycle block;
    reordering named inputs/outputs, engines or maintainers is no change."""
    return changed_fields_of(old.to_dict(lifecycle=False), new.to_dict(lifecycle=False))


def changed_fields_of(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """``changed_fields`` of two documents already as data (``ResourceDefinition.to_dict()``,
    or a stored version's JSON parsed: the publish path has both and skips two model dumps;
    the lifecycle block may be present, it is ignored)."""
    from nestor_catalog_core.models.definition import Metadata, Spec

    out: list[str] = []
    for section, model in (("metadata", Metadata), ("spec", Spec)):
        old_section, new_section = before.get(section, {}), after.get(section, {})
        for key in model.model_fields:
            if (section, key) in _NOT_CHANGES:
                continue
            if not _same(_normalized(key, old_section.get(key)), _normalized(key, new_section.get(key))):
                out.append(f"{section}.{key}")
    return out
