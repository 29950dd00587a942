"""The read-only web UI: browse and search, resource pages, diffs, a try-inputs form and the
sync dashboard at ``/``, plus ``/docs`` served from the package (Swagger UI vendored).

``route_handlers()`` are the pages and the static files; ``template_config()`` is the Jinja
setup they render with; ``docs_render_plugin()`` is the offline Swagger UI. The app factory
registers all three (the sidecar, built by the same factory, serves the UI too). See
``ui.pages`` for how pages render with and without ``auth.enabled``.
"""

from __future__ import annotations

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from litestar.datastructures import CacheControlHeader
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template import TemplateConfig
from litestar.types import ControllerRouterHandler

from nestor_catalog_server.ui._assets import STATIC_DIR, STATIC_PATH, TEMPLATES_DIR, asset_url, swagger_version
from nestor_catalog_server.ui._views import ui_path
from nestor_catalog_server.ui.docs import docs_render_plugin
from nestor_catalog_server.ui.pages import PARTIAL_HEADER, UIController

__all__ = [
    "PARTIAL_HEADER",
    "STATIC_PATH",
    "UIController",
    "asset_url",
    "docs_render_plugin",
    "route_handlers",
    "swagger_version",
    "template_config",
]

#: Asset URLs carry their digest, so a year of caching is safe.
_STATIC_CACHE = CacheControlHeader(public=True, max_age=365 * 24 * 3600, immutable=True)


def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    environment.globals["asset"] = asset_url
    environment.globals["ui_path"] = ui_path
    return environment


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    """The Jinja environment of the UI's templates (autoescaped, undefined names are errors)."""
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(_environment()))


def route_handlers() -> list[ControllerRouterHandler]:
    """The pages and ``/ui/static`` (public: assets hold no catalog data)."""
    static = create_static_files_router(
        path=STATIC_PATH,
        directories=[STATIC_DIR],
        cache_control=_STATIC_CACHE,
        include_in_schema=False,
        opt={"public": True, "no_rate_limit": True},
        name="ui-static",
    )
    return [UIController, static]
