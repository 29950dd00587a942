"""The ``nestor-catalog`` command line (click). Subcommands load lazily; see ``_group``.

``main`` is the click group; ``console``, the console script, runs it and exits.
"""

from nestor_catalog_core.cli._group import console, main
from nestor_catalog_core.cli._output import progress

__all__ = ["console", "main", "progress"]
