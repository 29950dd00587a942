"""PEP 562 lazy names for a package's ``__init__``: a name is imported from its module the
first time it is used, then kept in the package's namespace.

The packages whose import must stay cheap (core's root, ``models``, ``validation``,
``versions``; the server's root and ``sync``) end with::

    _LAZY: dict[str, str] = {"Name": "package.module", ...}
    __getattr__, __dir__ = _lazy.lazy_names(globals(), _LAZY)

and import the same names under ``TYPE_CHECKING`` for the type checker. It imports only
``importlib`` (which those packages imported themselves before), so it adds nothing to the
import cost that ``tests/core/cli/test_validate_imports.py`` guards.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = ["lazy_names"]


def lazy_names(
    namespace: dict[str, Any], modules: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of the package whose ``globals()`` is ``namespace``.

    ``modules`` maps each lazy name to the module it is imported from. For any other name
    ``__getattr__`` raises ``AttributeError`` worded as the interpreter words it
    (``module 'pkg' has no attribute 'x'``); ``__dir__`` lists the namespace and the package's
    ``__all__``.
    """
    package = namespace["__name__"]

    def __getattr__(name: str) -> Any:
        module = modules.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *namespace["__all__"]})

    return __getattr__, __dir__
