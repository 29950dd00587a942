"""Server settings: pydantic models per section and the loader (YAML, ``${VAR}``, environment).

``load_settings(path)`` is the one way in; ``ENV_OVERRIDES`` is the table of named environment
variables it honours (the README prints it).
"""

from nestor_catalog_server.config._units import format_duration, parse_duration, parse_size
from nestor_catalog_server.config.catalog import catalog_settings
from nestor_catalog_server.config.loader import (
    ENV_OVERRIDES,
    GENERIC_ENV_PREFIX,
    EnvOverride,
    load_settings,
    settings_from_mapping,
)
from nestor_catalog_server.config.models import (
    AuthConfig,
    BackoffConfig,
    CacheConfig,
    DirectoryConfig,
    DynamoDBConfig,
    EventLogConfig,
    GitAuthConfig,
    GitConfig,
    LeadershipConfig,
    LimitsConfig,
    LoggingConfig,
    RedisConfig,
    RepositoryConfig,
    ServiceConfig,
    Settings,
    SQLiteConfig,
    SSEConfig,
    StorageConfig,
    TLSConfig,
    UpstreamTLSConfig,
    ValidationConfig,
)
from nestor_catalog_server.config.schema import settings_json_schema

__all__ = [
    "ENV_OVERRIDES",
    "GENERIC_ENV_PREFIX",
    "AuthConfig",
    "BackoffConfig",
    "CacheConfig",
    "DirectoryConfig",
    "DynamoDBConfig",
    "EnvOverride",
    "EventLogConfig",
    "GitAuthConfig",
    "GitConfig",
    "LeadershipConfig",
    "LimitsConfig",
    "LoggingConfig",
    "RedisConfig",
    "RepositoryConfig",
    "SQLiteConfig",
    "SSEConfig",
    "ServiceConfig",
    "Settings",
    "StorageConfig",
    "TLSConfig",
    "UpstreamTLSConfig",
    "ValidationConfig",
    "catalog_settings",
    "format_duration",
    "load_settings",
    "parse_duration",
    "parse_size",
    "settings_from_mapping",
    "settings_json_schema",
]
