"""Configuration by environment alone (the container's way): the built-in defaults, DynamoDB
table creation options carried into the store URI, and git repositories declared by variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from nestor_catalog_core import ConfigError
from nestor_catalog_core.storage import open_store
from nestor_catalog_core.storage.dynamodb import DynamoDBStore
from nestor_catalog_server.config import load_settings
from nestor_catalog_server.config.models import repository_name_from_url


def _error(environ: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(None, environ=environ)
    return info.value.message


def test_the_built_in_configuration_needs_no_file() -> None:
    settings = load_settings(None, environ={})
    assert settings.storage.type == "sqlite"
    assert settings.service.host == "0.0.0.0"
    assert settings.service.port == 8080
    assert settings.logging.format == "json"


@pytest.mark.parametrize(
    ("environ", "creates"),
    [
        ({"DYNAMODB_ENDPOINT": "http://dynamodb:8000"}, True),
        ({"DYNAMODB_ENDPOINT": "http://127.0.0.1:8000"}, True),
        ({"DYNAMODB_ENDPOINT": "https://dynamodb.us-west-2.amazonaws.com"}, False),
        ({}, False),
        ({"DYNAMODB_CREATE_TABLE": "true"}, True),
        ({"DYNAMODB_CREATE_TABLE": "yes"}, True),
        ({"DYNAMODB_ENDPOINT": "http://dynamodb:8000", "DYNAMODB_CREATE_TABLE": "false"}, False),
        ({"DYNAMODB_ENDPOINT": "http://dynamodb:8000", "DYNAMODB_CREATE_TABLE": "auto"}, True),
    ],
)
def test_create_table_auto_creates_only_against_a_local_endpoint(environ: dict[str, str], creates: bool) -> None:
    settings = load_settings(None, environ={"STORAGE_TYPE": "dynamodb", **environ})
    assert settings.storage.dynamodb.creates_table is creates
    store = open_store(settings.store_uri())
    assert isinstance(store, DynamoDBStore)
    assert store.create_table is creates


def test_create_table_refuses_other_words() -> None:
    assert "storage.dynamodb.create_table" in _error({"DYNAMODB_CREATE_TABLE": "sometimes"})


def test_capacities_and_point_in_time_recovery_reach_the_store() -> None:
    settings = load_settings(
        None,
        environ={
            "STORAGE_TYPE": "dynamodb",
            "DYNAMODB_TABLE": "catalog-prod",
            "DYNAMODB_REGION": "eu-west-1",
            "DYNAMODB_CREATE_TABLE": "true",
            "NESTOR_CATALOG__STORAGE__DYNAMODB__READ_CAPACITY": "10",
            "NESTOR_CATALOG__STORAGE__DYNAMODB__WRITE_CAPACITY": "5",
            "NESTOR_CATALOG__STORAGE__DYNAMODB__ENABLE_POINT_IN_TIME_RECOVERY": "true",
        },
    )
    store = open_store(settings.store_uri())
    assert isinstance(store, DynamoDBStore)
    assert (store.table_name, store.region, store.create_table) == ("catalog-prod", "eu-west-1", True)
    options = store.table_options
    assert (options.read_capacity, options.write_capacity) == (10, 5)
    assert options.effective_billing_mode == "PROVISIONED"
    assert options.point_in_time_recovery is True


def test_on_demand_billing_reaches_the_store() -> None:
    settings = load_settings(
        None,
        environ={
            "STORAGE_TYPE": "dynamodb",
            "DYNAMODB_ENDPOINT": "http://dynamodb:8000",
            "NESTOR_CATALOG__STORAGE__DYNAMODB__BILLING_MODE": "PAY_PER_REQUEST",
        },
    )
    store = open_store(settings.store_uri())
    assert isinstance(store, DynamoDBStore)
    assert store.table_options.billing_mode == "PAY_PER_REQUEST"
    assert store.endpoint == "http://dynamodb:8000"


def test_repositories_by_indexed_variables_in_numeric_order() -> None:
    environ = {
        f"NESTOR_CATALOG__GIT__REPOSITORIES__{i}__URL": f"https://git.example.com/team/repo-{i}.git" for i in range(12)
    }
    environ["NESTOR_CATALOG__GIT__REPOSITORIES__10__BRANCH"] = "release"
    environ["NESTOR_CATALOG__GIT__REPOSITORIES__0__NAME"] = "platform-resources"
    environ["NESTOR_CATALOG__GIT__REPOSITORIES__0__PATH"] = "resources/"
    environ["NESTOR_CATALOG__GIT__REPOSITORIES__0__POLL_INTERVAL"] = "30s"
    repositories = load_settings(None, environ=environ).git.repositories
    assert [repository.name for repository in repositories] == [
        "platform-resources",
        *(f"repo-{i}" for i in range(1, 12)),
    ]
    assert repositories[0].path == "resources"
    assert repositories[0].poll_interval.total_seconds() == 30
    assert repositories[10].branch == "release"


def test_indexed_variables_patch_the_repositories_of_a_file(tmp_path: Path) -> None:
    config = tmp_path / "catalog.yaml"
    config.write_text("git:\n  repositories:\n    - {name: platform, url: https://git.example.com/a.git}\n")
    environ = {
        "NESTOR_CATALOG__GIT__REPOSITORIES__0__BRANCH": "release",
        "NESTOR_CATALOG__GIT__REPOSITORIES__1__URL": "https://git.example.com/team/aws-resources.git",
    }
    repositories = load_settings(config, environ=environ).git.repositories
    assert [(r.name, r.branch) for r in repositories] == [("platform", "release"), ("aws-resources", "main")]


def test_a_gap_in_the_indexes_is_an_error_naming_the_variable() -> None:
    message = _error({"NESTOR_CATALOG__GIT__REPOSITORIES__1__URL": "https://git.example.com/a.git"})
    assert "git.repositories[1].url: cannot be set: git.repositories has no item [1]" in message
    assert "numbered from 0 without gaps" in message
    assert "NESTOR_CATALOG__GIT__REPOSITORIES__1__URL" in message


def test_repositories_as_one_yaml_or_json_list() -> None:
    environ = {
        "GIT_REPOSITORIES": '[{url: "https://github.com/company/platform-resources.git", path: resources/}, '
        '{"name": "aws", "url": "git@github.com:company/aws-resources.git", "branch": "release"}]'
    }
    platform, aws = load_settings(None, environ=environ).git.repositories
    assert (platform.name, platform.path, platform.branch) == ("platform-resources", "resources", "main")
    assert (aws.name, aws.url, aws.branch) == ("aws", "git@github.com:company/aws-resources.git", "release")


def test_a_bad_repository_list_names_the_variable_and_the_key() -> None:
    message = _error({"GIT_REPOSITORIES": "[{path: resources}]"})
    assert "git.repositories[0].url: required key is missing (from environment variable GIT_REPOSITORIES)" in message
    message = _error({"GIT_REPOSITORIES": "[{url: https://h/a.git, poll_interval: soon}]"})
    assert "git.repositories[0].poll_interval" in message
    assert "GIT_REPOSITORIES" in message


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("https://github.com/company/platform-resources.git", "platform-resources"),
        ("https://github.com/company/platform-resources/", "platform-resources"),
        ("git@github.com:Company/Platform_Resources.git", "platform-resources"),
        ("ssh://git@host:2222/team/AWS.Resources.git", "aws-resources"),
        ("/srv/git/defs", "defs"),
        ("https://host/" + "x" * 80 + ".git", "x" * 63),
        ("https://host/___.git", None),
    ],
)
def test_a_repository_is_named_after_its_url(url: str, name: str | None) -> None:
    assert repository_name_from_url(url) == name


def test_the_derived_names_must_still_be_unique() -> None:
    message = _error(
        {
            "GIT_REPOSITORIES": "[{url: https://git.example.com/a/defs.git}, {url: https://git.example.com/b/defs.git}]",
        }
    )
    assert "duplicate source name 'defs'" in message


def test_an_explicit_name_wins_over_the_url() -> None:
    [repository] = load_settings(
        None, environ={"GIT_REPOSITORIES": "[{name: mine, url: https://git.example.com/a/defs.git}]"}
    ).git.repositories
    assert repository.name == "mine"


def test_the_readme_lists_every_named_variable() -> None:
    from nestor_catalog_server.config import ENV_OVERRIDES
    from tests.conftest import ROOT

    readme = (ROOT / "README.md").read_text()
    missing = [o.variable for o in ENV_OVERRIDES if f"`{o.variable}`" not in readme]
    assert not missing, f"README's configuration table lacks {missing}"
