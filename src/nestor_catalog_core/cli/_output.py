"""What every reporting command prints and how it exits: one place, so ``validate`` and
``check-compat`` read the same in a terminal, in a JSON pipeline and in GitHub Actions.

Exit codes: 0 clean (no finding at or above ``fail_on``), 1 findings, 2 usage errors (click
raises those itself; ``EXIT_USAGE`` is for the same class of mistake found later).

click is imported where it is used (the option decorators, a progress bar, a usage error):
``validate``'s console fast path (``_console``) reports without it.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final, Literal, TextIO, TypeVar

from nestor_catalog_core.models.findings import Finding, Severity

__all__ = [
    "EXIT_FINDINGS",
    "EXIT_OK",
    "EXIT_USAGE",
    "FORMATS",
    "PROGRESS_THRESHOLD",
    "OutputFormat",
    "emit_report",
    "exit_code",
    "fail_on_option",
    "format_option",
    "github_annotation",
    "in_ci",
    "progress",
    "summary_line",
]

EXIT_OK: Final = 0
EXIT_FINDINGS: Final = 1
EXIT_USAGE: Final = 2

OutputFormat = Literal["text", "json", "github", "sarif", "junit"]
FORMATS: Final[tuple[OutputFormat, ...]] = ("text", "json", "github", "sarif", "junit")
#: Fewer files than this finish before a progress bar would be worth drawing.
PROGRESS_THRESHOLD: Final = 200

_SEVERITY_RANK: Final = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2}
_GITHUB_COMMAND: Final = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}

_F = TypeVar("_F", bound=Callable[..., Any])


def format_option(function: _F) -> _F:
    """``--format text|json|github`` (stored as ``fmt``)."""
    import click

    return click.option(
        "--format",
        "fmt",
        type=click.Choice(FORMATS),
        default="text",
        show_default=True,
        help="text for people, json for tools (one object), github for workflow annotations, "
        "sarif for code scanning (SARIF 2.1.0), junit for test reports (GitLab).",
    )(function)


def fail_on_option(function: _F) -> _F:
    """``--fail-on error|warning`` (stored as ``fail_on``, a ``Severity``)."""
    import click

    return click.option(
        "--fail-on",
        "fail_on",
        type=click.Choice(["error", "warning"]),
        default="error",
        show_default=True,
        callback=lambda _ctx, _param, value: Severity(value),
        help="Lowest severity that makes the exit code 1.",
    )(function)


def exit_code(findings: Iterable[Finding], *, fail_on: Severity = Severity.ERROR) -> int:
    """1 when any finding is at least as severe as ``fail_on``, else 0."""
    threshold = _SEVERITY_RANK[fail_on]
    return EXIT_FINDINGS if any(_SEVERITY_RANK[f.severity] >= threshold for f in findings) else EXIT_OK


def emit_report(
    findings: Sequence[Finding],
    *,
    fmt: str,
    files: int,
    definitions: int,
    out: TextIO | None = None,
    fail_on: Severity = Severity.ERROR,
    command: str = "validate",
    checked: Sequence[str] = (),
) -> int:
    """Print ``findings`` in ``fmt`` to ``out`` (default stdout) and return the exit code.

    ``text``: one ``file:line:col: severity [RULE] field: message`` line per finding and a
    summary line. ``json``: exactly one object ``{"files", "definitions", "findings"}``.
    ``github``: one ``::error``/``::warning``/``::notice`` workflow command per finding
    (GitHub shows them on the pull request's lines) and the summary line. ``sarif`` and
    ``junit``: see ``_reports`` (``checked`` names the files read, so passing files are test
    cases too; ``command`` names the suite).
    """
    stream = out if out is not None else sys.stdout
    if fmt == "json":
        import json  # here: the other formats never need it (start-up, issue 13)

        payload = {"files": files, "definitions": definitions, "findings": [f.to_dict() for f in findings]}
        stream.write(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    elif fmt == "github":
        stream.writelines(github_annotation(finding) + "\n" for finding in findings)
        stream.write(summary_line(findings, files=files, definitions=definitions) + "\n")
    elif fmt == "sarif":
        from nestor_catalog_core.cli._reports import sarif_text

        stream.write(sarif_text(findings))
    elif fmt == "junit":
        from nestor_catalog_core.cli._reports import junit_xml

        stream.write(junit_xml(findings, command=command, checked=checked, fail_on=fail_on))
    elif fmt == "text":
        stream.writelines(f"{finding}\n" for finding in findings)
        stream.write(summary_line(findings, files=files, definitions=definitions) + "\n")
    else:
        import click

        raise click.UsageError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    stream.flush()
    return exit_code(findings, fail_on=fail_on)


def summary_line(findings: Sequence[Finding], *, files: int, definitions: int) -> str:
    """``3 files, 5 definitions: 2 errors, 1 warning, 0 notices``."""
    counts = Counter(f.severity for f in findings)
    return (
        f"{_plural(files, 'file')}, {_plural(definitions, 'definition')}: "
        f"{_plural(counts[Severity.ERROR], 'error')}, {_plural(counts[Severity.WARNING], 'warning')}, "
        f"{_plural(counts[Severity.INFO], 'notice')}"
    )


def github_annotation(finding: Finding) -> str:
    """A GitHub Actions workflow command, escaped as the runner expects."""
    properties = [f"file={_escape_property(finding.file or '<input>')}"]
    if finding.line is not None:
        properties.append(f"line={finding.line}")
        if finding.column is not None:
            properties.append(f"col={finding.column}")
    properties.append(f"title={_escape_property(finding.rule)}")
    where = f"{finding.field}: " if finding.field else ""
    message = _escape_data(f"[{finding.rule}] {where}{finding.message}")
    return f"::{_GITHUB_COMMAND[finding.severity]} {','.join(properties)}::{message}"


@contextmanager
def progress(
    total: int, *, label: str, stream: TextIO | None = None, threshold: int = PROGRESS_THRESHOLD
) -> Iterator[Callable[[int], None]]:
    """A progress bar over ``total`` steps on ``stream`` (default stderr); yields ``advance(n)``.

    Drawn only when ``stream`` is a terminal, ``total >= threshold`` and the ``CI``
    environment variable is unset (or ``false``/``0``: CI runners that allocate a terminal set
    it); otherwise ``advance`` does nothing, so pipelines and CI logs stay clean.
    """
    target = stream if stream is not None else sys.stderr
    if total < threshold or not _is_terminal(target) or in_ci():
        yield _ignore
        return
    import click

    bar: Any = click.progressbar(length=total, label=label, file=target, show_pos=True, width=30)
    with bar:
        yield bar.update


def in_ci() -> bool:
    """Whether ``CI`` says this runs in continuous integration (GitHub, GitLab and most set it)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _ignore(_steps: int) -> None:
    return None


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")
