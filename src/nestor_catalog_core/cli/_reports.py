"""Report formats for code scanning and test dashboards: SARIF 2.1.0 and JUnit XML.

**SARIF** (``--format sarif``, for GitHub code scanning's ``upload-sarif``): one run whose
driver lists every rule the catalog can report (``nestor-catalog rules``: id, summary as the
short description, the fix as help, default level, layer as a tag) and one result per
finding, with its rule, level (error, warning, note), message and a physical location
(file relative to the working directory under ``%SRCROOT%``, 1-based line and column counted
in Unicode code points: ``columnKind: unicodeCodePoints``). A finding without a file has no
location; the field path is in the result's properties.

**JUnit** (``--format junit``, for GitLab's ``artifacts:reports:junit``): one test suite per
command, one test case per file checked (named by its path), failing with a ``<failure>``
that lists every finding at or above ``--fail-on``; findings below it go to the case's
``<system-out>``. A run without files is one case named after the command.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

from nestor_catalog_core.models.findings import Finding, Severity

__all__ = ["SARIF_SCHEMA", "junit_xml", "sarif_log", "sarif_text"]

SARIF_SCHEMA: Final = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL: Final = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
_RANK: Final = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2}
# Characters XML 1.0 cannot carry, even escaped.
_XML_INVALID: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _version() -> str:
    from nestor_catalog_core import __version__

    return __version__


def _rule_rows() -> list[dict[str, Any]]:
    from nestor_catalog_core.cli._rule_table import rule_table

    return rule_table()


def _descriptor(row: dict[str, Any]) -> dict[str, Any]:
    summary, fix, rule_id = str(row["summary"]), str(row["fix"]), str(row["rule"])
    descriptor: dict[str, Any] = {"id": rule_id}
    name = "".join(part.capitalize() for part in rule_id.split("_"))
    if name.lower() != rule_id.lower():  # SARIF1001: a name equal to the id is left out
        descriptor["name"] = name
    return descriptor | {
        "shortDescription": {"text": summary},
        "fullDescription": {"text": f"{summary} Fix: {fix}"},
        "help": {"text": f"{summary}\nHow to fix: {fix}", "markdown": f"{summary}\n\n**How to fix:** {fix}"},
        "defaultConfiguration": {"level": _LEVEL.get(Severity(row["severity"]), "warning")},
        "properties": {"tags": [str(row["layer"])]},
    }


def _uri(file: str, base: Path) -> str:
    """``file`` as a URI reference relative to ``base`` when it lies below it."""
    path = Path(file)
    if path.is_absolute():
        try:
            path = path.resolve().relative_to(base)
        except (ValueError, OSError):
            return path.resolve().as_uri()
    return quote(path.as_posix(), safe="/")


def _result(finding: Finding, index: int, base: Path) -> dict[str, Any]:
    where = f"{finding.field}: " if finding.field else ""
    result: dict[str, Any] = {
        "ruleId": finding.rule,
        "ruleIndex": index,
        "level": _LEVEL[finding.severity],
        "message": {"text": f"{where}{finding.message}"},
    }
    if finding.file is not None:
        location: dict[str, Any] = {"artifactLocation": {"uri": _uri(finding.file, base), "uriBaseId": "%SRCROOT%"}}
        if finding.line is not None:
            region: dict[str, int] = {"startLine": finding.line}
            if finding.column is not None:
                region["startColumn"] = finding.column
            location["region"] = region
        result["locations"] = [{"physicalLocation": location}]
    if finding.field:
        result["properties"] = {"field": finding.field}
    return result


def sarif_log(findings: Sequence[Finding], *, base: Path | None = None) -> dict[str, Any]:
    """The SARIF 2.1.0 log of ``findings``; relative paths are relative to ``base`` (default:
    the working directory, which is the repository root in CI)."""
    root = (base or Path.cwd()).resolve()
    rows = _rule_rows()
    known = {str(row["rule"]) for row in rows}
    for rule_id in dict.fromkeys(f.rule for f in findings):
        if rule_id not in known:  # an id outside the table still gets a descriptor
            known.add(rule_id)
            rows.append(
                {
                    "rule": rule_id,
                    "severity": "warning",
                    "layer": "other",
                    "summary": f"{rule_id}.",
                    "fix": "See the message.",
                }
            )
    descriptors = [_descriptor(row) for row in rows]
    index = {descriptor["id"]: position for position, descriptor in enumerate(descriptors)}
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "nestor-catalog",
                        "version": _version(),
                        "semanticVersion": _version(),
                        "rules": descriptors,
                    }
                },
                "originalUriBaseIds": {"%SRCROOT%": {"uri": root.as_uri() + "/"}},
                "columnKind": "unicodeCodePoints",
                "invocations": [{"executionSuccessful": True}],
                "results": [_result(f, index[f.rule], root) for f in findings],
            }
        ],
    }


def sarif_text(findings: Sequence[Finding], *, base: Path | None = None) -> str:
    return json.dumps(sarif_log(findings, base=base), indent=2, ensure_ascii=False) + "\n"


def _xml_text(text: str) -> str:
    return _XML_INVALID.sub("\N{REPLACEMENT CHARACTER}", text)


def junit_xml(
    findings: Sequence[Finding],
    *,
    command: str,
    checked: Iterable[str] = (),
    fail_on: Severity = Severity.ERROR,
) -> str:
    """The JUnit XML report: a case per file in ``checked`` (and per other file a finding
    names), failing when it has a finding at or above ``fail_on``."""
    by_file: dict[str, list[Finding]] = {name: [] for name in checked}
    for finding in findings:
        by_file.setdefault(finding.file or f"({command})", []).append(finding)
    if not by_file:
        by_file[f"({command})"] = []
    threshold = _RANK[fail_on]
    failures = sum(any(_RANK[f.severity] >= threshold for f in items) for items in by_file.values())
    classname = f"nestor-catalog.{command}"
    suites = ET.Element("testsuites", name="nestor-catalog", tests=str(len(by_file)), failures=str(failures))
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=f"nestor-catalog {command}",
        tests=str(len(by_file)),
        failures=str(failures),
        errors="0",
        skipped="0",
    )
    for name, items in by_file.items():
        case = ET.SubElement(suite, "testcase", classname=classname, name=_xml_text(name), file=_xml_text(name))
        failing = [f for f in items if _RANK[f.severity] >= threshold]
        if failing:
            first = failing[0]
            count = f" (+{len(failing) - 1} more)" if len(failing) > 1 else ""
            failure = ET.SubElement(
                case, "failure", type=first.rule, message=_xml_text(f"[{first.rule}] {first.message}{count}")
            )
            failure.text = _xml_text("\n".join(str(f) for f in failing))
        rest = [f for f in items if _RANK[f.severity] < threshold]
        if rest:
            ET.SubElement(case, "system-out").text = _xml_text("\n".join(str(f) for f in rest))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
