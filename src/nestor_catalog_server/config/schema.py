"""The JSON Schema of the server's configuration, from the settings models themselves.

It is what makes a bad value fail before anything starts where a JSON Schema is checked: the
Helm chart's ``values.schema.json`` embeds it as the schema of ``config`` (``helm install``
refuses a typo'd key or a wrong type there), and editors can use it for the YAML file.
Durations and sizes accept what the loader parses (``30s``, ``1MiB`` or a number); checks
that span several keys (a TLS key without a certificate, ...) are left to the loader.
"""

from __future__ import annotations

from typing import Any, Final

from nestor_catalog_server.config.models import Settings

__all__ = ["settings_json_schema"]

_NOISE: Final = frozenset({"title", "default"})
#: Keywords whose value maps names (config keys, definitions) to schemas.
_SCHEMA_MAPS: Final = frozenset({"properties", "$defs", "patternProperties"})


def settings_json_schema() -> dict[str, Any]:
    """The schema of a configuration file (or of the chart's ``config`` value); its ``$defs``
    are referenced as ``#/$defs/<Section>``, so embed it with them at the document's root."""
    schema: dict[str, Any] = _without_noise(Settings.model_json_schema(mode="validation"))
    repository = schema["$defs"]["RepositoryConfig"]
    # A repository without a name is named after its URL (RepositoryConfig._name_from_url).
    repository["required"] = [key for key in repository.get("required", []) if key != "name"]
    return schema


def _without_noise(schema: Any) -> Any:
    """``schema`` without ``title`` and ``default``: titles repeat the key names, and defaults are
    pydantic's serialization (``PT30S``), not the spelling users write."""
    if isinstance(schema, list):
        return [_without_noise(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    cleaned: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _NOISE:
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            cleaned[key] = {name: _without_noise(child) for name, child in value.items()}
        else:
            cleaned[key] = _without_noise(value)
    return cleaned
