"""Bounds on what one definition may hold, so no publisher can make every reader pay.

Free text (descriptions, deprecation messages, label values), label counts, pattern length
and the length of a string checked against a pattern are bounded, and every pattern must
compile on RE2, the linear-time engine that matches it (``PATTERN_INVALID`` otherwise). The bounds apply on every
path (git sync, the API, the CLI, ``/validate``) whatever the policy settings, because they
protect the catalog rather than express a house style; each is a setting
(``validation.limits.*`` in the server's configuration) and a broken one is a finding with
its own rule id (``FIELD_TOO_LONG``, ``TOO_MANY_LABELS``, ``PATTERN_INPUT_TOO_LONG``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from nestor_catalog_core.validation._issues import DataPath, Issue
from nestor_catalog_core.validation._patterns import pattern_error

if TYPE_CHECKING:
    from nestor_catalog_core.models._views import DefinitionLike, DeprecationLike, InputSpecLike, OutputSpecLike

__all__ = ["DEFAULT_LIMITS", "Limits", "deprecation_limit_issues", "limit_issues"]


@dataclass(frozen=True, slots=True)
class Limits:
    """The bounds; lengths count characters (code points)."""

    #: ``metadata.description`` and each input's and output's ``description``.
    description_max_length: int = 4_096
    #: ``deprecation.message`` (in a definition, or set through the API).
    deprecation_message_max_length: int = 1_024
    #: Each label value (label names follow Kubernetes' 63-character rule already).
    label_value_max_length: int = 256
    #: How many labels one definition may carry.
    max_labels: int = 64
    #: A ``validation.pattern``.
    pattern_max_length: int = 1_024
    #: The longest string checked against a pattern (defaults and consumers' values); a longer
    #: one is refused with ``PATTERN_INPUT_TOO_LONG`` rather than matched.
    pattern_input_max_length: int = 10_000


DEFAULT_LIMITS: Final = Limits()


def limit_issues(definition: DefinitionLike, limits: Limits = DEFAULT_LIMITS) -> list[Issue]:
    """Every bound ``definition`` breaks."""
    return list(_definition_issues(definition, limits))


def deprecation_limit_issues(
    deprecation: DeprecationLike, limits: Limits = DEFAULT_LIMITS, *, path: DataPath = ("deprecation",)
) -> list[Issue]:
    """The bounds a deprecation (from a definition or the API) breaks."""
    return list(_too_long((*path, "message"), deprecation.message, limits, "deprecation_message_max_length"))


def _definition_issues(definition: DefinitionLike, limits: Limits) -> Iterator[Issue]:
    metadata = definition.metadata
    yield from _too_long(("metadata", "description"), metadata.description, limits, "description_max_length")
    if len(metadata.labels) > limits.max_labels:
        yield Issue(
            "TOO_MANY_LABELS",
            ("metadata", "labels"),
            f"{len(metadata.labels)} labels, more than the {limits.max_labels} allowed "
            "(validation.limits.max_labels); keep the ones readers filter on",
        )
    for key, value in metadata.labels.items():
        yield from _too_long(("metadata", "labels", key), value, limits, "label_value_max_length")
    if metadata.deprecation is not None:
        yield from deprecation_limit_issues(metadata.deprecation, limits, path=("metadata", "deprecation"))
    spec = definition.spec
    sections: tuple[tuple[str, Sequence[InputSpecLike]], ...] = (
        ("required_inputs", spec.required_inputs),
        ("optional_inputs", spec.optional_inputs),
    )
    for section, inputs in sections:
        for index, item in enumerate(inputs):
            yield from _input_issues(("spec", section, index), item, limits)
    outputs: Sequence[OutputSpecLike] = spec.outputs
    for index, output in enumerate(outputs):
        yield from _too_long(
            ("spec", "outputs", index, "description"), output.description, limits, "description_max_length"
        )


def _input_issues(path: DataPath, item: InputSpecLike, limits: Limits) -> Iterator[Issue]:
    yield from _too_long((*path, "description"), item.description, limits, "description_max_length")
    if item.validation is None or item.validation.pattern is None:
        return
    pattern_path: DataPath = (*path, "validation", "pattern")
    pattern = item.validation.pattern
    if len(pattern) > limits.pattern_max_length:
        yield from _too_long(pattern_path, pattern, limits, "pattern_max_length")
        return
    problem = pattern_error(pattern)
    if problem is not None:
        yield Issue("PATTERN_INVALID", pattern_path, problem)


def _too_long(path: DataPath, text: str, limits: Limits, setting: str) -> Iterator[Issue]:
    """``FIELD_TOO_LONG`` when ``text`` is longer than the ``Limits`` field named ``setting``."""
    limit: int = getattr(limits, setting)
    if len(text) <= limit:
        return
    yield Issue(
        "FIELD_TOO_LONG",
        path,
        f"{len(text):,} characters, more than the {limit:,} allowed (validation.limits.{setting}); shorten it",
    )
