"""nestor-catalog server: the Litestar HTTP API with live events, git sync and operations.

``create_app(settings)`` builds the app (``load_settings(path)`` reads a configuration file);
``serve(settings)`` runs it under granian, as ``nestor-catalog serve`` does. A running app's
``AppState`` is ``app.state[STATE_KEY]``.
"""

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
