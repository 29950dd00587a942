from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import pytest

from nestor_catalog_core import ConfigError
from nestor_catalog_server.config import (
    ENV_OVERRIDES,
    Settings,
    load_settings,
    settings_from_mapping,
)
from tests.server.config.conftest import WriteConfig

ROOT = Path(__file__).resolve().parents[3]
CONFIGS = ROOT / "configs"


def _error(path: Path | None, environ: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ=environ or {})
    return info.value


# --------------------------------------------------------------------------------------------- shipped configs


def test_development_config_loads_sqlite_and_watches_examples() -> None:
    settings = load_settings(CONFIGS / "development.yaml", environ={})
    assert settings.storage.type == "sqlite"
    assert settings.service.data_dir == ROOT / "data"
    assert settings.store_uri() == f"sqlite:///{ROOT}/data/catalog.db?synchronous=normal"
    [examples] = settings.git.directories
    assert (examples.name, examples.path) == ("examples", ROOT / "examples")
    assert "invalid/**" in examples.exclude
    assert settings.auth.enabled is False
    assert settings.logging.format == "text"


def test_production_config_loads_with_its_secrets_from_the_environment(tmp_path: Path) -> None:
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": []}))
    environ = {
        "GIT_WEBHOOK_SECRET": "hook-secret",
        "GITHUB_TOKEN": "ghp_token",
        "JWT_ISSUER": "https://issuer.example.com/",
        "JWT_JWKS_FILE": str(jwks),
    }
    settings = load_settings(CONFIGS / "production.yaml", environ=environ)
    assert settings.service.environment == "production"
    assert settings.storage.dynamodb.table_name == "nestor-catalog-prod"
    assert settings.storage.dynamodb.effective_billing_mode == "PROVISIONED"
    assert settings.store_uri() == (
        "dynamodb://nestor-catalog-prod?region=us-west-2&read_capacity=10&write_capacity=5"
        "&enable_point_in_time_recovery=true"
    )
    assert settings.cache.type == "redis"
    assert settings.cache.redis.ttl == timedelta(minutes=5)
    platform, aws = settings.git.repositories
    assert platform.path == "resources"
    assert platform.webhook_secret is not None
    assert platform.webhook_secret.get_secret_value() == "hook-secret"
    assert platform.auth.token is not None
    assert platform.auth.token.get_secret_value() == "ghp_token"
    assert aws.webhook_secret is None
    assert settings.auth.enabled
    assert settings.auth.jwks_file == jwks
    assert settings.auth.audience == ("nestor-catalog",)
    assert settings.auth.effective_algorithms == ("RS256", "ES256")


def test_production_config_names_a_missing_secret_variable_and_its_key() -> None:
    error = _error(CONFIGS / "production.yaml", {"GITHUB_TOKEN": "t", "JWT_ISSUER": "x"})
    assert "production.yaml:48:" in error.message
    assert "git.repositories[0].webhook_secret: environment variable GIT_WEBHOOK_SECRET is not set" in error.message


def test_spec_docker_example_overrides_storage() -> None:
    settings = load_settings(
        CONFIGS / "development.yaml",
        environ={"STORAGE_TYPE": "dynamodb", "DYNAMODB_ENDPOINT": "http://dynamodb:8000", "AWS_REGION": "eu-west-1"},
    )
    assert settings.store_uri() == (
        "dynamodb://nestor-catalog?region=eu-west-1&endpoint=http%3A%2F%2Fdynamodb%3A8000&create_table=true"
    )


# --------------------------------------------------------------------------------------------- defaults


def test_no_file_and_an_empty_file_give_the_defaults(write_config: WriteConfig) -> None:
    for settings in (
        load_settings(None, environ={}),
        load_settings(write_config(""), environ={}),
        load_settings(write_config("# nothing but a comment\n"), environ={}),
    ):
        assert settings.storage.type == "sqlite"
        assert settings.service.port == 8080
        assert settings.service.data_dir.is_absolute()
        assert settings.git.repositories == ()
        assert settings.sse.heartbeat_interval == timedelta(seconds=30)


