"""The ``nestor-catalog`` command line (click). Subcommands load lazily; see ``_group``."""

from nestor_catalog_core.cli._group import main

__all__ = ["main"]
