"""Editors: the real ``yaml-language-server`` (npm), driven over stdio with the Language Server
Protocol, validates a definition against the schema named in its modeline, fetched from a real
catalog server at the path of the schema's ``$id`` (and, as the README shows for checkouts, from
the committed file). Diagnostics must land on the lines of the mistakes."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import pytest

from nestor_catalog_core.validation import DEFINITION_SCHEMA_ID
from tests.support.node_tools import yaml_language_server
from tests.support.server import ServerHandle, run_server

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "schemas" / "catalog.nestor.io" / "v1" / "resource-definition.schema.json"

# line numbers (0-based, as LSP counts) of the two mistakes below
DOCUMENT = """\
# yaml-language-server: $schema={schema}
apiVersion: catalog.nestor.io/v1
kind: ResourceDefinition
metadata:
  name: team-queue
  version: "1.0.0"
  category: queue
  resource_type: sqs-queue
  maintainers: platform-team@company.com
spec:
  supported_engines: [terraform]
"""
METADATA_LINE = 3  # provider is missing: reported on the metadata mapping
MAINTAINERS_LINE = 8  # a string where a list is expected


class LanguageServer:
    """A yaml-language-server process and a minimal LSP client: Content-Length framed JSON-RPC,
    answers to the server's own requests (workspace/configuration), notifications queued."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self._settings = settings
        self._process = subprocess.Popen(
            ["node", str(yaml_language_server()), "--stdio"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self._messages: queue.Queue[dict[str, Any]] = queue.Queue()
        self._next_id = 0
        assert self._process.stdout is not None
        threading.Thread(target=self._read, args=(self._process.stdout,), daemon=True).start()

    def _read(self, stream: BinaryIO) -> None:
        try:
            self._read_messages(stream)
        except (OSError, ValueError):  # the stream was closed under us at shutdown
            return

    def _read_messages(self, stream: BinaryIO) -> None:
        while True:
            headers: dict[str, str] = {}
            while True:
                line = stream.readline()
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    break
                key, _, value = line.decode("ascii").partition(":")
                headers[key.strip().lower()] = value.strip()
            body = stream.read(int(headers["content-length"]))
            self._messages.put(json.loads(body))

    def _send(self, message: dict[str, Any]) -> None:
        data = json.dumps({"jsonrpc": "2.0", **message}).encode()
        assert self._process.stdin is not None
        self._process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(data) + data)
        self._process.stdin.flush()

    def notify(self, method: str, params: dict[str, Any]) -> None:
        self._send({"method": method, "params": params})

    def request(self, method: str, params: dict[str, Any], timeout: float = 60) -> Any:
        self._next_id += 1
        wanted = self._next_id
        self._send({"id": wanted, "method": method, "params": params})
        return self.wait(lambda message: message.get("id") == wanted and "method" not in message, timeout)["result"]

    def wait(self, matches: Any, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("yaml-language-server did not answer in time")
            try:
                message = self._messages.get(timeout=remaining)
            except queue.Empty:
                continue
            if "method" in message and "id" in message:  # a request from the server
                self._answer(message)
                continue
            if matches(message):
                return message

    def _answer(self, message: dict[str, Any]) -> None:
        if message["method"] == "workspace/configuration":
            items = message["params"]["items"]
            result: Any = [self._settings.get(item.get("section", ""), None) for item in items]
        else:
            result = None
        self._send({"id": message["id"], "result": result})

    def close(self) -> None:
        try:
            self.request("shutdown", {}, timeout=10)
            self.notify("exit", {})
            self._process.wait(timeout=10)
        except (AssertionError, OSError, subprocess.TimeoutExpired):
            self._process.kill()
            self._process.wait(timeout=10)
        finally:
            for stream in (self._process.stdin, self._process.stdout):
                if stream is not None:
                    stream.close()


@pytest.fixture
def language_server(tmp_path: Path) -> Iterator[LanguageServer]:
    settings = {"yaml": {"validate": True, "schemaStore": {"enable": False}, "schemaDownload": {"enable": True}}}
    server = LanguageServer(settings)
    server.request(
        "initialize",
        {
            "processId": os.getpid(),
            "rootUri": tmp_path.as_uri(),
            "capabilities": {"textDocument": {"publishDiagnostics": {}}, "workspace": {"configuration": True}},
        },
    )
    server.notify("initialized", {})
    server.notify("workspace/didChangeConfiguration", {"settings": settings})
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def catalog_server() -> Iterator[ServerHandle]:
    with run_server({"storage": {"type": "memory"}}) as server:
        yield server


def diagnostics_for(server: LanguageServer, path: Path, text: str) -> list[dict[str, Any]]:
    uri = path.as_uri()
    path.write_text(text)
    server.notify(
        "textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "yaml", "version": 1, "text": text}}
    )
    message = server.wait(
        lambda m: (
            m.get("method") == "textDocument/publishDiagnostics"
            and m["params"]["uri"] == uri
            and m["params"]["diagnostics"]
        )
    )
    diagnostics: list[dict[str, Any]] = message["params"]["diagnostics"]
    return diagnostics


def assert_the_two_mistakes(diagnostics: list[dict[str, Any]]) -> None:
    by_line = {d["range"]["start"]["line"]: d["message"] for d in diagnostics}
    assert 'Missing property "provider"' in by_line.get(METADATA_LINE, ""), diagnostics
    assert 'Incorrect type. Expected "array"' in by_line.get(MAINTAINERS_LINE, ""), diagnostics
    assert set(by_line) == {METADATA_LINE, MAINTAINERS_LINE}, diagnostics


def test_diagnostics_from_the_schema_served_at_its_id_path(
    language_server: LanguageServer, catalog_server: ServerHandle, tmp_path: Path
) -> None:
    schema_url = catalog_server.url + urlsplit(DEFINITION_SCHEMA_ID).path
    diagnostics = diagnostics_for(language_server, tmp_path / "team-queue.yaml", DOCUMENT.format(schema=schema_url))
    assert_the_two_mistakes(diagnostics)


def test_diagnostics_from_the_committed_schema_file(language_server: LanguageServer, tmp_path: Path) -> None:
    by_uri = DOCUMENT.format(schema=COMMITTED.as_uri())
    assert_the_two_mistakes(diagnostics_for(language_server, tmp_path / "team-queue.yaml", by_uri))
    # the README's relative modeline, from a definitions folder beside schemas/
    (tmp_path / "schemas").symlink_to(ROOT / "schemas")
    (tmp_path / "definitions").mkdir()
    relative = DOCUMENT.format(schema="../schemas/catalog.nestor.io/v1/resource-definition.schema.json")
    assert_the_two_mistakes(diagnostics_for(language_server, tmp_path / "definitions" / "queue.yaml", relative))


def test_a_valid_definition_has_no_diagnostics(
    language_server: LanguageServer, catalog_server: ServerHandle, tmp_path: Path
) -> None:
    schema_url = catalog_server.url + urlsplit(DEFINITION_SCHEMA_ID).path
    text = DOCUMENT.format(schema=schema_url).replace(
        "  maintainers: platform-team@company.com\n", "  provider: aws\n  maintainers: [platform-team@company.com]\n"
    )
    # a broken copy first, so the valid one is known to be checked (its diagnostics are published empty)
    broken = tmp_path / "broken.yaml"
    assert diagnostics_for(language_server, broken, DOCUMENT.format(schema=schema_url))
    path = tmp_path / "ok.yaml"
    uri = path.as_uri()
    path.write_text(text)
    language_server.notify(
        "textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "yaml", "version": 1, "text": text}}
    )
    message = language_server.wait(
        lambda m: m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == uri
    )
    assert message["params"]["diagnostics"] == []