def test_default_data_dir_is_relative_to_the_working_directory(
    write_config: WriteConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_settings(write_config(""), environ={}).service.data_dir == tmp_path / "data"


# --------------------------------------------------------------------------------------------- file errors


def test_missing_file(tmp_path: Path) -> None:
    error = _error(tmp_path / "nope.yaml")
    assert error.code == "CONFIG_INVALID"
    assert error.message == f"configuration file not found: {tmp_path / 'nope.yaml'}"


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_settings(tmp_path, environ={})


def test_yaml_syntax_error_points_at_line_and_column(write_config: WriteConfig) -> None:
    path = write_config("service:\n  port: 8080\n  name: [unclosed\n")
    error = _error(path)
    assert error.message.startswith(f"{path}:4:1: YAML syntax error")
    assert error.details["line"] == 4


def test_duplicate_keys_are_rejected(write_config: WriteConfig) -> None:
    path = write_config("service:\n  port: 8080\n  port: 9090\n")
    with pytest.raises(ConfigError, match=r"catalog.yaml:3:3: duplicate key 'port' \(first at line 2\)"):
        load_settings(path, environ={})


def test_top_level_must_be_a_mapping(write_config: WriteConfig) -> None:
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_settings(write_config("- service\n"), environ={})


def test_non_utf8_file(write_config: WriteConfig) -> None:
    path = write_config("")
    path.write_bytes(b"service:\n  name: caf\xe9\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_settings(path, environ={})


def test_python_tags_are_not_constructed(write_config: WriteConfig) -> None:
    path = write_config("service:\n  name: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(ConfigError, match="YAML"):
        load_settings(path, environ={})


def test_merge_keys_work_and_errors_point_into_the_merged_block(write_config: WriteConfig) -> None:
    """The file goes through core's loader, so ``<<`` merges work as in definitions: the
    mapping's own keys win, and an error in a merged value points where it was written."""
    settings = load_settings(write_config("git:\n  backoff:\n    <<: {initial: 2s, max: 1m}\n    max: 2m\n"))
    assert (settings.git.backoff.initial, settings.git.backoff.max) == (timedelta(seconds=2), timedelta(minutes=2))
    path = write_config("git:\n  backoff:\n    <<: {initial: soon}\n")
    assert f"{path}:3:10: git.backoff.initial:" in _error(path).message


def test_a_second_document_is_refused(write_config: WriteConfig) -> None:
    path = write_config("service:\n  port: 8080\n---\nservice:\n  port: 9090\n")
    error = _error(path)
    assert error.message.startswith(f"{path}:4:1: YAML syntax error: expected a single document")
    assert error.details["rule"] == "YAML_SYNTAX"


def test_an_alias_bomb_is_refused(write_config: WriteConfig) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]" for i in range(1, 9)]
    error = _error(write_config("\n".join(lines) + "\n"))
    assert error.details["rule"] == "YAML_ALIAS_BOMB"


# --------------------------------------------------------------------------------------------- validation errors


def test_unknown_key_is_named_with_its_line_and_a_suggestion(write_config: WriteConfig) -> None:
    path = write_config("service:\n  prot: 8080\n")
    error = _error(path)
    assert (
        error.message == f"invalid configuration ({path}): {path}:2:3: service.prot: unknown key (did you mean 'port'?)"
    )
    assert error.details["errors"] == [
        {
            "key": "service.prot",
            "reason": "unknown key (did you mean 'port'?)",
            "line": 2,
            "column": 3,
            "variable": None,
        }
    ]


def test_unknown_key_without_close_match_lists_the_valid_ones(write_config: WriteConfig) -> None:
    error = _error(write_config("cache:\n  zzz: 1\n"))
    assert "cache.zzz: unknown key (expected one of: type, redis)" in error.message


def test_unknown_section(write_config: WriteConfig) -> None:
    error = _error(write_config("storag:\n  type: memory\n"))
    assert "storag: unknown key (did you mean 'storage'?)" in error.message


def test_bad_type_names_the_key_and_the_value(write_config: WriteConfig) -> None:
    error = _error(write_config("service:\n  port: http\n"))
    assert "catalog.yaml:2:3: service.port: Input should be a valid integer" in error.message
    assert "(got 'http')" in error.message


def test_bad_choice_lists_the_valid_ones(write_config: WriteConfig) -> None:
    error = _error(write_config("storage:\n  type: postgres\n"))
    assert "storage.type: Input should be 'memory', 'sqlite' or 'dynamodb' (got 'postgres')" in error.message


def test_bad_duration_in_a_list_item(write_config: WriteConfig) -> None:
    text = """
git:
  repositories:
    - name: one
      url: https://example.com/one.git
    - name: two
      url: https://example.com/two.git
      poll_interval: 5 minutes
"""
    error = _error(write_config(text))
    assert "catalog.yaml:8:7: git.repositories[1].poll_interval: invalid duration '5 minutes'" in error.message


def test_all_problems_are_reported_at_once_in_file_order(write_config: WriteConfig) -> None:
    text = "service:\n  port: x\nlogging:\n  level: loud\nsse:\n  buffer_size: 0\n"
    error = _error(write_config(text))
    assert "3 problems" in error.message
    keys = [problem["key"] for problem in error.details["errors"]]
    assert keys == ["service.port", "logging.level", "sse.buffer_size"]


def test_duplicate_source_names_point_at_the_second_one(write_config: WriteConfig, tmp_path: Path) -> None:
    (tmp_path / "etc" / "defs").mkdir(parents=True)
    text = """
git:
  repositories:
    - name: platform
      url: https://example.com/a.git
    - name: other
      url: https://example.com/b.git
  directories:
    - name: platform
      path: defs
"""
    error = _error(write_config(text))
    assert "catalog.yaml:9:7: git.directories[0].name: duplicate source name 'platform'" in error.message
    assert "already used by git.repositories[0].name" in error.message


def test_source_names_are_dns_labels(write_config: WriteConfig) -> None:
    error = _error(write_config("git:\n  repositories:\n    - name: Platform_Resources\n      url: /srv/repo\n"))
    assert "git.repositories[0].name: invalid name 'Platform_Resources'" in error.message


def test_missing_required_key(write_config: WriteConfig) -> None:
    error = _error(write_config("git:\n  repositories:\n    - name: a\n"))
    assert "git.repositories[0].url: required key is missing" in error.message


def test_auth_enabled_without_any_key(write_config: WriteConfig) -> None:
    error = _error(write_config("auth:\n  enabled: true\n"))
    assert "catalog.yaml:2:3: auth.enabled: no key is configured" in error.message


def test_auth_algorithms_without_matching_key(write_config: WriteConfig) -> None:
    text = f"auth:\n  enabled: true\n  algorithms: [RS256]\n  hs256_secret: {'s' * 32}\n"
    error = _error(write_config(text))
    assert "auth.algorithms: none of ['RS256'] can be verified" in error.message


def test_alg_none_cannot_be_configured(write_config: WriteConfig) -> None:
    error = _error(write_config("auth:\n  algorithms: [none]\n"))
    assert "auth.algorithms[0]: Input should be 'HS256'" in error.message


def test_short_hmac_secret_is_rejected_without_echoing_it(write_config: WriteConfig) -> None:
    error = _error(write_config("auth:\n  hs256_secret: hunter2\n"))
    assert "auth.hs256_secret: must be at least 32 bytes" in error.message
    assert "hunter2" not in error.message


def test_missing_key_file(write_config: WriteConfig, tmp_path: Path) -> None:
    error = _error(write_config("auth:\n  public_keys: [keys/signer.pem]\n"))
    assert f"auth.public_keys[0]: file not found: {tmp_path}/etc/keys/signer.pem" in error.message


def test_key_file_that_is_a_directory(write_config: WriteConfig, tmp_path: Path) -> None:
    (tmp_path / "etc" / "jwks").mkdir(parents=True)
    error = _error(write_config("auth:\n  jwks_file: jwks\n"))
    assert "auth.jwks_file: not a regular file" in error.message


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_unreadable_key_file(write_config: WriteConfig, tmp_path: Path) -> None:
    key = tmp_path / "etc" / "key.pem"
    key.parent.mkdir(parents=True, exist_ok=True)
    key.write_text("secret")
    key.chmod(0)
    error = _error(write_config("auth:\n  public_keys: [key.pem]\n"))
    assert "auth.public_keys[0]: file is not readable" in error.message


def test_tls_keyfile_without_certfile(write_config: WriteConfig, tls_files: dict[str, Path]) -> None:
    error = _error(write_config(f"service:\n  tls:\n    keyfile: {tls_files['key']}\n"))
    assert "catalog.yaml:3:5: service.tls.keyfile: requires certfile" in error.message


def test_tls_loads_certificate_and_key(write_config: WriteConfig, tls_files: dict[str, Path]) -> None:
    text = f"""
service:
  tls:
    certfile: {tls_files["cert"]}
    keyfile: {tls_files["encrypted_key"]}
    keyfile_password: s3cret-pass
    ca_certs: {tls_files["ca"]}
    client_cert_required: true
"""
    tls = load_settings(write_config(text), environ={}).service.tls
    assert tls.enabled
    assert tls.client_cert_required
    assert "s3cret-pass" not in repr(tls)


def test_tls_certificate_that_does_not_match_its_key(write_config: WriteConfig, tls_files: dict[str, Path]) -> None:
    text = f"service:\n  tls:\n    certfile: {tls_files['cert']}\n    keyfile: {tls_files['other_key']}\n"
    error = _error(write_config(text))
    assert "service.tls.certfile: cannot load the certificate and key" in error.message


def test_tls_wrong_key_password(write_config: WriteConfig, tls_files: dict[str, Path]) -> None:
    text = (
        f"service:\n  tls:\n    certfile: {tls_files['cert']}\n    keyfile: {tls_files['encrypted_key']}\n"
        "    keyfile_password: wrong\n"
    )
    error = _error(write_config(text))
    assert "service.tls.certfile: cannot load the certificate and key" in error.message


def test_client_certificates_need_a_ca(write_config: WriteConfig, tls_files: dict[str, Path]) -> None:
    text = f"service:\n  tls:\n    certfile: {tls_files['cert']}\n    keyfile: {tls_files['key']}\n"
    error = _error(write_config(text + "    client_cert_required: true\n"))
    assert "service.tls.client_cert_required: requires ca_certs" in error.message


def test_credentials_in_a_git_url_are_refused(write_config: WriteConfig) -> None:
    error = _error(write_config("git:\n  repositories:\n    - name: a\n      url: https://me:tok@host/r.git\n"))
    assert "git.repositories[0].url: credentials do not belong in the URL" in error.message
    assert "tok@" not in error.message.split("URL")[-1]


def test_token_on_an_ssh_url_is_refused(write_config: WriteConfig) -> None:
    text = "git:\n  repositories:\n    - name: a\n      url: git@host:r.git\n      auth:\n        token_env: TOK\n"
    error = _error(write_config(text), {"TOK": "t"})
    assert "git.repositories[0].auth.token: a token authenticates http(s) URLs only" in error.message


def test_token_env_must_be_set(write_config: WriteConfig) -> None:
    text = (
        "git:\n  repositories:\n    - name: a\n      url: https://h/r.git\n      auth:\n        token_env: GH_TOKEN\n"
    )
    error = _error(write_config(text))
    assert "catalog.yaml:6:9: git.repositories[0].auth.token_env: environment variable GH_TOKEN is not set" in (
        error.message
    )


def test_bad_branch_name(write_config: WriteConfig) -> None:
    error = _error(write_config("git:\n  repositories:\n    - name: a\n      url: /srv/r\n      branch: 'a..b'\n"))
    assert "git.repositories[0].branch: 'a..b' is not a valid git branch name" in error.message


def test_repository_path_must_stay_inside(write_config: WriteConfig) -> None:
    error = _error(write_config("git:\n  repositories:\n    - name: a\n      url: /srv/r\n      path: ../x\n"))
    assert "git.repositories[0].path: must stay inside the repository" in error.message


def test_backoff_initial_above_max(write_config: WriteConfig) -> None:
    error = _error(write_config("git:\n  backoff:\n    initial: 10m\n    max: 1m\n"))
    assert "git.backoff.initial: must not be greater than max" in error.message


def test_dynamodb_capacity_rules(write_config: WriteConfig) -> None:
    error = _error(write_config("storage:\n  dynamodb:\n    read_capacity: 5\n"))
    assert "storage.dynamodb.billing_mode: PROVISIONED needs both read_capacity and write_capacity" in error.message
    error = _error(
        write_config(
            "storage:\n  dynamodb:\n    billing_mode: PAY_PER_REQUEST\n    read_capacity: 5\n    write_capacity: 5\n"
        )
    )
    assert "PAY_PER_REQUEST takes no read_capacity/write_capacity" in error.message


def test_watched_directory_must_exist(write_config: WriteConfig) -> None:
    error = _error(write_config("git:\n  directories:\n    - name: local\n      path: nowhere\n"))
    assert "git.directories[0].path: directory not found:" in error.message


# --------------------------------------------------------------------------------------------- paths


def test_relative_paths_resolve_against_the_config_file(write_config: WriteConfig, tmp_path: Path) -> None:
    (tmp_path / "defs").mkdir()
    (tmp_path / "etc" / "keys").mkdir(parents=True)
    (tmp_path / "etc" / "keys" / "signer.pem").write_text("pem")
    text = """
service:
  data_dir: ../state
storage:
  sqlite:
    path: db/catalog.sqlite
git:
  repositories:
    - name: local
      url: ../repos/local
  directories:
    - name: defs
      path: ../defs
auth:
  public_keys: [keys/signer.pem]
"""
    settings = load_settings(write_config(text), environ={})
    assert settings.service.data_dir == tmp_path / "state"
    assert settings.storage.sqlite.path == tmp_path / "etc" / "db" / "catalog.sqlite"
    assert settings.git.repositories[0].url == str(tmp_path / "repos" / "local")
    assert settings.git.directories[0].path == tmp_path / "defs"
    assert settings.auth.public_keys == (tmp_path / "etc" / "keys" / "signer.pem",)


def test_settings_from_mapping_resolves_against_base_dir(tmp_path: Path) -> None:
    settings = settings_from_mapping({"service": {"data_dir": "state"}}, base_dir=tmp_path, environ={})
    assert settings.service.data_dir == tmp_path / "state"


# --------------------------------------------------------------------------------------------- ${VAR}


def test_variable_expansion(write_config: WriteConfig) -> None:
    text = """
service:
  name: ${NAME}
  environment: ${ENVIRONMENT:-staging}
  port: ${PORT_NUMBER}
cache:
  redis:
    url: redis://${REDIS_HOST:-localhost}:6379/${REDIS_DB:-0}
    stream: price-$$5-${EMPTY:-fallback}-${EMPTY}
"""
    environ = {"NAME": "cat", "PORT_NUMBER": "9000", "REDIS_HOST": "cache", "EMPTY": ""}
    settings = load_settings(write_config(text), environ=environ)
    assert settings.service.name == "cat"
    assert settings.service.environment == "staging"
    assert settings.service.port == 9000
    assert settings.cache.redis.url == "redis://cache:6379/0"
    assert settings.cache.redis.stream == "price-$5-fallback-"


def test_unset_variable_is_named_with_its_key(write_config: WriteConfig) -> None:
    error = _error(write_config("service:\n  port: ${PORT_NUMBER}\n"))
    assert error.message.endswith(
        "catalog.yaml:2:3: service.port: environment variable PORT_NUMBER is not set (referenced as ${PORT_NUMBER})"
    )
    assert len(error.details["errors"]) == 1


def test_malformed_reference(write_config: WriteConfig) -> None:
    error = _error(write_config("service:\n  name: ${oops\n"))
    assert "service.name: invalid ${...} reference" in error.message


def test_keys_and_non_strings_are_not_expanded(write_config: WriteConfig) -> None:
    settings = load_settings(write_config("service:\n  port: 8081\n"), environ={"X": "1"})
    assert settings.service.port == 8081


# --------------------------------------------------------------------------------------------- overrides


def test_named_overrides(write_config: WriteConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    environ = {
        "STORAGE_TYPE": "DynamoDB",
        "DYNAMODB_TABLE": "catalog-test",
        "DYNAMODB_REGION": "eu-central-1",
        "AWS_REGION": "us-east-1",
        "DYNAMODB_ENDPOINT": "http://localhost:8000",
        "CACHE_TYPE": "redis",
        "REDIS_URL": "redis://10.0.0.1:6380/2",
        "HOST": "127.0.0.1",
        "PORT": "9090",
        "LOG_LEVEL": "DEBUG",
        "LOG_FORMAT": "text",
        "DATA_DIR": "var",
        "AUTH_ENABLED": "false",
    }
    settings = load_settings(write_config("service:\n  port: 8080\n"), environ=environ)
    assert settings.storage.type == "dynamodb"
    assert settings.storage.dynamodb.table_name == "catalog-test"
    assert settings.storage.dynamodb.region == "eu-central-1"
    assert settings.storage.dynamodb.endpoint == "http://localhost:8000"
    assert settings.cache.type == "redis"
    assert settings.cache.redis.url == "redis://10.0.0.1:6380/2"
    assert (settings.service.host, settings.service.port) == ("127.0.0.1", 9090)
    assert (settings.logging.level, settings.logging.format) == ("debug", "text")
    assert settings.service.data_dir == tmp_path / "var"


def test_sqlite_path_override_is_relative_to_the_working_directory(
    write_config: WriteConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(write_config(""), environ={"SQLITE_PATH": "here.db"})
    assert settings.store_uri() == f"sqlite:///{tmp_path}/here.db?synchronous=full"


def test_aws_region_is_only_a_fallback(write_config: WriteConfig) -> None:
    in_file = write_config("storage:\n  dynamodb:\n    region: ap-south-1\n")
    assert load_settings(in_file, environ={"AWS_REGION": "us-east-1"}).storage.dynamodb.region == "ap-south-1"
    empty = write_config("")
    assert load_settings(empty, environ={"AWS_REGION": "us-east-1"}).storage.dynamodb.region == "us-east-1"


def test_override_errors_name_the_variable(write_config: WriteConfig) -> None:
    error = _error(write_config("service:\n  port: 8080\n"), {"PORT": "eighty"})
    assert "service.port: Input should be a valid integer" in error.message
    assert "(from environment variable PORT)" in error.message
    assert error.details["errors"][0]["variable"] == "PORT"


def test_generic_overrides(write_config: WriteConfig) -> None:
    text = "git:\n  repositories:\n    - name: a\n      url: https://h/a.git\n"
    environ = {
        "NESTOR_CATALOG__SERVICE__PORT": "7070",
        "nestor_catalog__sse__enabled": "false",
        "NESTOR_CATALOG__STORAGE__DYNAMODB__TABLE_NAME": "t-123",
        "NESTOR_CATALOG__AUTH__WRITE_VALUES": "[platform-team, sre]",
        "NESTOR_CATALOG__GIT__REPOSITORIES__0__BRANCH": "release",
        "PORT": "1",
    }
    settings = load_settings(write_config(text), environ=environ)
    assert settings.service.port == 7070
    assert settings.sse.enabled is False
    assert settings.storage.dynamodb.table_name == "t-123"
    assert settings.auth.write_values == ("platform-team", "sre")
    assert settings.git.repositories[0].branch == "release"


def test_generic_override_into_a_missing_list_item(write_config: WriteConfig) -> None:
    error = _error(write_config(""), {"NESTOR_CATALOG__GIT__REPOSITORIES__3__URL": "x"})
    assert "git.repositories[3].url: cannot be set" in error.message
    assert "NESTOR_CATALOG__GIT__REPOSITORIES__3__URL" in error.message


def test_generic_override_of_an_unknown_key(write_config: WriteConfig) -> None:
    error = _error(write_config(""), {"NESTOR_CATALOG__SERVICE__PROT": "1"})
    assert (
        "service.prot: unknown key (did you mean 'port'?) (from environment variable NESTOR_CATALOG__SERVICE__PROT)"
        in (error.message)
    )


def test_env_override_table_points_at_real_keys() -> None:
    names = [override.variable for override in ENV_OVERRIDES]
    assert names[:2] == ["STORAGE_TYPE", "SQLITE_PATH"]
    assert {"DYNAMODB_ENDPOINT", "REDIS_URL", "PORT", "HOST", "LOG_LEVEL", "DATA_DIR", "AUTH_ENABLED"} <= set(names)
    for override in ENV_OVERRIDES:
        section, *rest = override.key.split(".")
        model: object = Settings.model_fields[section].default
        for part in rest:
            assert part in type(model).model_fields, override  # type: ignore[attr-defined]
            model = getattr(model, part)


def test_empty_sections_read_as_defaults(write_config: WriteConfig) -> None:
    text = "service:\n  tls:\n  port: 9000\ngit:\ncache:\n"
    settings = load_settings(write_config(text), environ={})
    assert settings.service.port == 9000
    assert not settings.service.tls.enabled
    assert settings.git.repositories == ()


def test_wrong_shapes_are_explained(write_config: WriteConfig) -> None:
    error = _error(write_config("service: fast\ngit:\n  repositories: platform\nauth:\n  public_keys: {a: 1}\n"))
    assert "service: expected a mapping of keys, got a string" in error.message
    assert "git.repositories: expected a list, got a string" in error.message
    assert "auth.public_keys: expected a list, got a mapping" in error.message
