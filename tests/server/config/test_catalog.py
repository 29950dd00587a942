from __future__ import annotations

from nestor_catalog_core import CatalogSettings, LoadOptions, ValidationSettings
from nestor_catalog_server.config import catalog_settings, settings_from_mapping


def test_defaults_check_everything() -> None:
    settings = catalog_settings(settings_from_mapping({}, environ={}))
    assert settings == CatalogSettings(
        validation=ValidationSettings(strict_mode=True, schema_validation=True, policy_enforcement=True),
        compatibility="strict",
        load_options=LoadOptions(max_file_size=1024 * 1024),
        read_only=False,
    )


def test_validation_section_maps_onto_the_catalog() -> None:
    settings = catalog_settings(
        settings_from_mapping(
            {
                "service": {"read_only": True},
                "validation": {
                    "strict_mode": False,
                    "schema_validation": False,
                    "policy_enforcement": False,
                    "compatibility": "WARN",
                    "max_file_size": "64KiB",
                },
            },
            environ={},
        )
    )
    assert settings.validation == ValidationSettings(
        strict_mode=False, schema_validation=False, policy_enforcement=False
    )
    assert settings.compatibility == "warn"
    assert settings.load_options.max_file_size == 64 * 1024
    assert settings.read_only is True
