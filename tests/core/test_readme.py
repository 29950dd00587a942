"""The README's in-process snippet, run exactly as written."""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SNIPPET = re.compile(r"<!-- snippet: (?P<name>[\w-]+) -->\n```python\n(?P<code>.*?)\n```", re.DOTALL)


def _snippet(name: str) -> str:
    found = {m["name"]: m["code"] for m in SNIPPET.finditer((ROOT / "README.md").read_text())}
    return found[name]


def test_in_process_snippet_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "examples").mkdir()
    shutil.copy(ROOT / "examples" / "aws-rds-mysql-1.2.0.yaml", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {}
    exec(compile(_snippet("in-process"), "README.md", "exec"), namespace)
    asyncio.run(namespace["main"]())  # type: ignore[operator]
    assert capsys.readouterr().out.split() == ["1.2.0", "1", "['aws-rds-mysql']"]
    assert (tmp_path / "catalog.db").exists()


_PATH = re.compile(
    r"`((?:docs|configs|ci|schemas|examples|deployments|benchmarks|scripts|tools)/[^`\s]*|"
    r"action\.yml|CHANGELOG\.md|\.pre-commit-hooks\.yaml|Dockerfile|docker-compose\.yml)`"
)


def test_the_readme_stands_alone() -> None:
    text = (ROOT / "README.md").read_text()
    assert "DESIGN.md" not in text
    assert not re.search(r"\bthe spec\b|\bspec's\b", text, re.IGNORECASE)
    referenced = set(_PATH.findall(text))
    assert {"docs/http-api.md", "CHANGELOG.md", "action.yml", ".pre-commit-hooks.yaml"} <= referenced
    generated = {"tools/bin/", "benchmarks/results/latest.json"}  # made by scripts/ensure-tools, make bench
    checked = {p for p in referenced - generated if "<" not in p and "*" not in p}
    missing = sorted(p for p in checked if not (ROOT / p.rstrip("/")).exists())
    assert missing == []
