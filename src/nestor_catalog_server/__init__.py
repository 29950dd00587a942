"""nestor-catalog server: the Litestar HTTP API with live events, git sync and operations.

``create_app(settings)`` builds the app (``load_settings(path)`` reads a configuration file);
``serve(settings)`` runs it under granian, as ``nestor-catalog serve`` does. A running app's
``AppState`` is ``app.state[STATE_KEY]``.

Names are imported on first use (PEP 562 ``__getattr__``): ``nestor-catalog serve``'s parent
process (granian's, which binds the socket and forks the worker) reads the configuration
without importing the app, the catalog or Litestar; the worker imports them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nestor_catalog_core import _lazy

if TYPE_CHECKING:
    from nestor_catalog_server.app import create_app
    from nestor_catalog_server.auth import Principal, TokenVerifier
    from nestor_catalog_server.config import Settings, load_settings, settings_from_mapping
    from nestor_catalog_server.observability import Metrics
    from nestor_catalog_server.runner import app_from_environment, serve
    from nestor_catalog_server.state import STATE_KEY, AppState

__all__ = [
    "STATE_KEY",
    "AppState",
    "Metrics",
    "Principal",
    "Settings",
    "TokenVerifier",
    "app_from_environment",
    "create_app",
    "load_settings",
    "serve",
    "settings_from_mapping",
]

_LAZY: dict[str, str] = {
    "AppState": "nestor_catalog_server.state",
    "Metrics": "nestor_catalog_server.observability",
    "Principal": "nestor_catalog_server.auth",
    "STATE_KEY": "nestor_catalog_server.state",
    "Settings": "nestor_catalog_server.config",
    "TokenVerifier": "nestor_catalog_server.auth",
    "app_from_environment": "nestor_catalog_server.runner",
    "create_app": "nestor_catalog_server.app",
    "load_settings": "nestor_catalog_server.config",
    "serve": "nestor_catalog_server.runner",
    "settings_from_mapping": "nestor_catalog_server.config",
}


__getattr__, __dir__ = _lazy.lazy_names(globals(), _LAZY)
