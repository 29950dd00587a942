"""``nestor-catalog validate PATH...``: the check platform teams run in CI and pre-commit.

The command and its options; what it does is ``_validating.run_validate`` (which the console
script also runs directly for the argument lists it parses itself, without click: ``_console``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from nestor_catalog_core.cli._output import fail_on_option, format_option
from nestor_catalog_core.cli._validating import (
    DEFAULT_SUNSET_WARNING_DAYS,
    TreeReport,
    no_definitions,
    parse_size,
    run_validate,
    sunset_findings,
    validate_tree,
)
from nestor_catalog_core.loading import DEFAULT_MAX_FILE_SIZE
from nestor_catalog_core.models.findings import Severity

__all__ = [
    "DEFAULT_SUNSET_WARNING_DAYS",
    "ByteSize",
    "TreeReport",
    "checking_options",
    "no_definitions",
    "sunset_days_option",
    "sunset_findings",
    "validate",
    "validate_tree",
]

_F = TypeVar("_F", bound=Callable[..., Any])


class ByteSize(click.ParamType[int, object]):
    """A size in bytes: ``1048576``, ``512KiB``, ``2MiB``, ``1MB``."""

    name = "size"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        size = parse_size(str(value))
        if size is None:
            self.fail(f"{value!r} is not a size like 1048576, 512KiB or 2MiB", param, ctx)
        return size


def sunset_days_option(function: _F) -> _F:
    """``--sunset-warning-days N`` (stored as ``sunset_warning_days``)."""
    return click.option(
        "--sunset-warning-days",
        type=click.IntRange(0),
        default=DEFAULT_SUNSET_WARNING_DAYS,
        show_default=True,
        help="Warn (SUNSET_NEAR) when a definition's sunset date is this close; a passed one is SUNSET_PASSED.",
    )(function)


def checking_options(function: _F) -> _F:
    """The options ``validate`` and ``check-compat`` share, in this order in ``--help``:
    ``--format``, ``--fail-on``, ``--no-strict``, ``--no-schema``, ``--no-policies``,
    ``--max-file-size`` and ``--sunset-warning-days``."""
    options: tuple[Callable[[_F], _F], ...] = (
        format_option,
        fail_on_option,
        click.option("--no-strict", is_flag=True, help="Unknown fields are warnings (and ignored), not errors."),
        click.option(
            "--no-schema", is_flag=True, help='Coerce harmless type drift ("20" for 20) instead of rejecting it.'
        ),
        click.option(
            "--no-policies", is_flag=True, help="Skip policy rules (naming, engines, defaults, maintainers...)."
        ),
        click.option(
            "--max-file-size",
            type=ByteSize(),
            default=DEFAULT_MAX_FILE_SIZE,
            show_default=True,
            help="Largest file read, in bytes (or 512KiB, 2MiB).",
        ),
        sunset_days_option,
    )
    for option in reversed(options):  # decorators apply bottom-up
        function = option(function)
    return function


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@checking_options
@click.option(
    "--force-exclude",
    is_flag=True,
    help="Apply .nestorignore files (from the working directory down) to files named on the command "
    "line too, as pre-commit passes them; by default a file named explicitly is always read.",
)
@click.option(
    "--allow-empty",
    is_flag=True,
    help="Paths holding no definition pass (by default that is a NO_DEFINITIONS error: a CI job "
    "pointed at the wrong folder must not pass silently).",
)
def validate(
    paths: tuple[Path, ...],
    fmt: str,
    fail_on: Severity,
    no_strict: bool,
    no_schema: bool,
    no_policies: bool,
    max_file_size: int,
    sunset_warning_days: int,
    force_exclude: bool,
    allow_empty: bool,
) -> None:
    """Validate definition files and directories (*.yaml, *.yml, *.json, recursively).

    Exit status: 0 when clean, 1 when there are error findings (or warnings, with
    --fail-on warning; or no definition at all, without --allow-empty), 2 for usage errors
    such as a path that does not exist.
    """
    raise SystemExit(
        run_validate(
            paths,
            fmt=fmt,
            fail_on=fail_on,
            no_strict=no_strict,
            no_schema=no_schema,
            no_policies=no_policies,
            max_file_size=max_file_size,
            sunset_warning_days=sunset_warning_days,
            force_exclude=force_exclude,
            allow_empty=allow_empty,
        )
    )
