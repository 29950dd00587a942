from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

import nestor_catalog_server.config as config
from nestor_catalog_server.config import (
    AuthConfig,
    RepositoryConfig,
    Settings,
    StorageConfig,
    load_settings,
)
from tests.server.config.conftest import WriteConfig


def test_public_names() -> None:
    assert sorted(config.__all__) == sorted(
        [
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
    )
    for name in config.__all__:
        assert hasattr(config, name)


def test_store_uris() -> None:
    data_dir = Path("/srv/catalog data")
    assert StorageConfig(type="memory").uri(data_dir) == "memory://"
    assert StorageConfig().uri(data_dir) == "sqlite:////srv/catalog%20data/catalog.db?synchronous=full"
    sqlite = StorageConfig.model_validate({"sqlite": {"path": "/var/db/c#1.db", "synchronous": "NORMAL"}})
    assert sqlite.uri(data_dir) == "sqlite:////var/db/c%231.db?synchronous=normal"
    dynamo = StorageConfig.model_validate(
        {
            "type": "dynamodb",
            "dynamodb": {"table_name": "cat.prod", "region": "us-west-2", "endpoint": "http://h:8000/"},
        }
    )
    assert (
        dynamo.uri(data_dir) == "dynamodb://cat.prod?region=us-west-2&endpoint=http%3A%2F%2Fh%3A8000&create_table=true"
    )
    assert StorageConfig(type="dynamodb").uri(data_dir) == "dynamodb://nestor-catalog"


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(ValidationError, match="frozen"):
        settings.service.port = 1  # type: ignore[misc]


def test_secrets_never_show_in_repr_or_dumps(write_config: WriteConfig) -> None:
    text = f"""
git:
  repositories:
    - name: a
      url: https://h/a.git
      webhook_secret: hook-secret-value
      auth:
        token: token-value
auth:
  hs256_secret: {"k" * 40}
"""
    settings = load_settings(write_config(text), environ={})
    dumped = settings.model_dump_json()
    for secret in ("hook-secret-value", "token-value", "k" * 40):
        assert secret not in repr(settings)
        assert secret not in dumped
    assert '"poll_interval":"1m"' in dumped


def test_dump_reloads_to_equal_settings(write_config: WriteConfig) -> None:
    text = "service:\n  request_timeout: 1500ms\ngit:\n  repositories:\n    - name: a\n      url: https://h/a.git\n"
    settings = load_settings(write_config(text), environ={})
    again = Settings.model_validate(settings.model_dump(mode="json"))
    assert again == settings
    assert again.service.request_timeout == timedelta(milliseconds=1500)


def test_repository_normalization() -> None:
    repo = RepositoryConfig.model_validate(
        {"name": "r", "url": "git@github.com:org/r.git", "path": "/resources/./aws/", "branch": "refs/heads/main"}
    )
    assert (repo.path, repo.branch) == ("resources/aws", "main")
    assert repo.poll_interval == timedelta(seconds=60)
    assert repo.include == ("**/*.yaml", "**/*.yml", "**/*.json")
    assert RepositoryConfig.model_validate({"name": "r", "url": "/x", "include": "*.yaml"}).include == ("*.yaml",)


def test_token_env_is_read_from_the_validation_context() -> None:
    data = {"name": "r", "url": "https://h/r.git", "auth": {"token_env": "TOKEN"}}
    repo = RepositoryConfig.model_validate(data, context={"environ": {"TOKEN": "abc"}})
    assert repo.auth.token is not None
    assert repo.auth.token.get_secret_value() == "abc"
    with pytest.raises(ValidationError, match="set either token or token_env"):
        RepositoryConfig.model_validate({**data, "auth": {"token_env": "TOKEN", "token": "x"}})


def test_effective_algorithms() -> None:
    assert AuthConfig().effective_algorithms == ()
    assert AuthConfig(hs256_secret="s" * 32).effective_algorithms == ("HS256",)  # type: ignore[arg-type]
    auth = AuthConfig.model_validate({"enabled": True, "hs256_secret": "s" * 32, "algorithms": "HS512"})
    assert auth.effective_algorithms == ("HS512",)
    assert AuthConfig.model_validate({"audience": ""}).audience == ()
    assert AuthConfig.model_validate({"audience": "api"}).audience == ("api",)
