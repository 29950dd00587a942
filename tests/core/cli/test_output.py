"""The shared report output: formats, escaping, exit codes, progress."""

from __future__ import annotations

import io
import json

import click
import pytest

from nestor_catalog_core import Finding, Severity
from nestor_catalog_core.cli._output import (
    EXIT_FINDINGS,
    EXIT_OK,
    emit_report,
    exit_code,
    github_annotation,
    progress,
    summary_line,
)

ERROR = Finding("MIN_GT_MAX", Severity.ERROR, "spec.x", "min 3 is greater than max 1", "a.yaml", 3, 5)
WARNING = Finding("DESCRIPTION_MISSING", Severity.WARNING, "", "say it\nall: 100%", "dir,x/b:c.yaml", 1, None)
NOTICE = Finding("FOREIGN_API_VERSION", Severity.INFO, "apiVersion", "skipped", None, None, None)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_text_format() -> None:
    out = io.StringIO()
    code = emit_report([ERROR, WARNING, NOTICE], fmt="text", files=2, definitions=1, out=out)
    assert code == EXIT_FINDINGS
    assert out.getvalue().splitlines() == [
        "a.yaml:3:5: error [MIN_GT_MAX] spec.x: min 3 is greater than max 1",
        "dir,x/b:c.yaml:1: warning [DESCRIPTION_MISSING] say it",
        "all: 100%",
        "<input>: info [FOREIGN_API_VERSION] apiVersion: skipped",
        "2 files, 1 definition: 1 error, 1 warning, 1 notice",
    ]


def test_json_format() -> None:
    out = io.StringIO()
    assert emit_report([WARNING], fmt="json", files=1, definitions=0, out=out) == EXIT_OK
    assert json.loads(out.getvalue()) == {"files": 1, "definitions": 0, "findings": [WARNING.to_dict()]}


def test_github_annotations_escape_properties_and_data() -> None:
    assert github_annotation(ERROR) == (
        "::error file=a.yaml,line=3,col=5,title=MIN_GT_MAX::[MIN_GT_MAX] spec.x: min 3 is greater than max 1"
    )
    assert github_annotation(WARNING) == (
        "::warning file=dir%2Cx/b%3Ac.yaml,line=1,title=DESCRIPTION_MISSING::[DESCRIPTION_MISSING] say it%0Aall: 100%25"
    )
    assert github_annotation(NOTICE) == (
        "::notice file=<input>,title=FOREIGN_API_VERSION::[FOREIGN_API_VERSION] apiVersion: skipped"
    )


def test_github_format_ends_with_the_summary() -> None:
    out = io.StringIO()
    emit_report([ERROR], fmt="github", files=1, definitions=1, out=out)
    assert out.getvalue().splitlines()[-1] == "1 file, 1 definition: 1 error, 0 warnings, 0 notices"


def test_unknown_format_is_a_usage_error() -> None:
    with pytest.raises(click.UsageError, match="unknown format 'xml'"):
        emit_report([], fmt="xml", files=0, definitions=0, out=io.StringIO())


@pytest.mark.parametrize(
    ("findings", "fail_on", "code"),
    [
        ([], Severity.ERROR, 0),
        ([NOTICE, WARNING], Severity.ERROR, 0),
        ([NOTICE, WARNING], Severity.WARNING, 1),
        ([NOTICE], Severity.WARNING, 0),
        ([ERROR], Severity.ERROR, 1),
    ],
)
def test_exit_code(findings: list[Finding], fail_on: Severity, code: int) -> None:
    assert exit_code(findings, fail_on=fail_on) == code


def test_summary_line_plurals() -> None:
    assert summary_line([], files=0, definitions=0) == "0 files, 0 definitions: 0 errors, 0 warnings, 0 notices"


def test_progress_draws_only_on_terminals_past_the_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    quiet = io.StringIO()
    with progress(500, label="validating", stream=quiet) as advance:
        advance(500)
    assert quiet.getvalue() == ""
    small = Terminal()
    with progress(10, label="validating", stream=small) as advance:
        advance(10)
    assert small.getvalue() == ""
    terminal = Terminal()
    with progress(300, label="validating", stream=terminal) as advance:
        for _ in range(300):
            advance(1)
    assert "validating" in terminal.getvalue()
    assert "300/300" in terminal.getvalue()


@pytest.mark.parametrize(("value", "quiet"), [("true", True), ("1", True), ("false", False), ("0", False), ("", False)])
def test_progress_is_quiet_when_ci_says_so(monkeypatch: pytest.MonkeyPatch, value: str, quiet: bool) -> None:
    monkeypatch.setenv("CI", value)
    terminal = Terminal()
    with progress(300, label="validating", stream=terminal) as advance:
        advance(300)
    assert (terminal.getvalue() == "") is quiet
