"""The UI's files inside the package: templates, static assets and the vendored Swagger UI.

Every asset is served by the app itself under ``STATIC_PATH`` (no CDN, nothing fetched at install
or run time). Asset URLs carry a digest of the file (``?v=``), so browsers may cache them for a
long time and still pick up a new release at once.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Final

__all__ = [
    "STATIC_DIR",
    "STATIC_PATH",
    "SWAGGER_DIR",
    "TEMPLATES_DIR",
    "asset_url",
    "swagger_version",
]

_HERE: Final = Path(__file__).resolve().parent
STATIC_DIR: Final = _HERE / "static"
TEMPLATES_DIR: Final = _HERE / "templates"
SWAGGER_DIR: Final = STATIC_DIR / "swagger-ui"
#: Where the static files are served.
STATIC_PATH: Final = "/ui/static"


@cache
def asset_url(name: str) -> str:
    """``/ui/static/<name>?v=<digest>`` for a file under ``static/`` (raises if it is missing:
    a template naming a file the package does not ship is a bug, found by the first render)."""
    digest = hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:12]
    return f"{STATIC_PATH}/{name}?v={digest}"


@cache
def swagger_version() -> str:
    """The vendored Swagger UI's version, from ``static/swagger-ui/VERSION.txt``."""
    for line in (SWAGGER_DIR / "VERSION.txt").read_text().splitlines():
        if line.startswith("version:"):
            return line.split(":", 1)[1].strip()
    raise RuntimeError("static/swagger-ui/VERSION.txt names no version")
