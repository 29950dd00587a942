"""The ``nestor-catalog`` console script: ``validate`` without click when it can, and a quick exit.

Start-up is most of a one-file ``validate`` (issue 13), and importing click (with ``inspect``,
``uuid`` and ``gettext`` behind it) and building its commands is about a sixth of it. So the
script first tries to read its arguments as a plain ``validate`` run: ``validate`` first, then
paths that exist and are readable, and the command's options each given once with a valid
value (``--format json`` or ``--format=json``, ``--fail-on``, ``--max-file-size``,
``--sunset-warning-days`` in plain digits, and the flags). Those are exactly the lists for
which click would call the command with these values (``tests/core/cli/test_console.py``
compares the two); anything else (``--help``, an unknown option, a missing path, a bad value,
``--``, shell completion, Windows' argument expansion) goes to the click group, which answers
as it always has.

After ``validate`` the process ends with ``os._exit`` once stdout and stderr are flushed, as
mypy does: freeing every module and object on the way out costs a one-file run about a tenth
of its time. The exit status and the output are the same. Anything that needs the normal exit
gets it: another command, an ``atexit`` callback or a thread besides the main one, an exit
status that is not a number, a stream that cannot be flushed (Python then reports it as it
always does).
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Final, NoReturn

from nestor_catalog_core.cli._output import FORMATS
from nestor_catalog_core.models.findings import Severity

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import TypedDict

    class ValidateArguments(TypedDict):
        """``run_validate``'s arguments, as the ``validate`` command passes them."""

        paths: tuple[Path, ...]
        fmt: str
        fail_on: Severity
        no_strict: bool
        no_schema: bool
        no_policies: bool
        max_file_size: int
        sunset_warning_days: int
        force_exclude: bool
        allow_empty: bool


__all__ = ["QUICK_EXIT_COMMANDS", "console", "validate_arguments"]

#: Commands after which the console script exits without tearing the interpreter down: they
#: write to stdout and stderr only, start no thread and leave nothing to close or flush.
QUICK_EXIT_COMMANDS: Final = frozenset({"validate"})

_FLAGS: Final = {
    "--no-strict": "no_strict",
    "--no-schema": "no_schema",
    "--no-policies": "no_policies",
    "--force-exclude": "force_exclude",
    "--allow-empty": "allow_empty",
}
_VALUES: Final = frozenset({"--format", "--fail-on", "--max-file-size", "--sunset-warning-days"})


def console() -> None:
    """Run ``nestor-catalog`` with ``sys.argv`` and exit."""
    command: str | None = None
    try:
        arguments = None if _click_only() else validate_arguments(sys.argv[1:])
        if arguments is not None:
            command = "validate"
            raise SystemExit(_validate(arguments))
        from nestor_catalog_core.cli._group import main

        try:
            main()
        finally:
            command = main.resolved
    except SystemExit as exit:
        code = exit.code
        if command in QUICK_EXIT_COMMANDS and (code is None or isinstance(code, int)) and _nothing_pending():
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            except (OSError, ValueError):
                raise exit from None
            os._exit(code or 0)
        raise


def validate_arguments(args: Sequence[str]) -> ValidateArguments | None:
    """The arguments ``validate`` would be called with for ``args`` (what follows the program
    name), or ``None`` when click must parse them: not a plain ``validate`` run as the module
    docstring describes."""
    if not args or args[0] != "validate":
        return None
    from nestor_catalog_core.cli._validating import DEFAULT_SUNSET_WARNING_DAYS, parse_size
    from nestor_catalog_core.loading import DEFAULT_MAX_FILE_SIZE

    flags = dict.fromkeys(_FLAGS.values(), False)
    fmt, fail_on, size, days = "text", Severity.ERROR, DEFAULT_MAX_FILE_SIZE, DEFAULT_SUNSET_WARNING_DAYS
    paths: list[Path] = []
    seen: set[str] = set()
    rest = list(args[1:])
    while rest:
        token = rest.pop(0)
        if not token.startswith("-"):
            if not _readable(token):
                return None
            paths.append(Path(token))
            continue
        name, equals, value = token.partition("=")
        if name in seen:
            return None
        seen.add(name)
        if name in _FLAGS and not equals:
            flags[_FLAGS[name]] = True
            continue
        if name not in _VALUES:
            return None
        if not equals:
            if not rest or rest[0].startswith("-"):
                return None
            value = rest.pop(0)
        if name == "--format":
            if value not in FORMATS:
                return None
            fmt = value
        elif name == "--fail-on":
            if value not in ("error", "warning"):
                return None
            fail_on = Severity(value)
        elif name == "--max-file-size":
            parsed = parse_size(value)
            if parsed is None:
                return None
            size = parsed
        else:
            if not (value.isascii() and value.isdigit()):
                return None
            days = int(value)
    if not paths:
        return None
    return {
        "paths": tuple(paths),
        "fmt": fmt,
        "fail_on": fail_on,
        "no_strict": flags["no_strict"],
        "no_schema": flags["no_schema"],
        "no_policies": flags["no_policies"],
        "max_file_size": size,
        "sunset_warning_days": days,
        "force_exclude": flags["force_exclude"],
        "allow_empty": flags["allow_empty"],
    }


def _click_only() -> bool:
    """Argument lists click rewrites before parsing: Windows' wildcard expansion, and shell
    completion (``_NESTOR_CATALOG_COMPLETE`` and the like)."""
    return os.name == "nt" or any(name.startswith("_") and name.endswith("_COMPLETE") for name in os.environ)


def _readable(token: str) -> bool:
    """What ``click.Path(exists=True)`` accepts: the path exists and is readable."""
    try:
        os.stat(token)
    except (OSError, ValueError):
        return False
    return os.access(token, os.R_OK)


def _validate(arguments: ValidateArguments) -> int:
    from nestor_catalog_core.cli._validating import run_validate

    try:
        return run_validate(**arguments)
    except (EOFError, KeyboardInterrupt, OSError) as exc:
        if isinstance(exc, OSError) and exc.errno != errno.EPIPE:
            raise
        _as_click_would(exc)


def _as_click_would(exc: BaseException) -> NoReturn:
    """Let click's standalone mode handle ``exc`` as it would have from the command (a ``^C``:
    ``Aborted!``; a closed pipe: quiet), ending in the same ``SystemExit``."""
    import click

    def reraise() -> None:
        raise exc

    click.Command("validate", callback=reraise).main(args=[], prog_name="nestor-catalog", standalone_mode=True)
    raise SystemExit(1)  # pragma: no cover - main always exits in standalone mode


def _nothing_pending() -> bool:
    """No ``atexit`` callback (``atexit._ncallbacks`` is CPython's count; unknown: assume some)
    and no thread but the main one."""
    import atexit

    count = getattr(atexit, "_ncallbacks", None)
    if count is None or count() != 0:
        return False
    threading = sys.modules.get("threading")
    return threading is None or threading.active_count() == 1
