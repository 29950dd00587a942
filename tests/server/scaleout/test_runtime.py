"""``advertise_url`` and the runner's listen address: what other replicas use to reach this one."""

from __future__ import annotations

import importlib.util
import socket
from pathlib import Path

import pytest

from nestor_catalog_core import ConfigError
from nestor_catalog_server.runner import check_startable, listening_on
from nestor_catalog_server.scaleout import advertise_url
from tests.server.api.conftest import make_settings


def test_the_advertised_url_defaults_to_the_listen_address(tmp_path: Path) -> None:
    assert advertise_url(make_settings(tmp_path, service={"host": "10.1.2.3", "port": 9000}).service) == (
        "http://10.1.2.3:9000"
    )
    wildcard = make_settings(tmp_path, service={"host": "0.0.0.0", "port": 8080}).service
    assert advertise_url(wildcard) == f"http://{socket.gethostname()}:8080"
    assert advertise_url(make_settings(tmp_path, service={"host": "::1", "port": 8080}).service) == "http://[::1]:8080"
    explicit = make_settings(tmp_path, service={"advertise_url": "https://catalog-0.catalog:8443/"}).service
    assert advertise_url(explicit) == "https://catalog-0.catalog:8443"


def test_the_runner_hands_the_real_listen_address_to_the_app(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, service={"host": "0.0.0.0", "port": 8080})
    moved = listening_on(settings, "127.0.0.1", 41234)
    assert (moved.service.host, moved.service.port) == ("127.0.0.1", 41234)
    assert moved.service.data_dir == settings.service.data_dir
    assert (settings.service.host, settings.service.port) == ("0.0.0.0", 8080)
    assert advertise_url(moved.service) == "http://127.0.0.1:41234"


def test_a_redis_cache_without_the_redis_package_cannot_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = make_settings(tmp_path, cache={"type": "redis"})
    check_startable(settings)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "redis" else real(name, *a))
    with pytest.raises(ConfigError, match=r"cache.type is redis but the redis package is missing"):
        check_startable(settings)
    check_startable(make_settings(tmp_path, cache={"type": "none"}))
