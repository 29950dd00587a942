"""Loading definition files: YAML (through libyaml) and JSON to plain data that remembers
where every node was written.

Loading never raises for bad input: every problem is a ``Finding`` with a stable rule id and
a 1-based position. Load rule ids: ``YAML_SYNTAX``, ``JSON_SYNTAX``, ``DUPLICATE_KEY``,
``NON_STRING_KEY``, ``YAML_TAG``, ``YAML_ALIAS_BOMB``, ``NESTING_TOO_DEEP``,
``NUMBER_OUT_OF_RANGE``, ``FILE_TOO_LARGE``, ``NOT_UTF8``, ``SYMLINK_OUTSIDE_ROOT``,
``NOT_A_MAPPING``, ``API_VERSION``, ``FOREIGN_API_VERSION`` (info: the document is skipped),
``EMPTY_DOCUMENT`` (info: a file with no documents; empty documents between others are
skipped silently), ``FILE_UNREADABLE``.
"""

from typing import TYPE_CHECKING

from nestor_catalog_core import _lazy
from nestor_catalog_core.loading._bytes import load_bytes, load_yaml_document
from nestor_catalog_core.loading._documents import (
    DEFAULT_MAX_FILE_SIZE,
    LoadedDocument,
    LoadOptions,
    LoadResult,
    Locator,
    Position,
)
from nestor_catalog_core.loading._files import (
    DEFINITION_GLOBS,
    DEFINITION_SUFFIXES,
    discover,
    ignored_below,
    iter_load,
    load_file,
)
from nestor_catalog_core.loading._ignore import IGNORE_FILE, IgnoreRules, compile_globs, is_ignored

if TYPE_CHECKING:
    from nestor_catalog_core.loading._json import decode_json

__all__ = [
    "DEFAULT_MAX_FILE_SIZE",
    "DEFINITION_GLOBS",
    "DEFINITION_SUFFIXES",
    "IGNORE_FILE",
    "IgnoreRules",
    "LoadOptions",
    "LoadResult",
    "LoadedDocument",
    "Locator",
    "Position",
    "compile_globs",
    "decode_json",
    "discover",
    "ignored_below",
    "is_ignored",
    "iter_load",
    "load_bytes",
    "load_file",
    "load_yaml_document",
]

#: Imported on first use: the JSON loader (and ``json``) is for JSON files only (start-up, issue 13).
_LAZY: dict[str, str] = {"decode_json": "nestor_catalog_core.loading._json"}

__getattr__, __dir__ = _lazy.lazy_names(globals(), _LAZY)
