"""The settings the core ``Catalog`` takes, from the server's configuration (one mapping, shared by
``serve`` and ``sync``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nestor_catalog_server.config.models import Settings

if TYPE_CHECKING:
    from nestor_catalog_core import CatalogSettings, Limits

__all__ = ["catalog_settings", "limits"]


def limits(settings: Settings) -> Limits:
    """``validation.limits`` as core ``Limits``."""
    from nestor_catalog_core import Limits  # the catalog: not at import

    return Limits(**settings.validation.limits.model_dump())


def catalog_settings(settings: Settings) -> CatalogSettings:
    """The ``validation:`` section as ``CatalogSettings``: the three validation layers, the
    compatibility mode, the file size limit (for git and API publishes alike) and read-only mode."""
    from nestor_catalog_core import CatalogSettings, LoadOptions, ValidationSettings  # the catalog: not at import

    validation = settings.validation
    return CatalogSettings(
        validation=ValidationSettings(
            strict_mode=validation.strict_mode,
            schema_validation=validation.schema_validation,
            policy_enforcement=validation.policy_enforcement,
            limits=limits(settings),
        ),
        compatibility=validation.compatibility,
        load_options=LoadOptions(max_file_size=validation.max_file_size),
        read_only=settings.service.read_only,
    )
