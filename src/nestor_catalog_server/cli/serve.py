"""``nestor-catalog serve``: run the HTTP API (and git sync) in the foreground.

Exit codes: 0 after a clean shutdown (SIGINT/SIGTERM), 2 when the configuration cannot start
(the message names the key and its line; no traceback), 1 when the server fails while running.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Final, NoReturn

import click

from nestor_catalog_core import ConfigError
from nestor_catalog_server.cli._options import config_option
from nestor_catalog_server.config import load_settings

__all__ = ["EXIT_CONFIG", "serve"]

EXIT_CONFIG: Final = 2
#: What ``serve`` runs on (the server extra). The app itself is imported in granian's worker only,
#: so their presence is checked here, without importing them, for the CLI to name the extra.
_SERVER_MODULES: Final = ("litestar", "granian", "jinja2")


def _require(*names: str) -> None:
    for name in names:
        missing = sys.modules[name] is None if name in sys.modules else importlib.util.find_spec(name) is None
        if missing:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


_require(*_SERVER_MODULES)


@click.command("serve")
@config_option
@click.option("--host", default=None, help="Listen address (default: service.host).")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Listen port (default: service.port).")
@click.option(
    "--upstream",
    default=None,
    metavar="URL",
    help="Run as a read-only sidecar mirroring the catalog at URL (default: service.upstream).",
)
def serve(config_path: Path | None, host: str | None, port: int | None, upstream: str | None) -> None:
    """Serve the catalog over HTTP until SIGINT or SIGTERM."""
    from nestor_catalog_server.runner import serve as run

    try:
        settings = load_settings(config_path)
        if upstream is not None:
            from nestor_catalog_server.sidecar import with_upstream

            settings = with_upstream(settings, upstream)
        run(settings, host, port)
    except ConfigError as exc:
        _fail_config(exc.message)


def _fail_config(message: str) -> NoReturn:
    click.echo(f"nestor-catalog serve: {message}", err=True)
    sys.exit(EXIT_CONFIG)
