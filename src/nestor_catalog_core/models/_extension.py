"""The three classes of pydantic-core that validating through views needs, from its compiled
extension alone.

``import pydantic_core`` also runs ``pydantic_core.core_schema`` (some 80 ``TypedDict`` classes, 100
builder functions and their ``Literal`` unions: the schema's type hints) and imports ``typing_extensions``: about 20 ms,
the largest single part of ``nestor-catalog validate``'s start-up (issue 13), for type hints the
command never reads. This module loads the extension ``pydantic_core._pydantic_core`` on its own,
under its own name, the way the import system would: a later ``import pydantic_core`` (pydantic,
the models) finds it in ``sys.modules`` and re-exports the very same classes, so a
``ValidationError`` raised by a view is the one ``pydantic_core.ValidationError`` catches.

When the package is already imported, or the extension cannot be found this way (another
layout, an import hook), this is ``from pydantic_core import ...``.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

__all__ = ["PydanticCustomError", "SchemaValidator", "ValidationError"]

_PACKAGE = "pydantic_core"
_EXTENSION = "pydantic_core._pydantic_core"


def _load_extension() -> object | None:
    """The extension module, imported without its package's ``__init__``; None when it cannot be."""
    from importlib.machinery import PathFinder
    from importlib.util import find_spec, module_from_spec

    package = find_spec(_PACKAGE)  # a top-level name: found, not imported
    if package is None or not package.submodule_search_locations:
        return None
    spec = PathFinder.find_spec(_EXTENSION, list(package.submodule_search_locations))
    if spec is None or spec.loader is None:
        return None
    module = module_from_spec(spec)
    sys.modules[_EXTENSION] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[_EXTENSION]
        raise
    return module


if TYPE_CHECKING:
    from pydantic_core import PydanticCustomError, SchemaValidator, ValidationError
else:
    _module = sys.modules.get(_EXTENSION) or sys.modules.get(_PACKAGE) or _load_extension()
    if _module is None:  # pragma: no cover - a layout without the extension beside __init__
        import pydantic_core as _module

    PydanticCustomError = _module.PydanticCustomError
    SchemaValidator = _module.SchemaValidator
    ValidationError = _module.ValidationError
    del _module
