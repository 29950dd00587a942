"""The ``nestor-catalog`` command line (click). Subcommands load lazily; see ``_group``."""

from nestor_catalog_core.cli._group import main
from nestor_catalog_core.cli._output import progress

__all__ = ["main", "progress"]
