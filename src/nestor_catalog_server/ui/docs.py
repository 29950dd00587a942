"""``/docs``: Swagger UI served from the package, so the API docs work on a network without a CDN.

Litestar's ``SwaggerRenderPlugin`` loads Swagger UI from jsdelivr (and its favicon from GitHub)
unless told otherwise; here every URL points at the vendored copy under ``STATIC_PATH``
(``static/swagger-ui``: swagger-ui-dist, Apache-2.0, version and checksums in its ``VERSION.txt``,
refreshed by ``scripts/vendor-swagger-ui``).
"""

from __future__ import annotations

from litestar.openapi.plugins import SwaggerRenderPlugin

from nestor_catalog_server.ui._assets import asset_url

__all__ = ["docs_render_plugin"]

_STYLE = "<style>body { margin: 0; padding: 0 }</style>"


def docs_render_plugin(path: str = "/") -> SwaggerRenderPlugin:
    """Swagger UI with every asset served by this app."""
    return SwaggerRenderPlugin(
        path=path,
        js_url=asset_url("swagger-ui/swagger-ui-bundle.js"),
        css_url=asset_url("swagger-ui/swagger-ui.css"),
        standalone_preset_js_url=asset_url("swagger-ui/swagger-ui-standalone-preset.js"),
        favicon=f"<link rel='icon' type='image/png' href='{asset_url('swagger-ui/favicon-32x32.png')}'>",
        style=_STYLE,
    )
