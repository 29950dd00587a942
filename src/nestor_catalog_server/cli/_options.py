"""Options the server's subcommands share."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

__all__ = ["config_option"]

_F = TypeVar("_F", bound=Callable[..., Any])


def config_option(function: _F) -> _F:
    """``--config FILE`` (stored as ``config_path``; env ``NESTOR_CATALOG_CONFIG``)."""
    return click.option(
        "--config",
        "config_path",
        type=click.Path(path_type=Path, dir_okay=False),
        default=None,
        envvar="NESTOR_CATALOG_CONFIG",
        help="Configuration file (YAML; env NESTOR_CATALOG_CONFIG); without it, the built-in defaults "
        "and environment variables.",
    )(function)
