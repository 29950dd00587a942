"""``load_bytes``: one file's bytes to catalog documents and findings, never an exception."""

from __future__ import annotations

import re
from typing import Final

from nestor_catalog_core.loading._documents import LoadedDocument, LoadOptions, LoadResult, load_finding
from nestor_catalog_core.loading._yaml import ComposedDocument, YamlLocator, byte_position, compose_documents
from nestor_catalog_core.models._base import API_VERSION
from nestor_catalog_core.models.findings import Finding, Severity

__all__ = ["DEFAULT_OPTIONS", "load_bytes", "load_yaml_document"]

DEFAULT_OPTIONS: Final = LoadOptions()
_API_GROUP: Final = API_VERSION.split("/", 1)[0] + "/"
_LOOKS_LIKE_JSON: Final = re.compile(rb"\A(?:\xef\xbb\xbf)?[ \t\r\n]*[\[{]")


def load_bytes(
    data: bytes,
    file: str = "<input>",
    *,
    options: LoadOptions = DEFAULT_OPTIONS,
    suffix: str | None = None,
) -> LoadResult:
    """Load every document of ``data`` (YAML, or JSON).

    ``suffix`` ``.json`` forces JSON. Otherwise text that starts with ``{`` or ``[`` is tried
    as JSON first (faster) and read as YAML if it is not valid JSON, since YAML flow style
    looks the same; everything else is YAML, possibly several documents.
    """
    result = LoadResult(file)
    if len(data) > options.max_file_size:
        result.findings.append(_too_large(file, len(data), options))
        return result
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        result.findings.append(_not_utf8(data, file, exc))
        return result
    forced_json = suffix is not None and suffix.lower() == ".json"
    if (forced_json or _LOOKS_LIKE_JSON.match(data)) and _load_json(data, text, result, options, forced=forced_json):
        return result
    _load_yaml(data, result, options)
    return result


def load_yaml_document(
    data: bytes, file: str = "<input>", *, options: LoadOptions = DEFAULT_OPTIONS
) -> tuple[LoadedDocument | None, list[Finding]]:
    """One YAML document that is not a definition (the server's configuration file, one
    environment value) as positioned plain data, with every check definitions get: duplicate
    keys, tags, aliases, depth, finite numbers, ``<<`` merge keys.

    Returns the document and its findings; the document is ``None`` when there is an error
    finding or the stream is empty (no document, or one that is only ``null``). A second
    document in the stream is a ``YAML_SYNTAX`` finding at its start.
    """
    if len(data) > options.max_file_size:
        return None, [_too_large(file, len(data), options)]
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, [_not_utf8(data, file, exc)]
    document: LoadedDocument | None = None
    findings: list[Finding] = []
    for item in compose_documents(data, file, options):
        if isinstance(item, Finding):
            findings.append(item)
        elif item.index > 0:
            findings.append(
                load_finding(
                    "YAML_SYNTAX",
                    "expected a single document, found another one here; remove the '---' separator",
                    file,
                    YamlLocator(item.root).locate((), key=False),
                )
            )
            break
        else:
            findings.extend(item.findings)
            if item.data is not None:
                document = LoadedDocument(file, 0, item.data, YamlLocator(item.root))
    if any(finding.severity is Severity.ERROR for finding in findings):
        return None, findings
    return document, findings


def _too_large(file: str, size: int, options: LoadOptions) -> Finding:
    return load_finding(
        "FILE_TOO_LARGE",
        f"file is {size:,} bytes, over the {options.max_file_size:,} byte limit; split it into smaller files",
        file,
    )


def _not_utf8(data: bytes, file: str, exc: UnicodeDecodeError) -> Finding:
    byte = data[exc.start : exc.start + 1].hex()
    return load_finding(
        "NOT_UTF8",
        f"byte 0x{byte} at offset {exc.start} is not valid UTF-8; save the file as UTF-8",
        file,
        byte_position(data, exc.start),
    )


def _load_json(data: bytes, text: str, result: LoadResult, options: LoadOptions, *, forced: bool) -> bool:
    """Load ``text`` as one JSON document; ``False`` when it is not JSON and YAML should try."""
    # Imported here: a tree of YAML files never needs the JSON loader (nor ``json``).
    from nestor_catalog_core.loading._json import JsonLocator, JsonProblem, parse_json

    try:
        value = parse_json(text.removeprefix("\ufeff"), result.file, options)
    except JsonProblem as problem:
        if not forced:
            return False
        if problem.finding is not None:
            result.findings.append(problem.finding)
        else:
            result.findings.extend(_locate_duplicates(data, result.file, options, problem.duplicate or ""))
        return True
    _accept(result, LoadedDocument(result.file, 0, value, JsonLocator(data)))
    return True


def _locate_duplicates(data: bytes, file: str, options: LoadOptions, key: str) -> list[Finding]:
    found = [
        finding
        for item in compose_documents(data, file, options)
        if isinstance(item, ComposedDocument)
        for finding in item.findings
        if finding.rule == "DUPLICATE_KEY"
    ]
    return found or [load_finding("DUPLICATE_KEY", f"duplicate key {key!r}: a key may appear once per object", file)]


def _load_yaml(data: bytes, result: LoadResult, options: LoadOptions) -> None:
    content = False
    for item in compose_documents(data, result.file, options):
        if isinstance(item, Finding):
            result.findings.append(item)
            content = True
        elif item.findings:
            result.findings.extend(item.findings)
            content = True
        elif item.data is not None:
            content = True
            _accept(result, LoadedDocument(result.file, item.index, item.data, YamlLocator(item.root)))
    if not content:
        result.findings.append(
            load_finding("EMPTY_DOCUMENT", "the file holds no documents", result.file, severity=Severity.INFO)
        )


def _accept(result: LoadResult, document: LoadedDocument) -> None:
    data = document.data
    if not isinstance(data, dict):
        result.findings.append(
            load_finding(
                "NOT_A_MAPPING",
                f"a definition is a mapping with apiVersion, kind, metadata and spec, not {_kind_of(data)}",
                result.file,
                document.position(()),
            )
        )
        return
    api_version = data.get("apiVersion")
    if isinstance(api_version, str) and api_version != API_VERSION:
        result.findings.append(_other_api(result.file, document, api_version))
        return
    result.documents.append(document)


def _other_api(file: str, document: LoadedDocument, api_version: str) -> Finding:
    position = document.position(("apiVersion",))
    if api_version.startswith(_API_GROUP):
        return load_finding(
            "API_VERSION",
            f"apiVersion {api_version!r} is not supported; this catalog reads {API_VERSION}",
            file,
            position,
            field="apiVersion",
        )
    return load_finding(
        "FOREIGN_API_VERSION",
        f"skipped document {document.index} with apiVersion {api_version!r}: not a {API_VERSION} document",
        file,
        position,
        field="apiVersion",
        severity=Severity.INFO,
    )


def _kind_of(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"
