"""The npm tools under tools/node that tests drive for real (``make tools`` installs them)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

__all__ = ["NODE_MODULES", "sarif_multitool", "yaml_language_server"]

NODE_MODULES = Path(__file__).resolve().parents[2] / "tools" / "node" / "node_modules"


def _tool(relative: str) -> Path:
    path = NODE_MODULES / relative
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make tools` (or scripts/ensure-tools) to install the npm test tools")
    return path


def sarif_multitool() -> Path:
    """Microsoft's SARIF multitool (its ``validate`` verb), marked executable: npm 11 does not
    run the package's install script that would do it."""
    path = _tool("@microsoft/sarif-multitool-linux/Sarif.Multitool")
    if not os.access(path, os.X_OK):
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def yaml_language_server() -> Path:
    """The yaml-language-server entry script (run with ``node ... --stdio``)."""
    return _tool("yaml-language-server/bin/yaml-language-server")
