"""The ``nestor-catalog`` command line (click). Subcommands load lazily; see ``_group``.

``main`` is the click group (imported on first use); ``console``, the console script, runs
``validate`` itself when it can and the group otherwise (``_console``).
"""

from typing import TYPE_CHECKING

from nestor_catalog_core import _lazy
from nestor_catalog_core.cli._console import console
from nestor_catalog_core.cli._output import progress

if TYPE_CHECKING:
    from nestor_catalog_core.cli._group import main

__all__ = ["console", "main", "progress"]

#: Imported on first use: the console script's validate runs without click.
_LAZY: dict[str, str] = {"main": "nestor_catalog_core.cli._group"}

__getattr__, __dir__ = _lazy.lazy_names(globals(), _LAZY)
