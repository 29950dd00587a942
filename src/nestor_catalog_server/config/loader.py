"""Reading the settings: YAML file -> ``${VAR}`` expansion -> environment overrides -> validation.

Precedence, lowest first: defaults, the file, the named variables of ``ENV_OVERRIDES``
(``STORAGE_TYPE``, ``REDIS_URL``...), then the generic ``NESTOR_CATALOG__<SECTION>__<KEY>``
variables. Relative paths in the file (and in generic overrides, which patch the file) are
relative to the file's directory; relative paths in ``DATA_DIR``/``SQLITE_PATH`` and defaults are
relative to the working directory.

Every problem becomes one ``ConfigError`` listing all of them, each with its key path and, when
it comes from the file, ``file:line:column`` - never a traceback.
"""

from __future__ import annotations

import difflib
import os
import re
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, ValidationError

from nestor_catalog_core import ConfigError, Severity
from nestor_catalog_core.loading import LoadOptions, Locator, load_yaml_document
from nestor_catalog_core.models import format_field_path
from nestor_catalog_server.config.models import Settings

__all__ = ["ENV_OVERRIDES", "GENERIC_ENV_PREFIX", "EnvOverride", "load_settings", "settings_from_mapping"]

Loc = tuple[str | int, ...]

#: Prefix of the generic overrides: ``NESTOR_CATALOG__STORAGE__DYNAMODB__TABLE_NAME=catalog``.
GENERIC_ENV_PREFIX: Final = "NESTOR_CATALOG__"
_SECRET_WORDS: Final = ("secret", "token", "password")
_BAD_REFERENCE: Final = "invalid ${...} reference: use ${NAME} or ${NAME:-default} ($$ for a literal $)"
#: A configuration file is a few kilobytes; the limit only stops a wrong file (a log, an image).
_CONFIG_LOAD_OPTIONS: Final = LoadOptions(max_file_size=16 * 1024 * 1024)
_VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{")


@dataclass(frozen=True)
class EnvOverride:
    """One named environment variable that sets one configuration key."""

    variable: str
    key: str
    description: str
    is_path: bool = False
    fallback: bool = False  # only used when nothing else (file, earlier variables) set the key
    structured: bool = False  # the value is YAML/JSON (a list of repositories), not one string


#: The named environment overrides, applied in this order after the file.
ENV_OVERRIDES: Final[tuple[EnvOverride, ...]] = (
    EnvOverride("STORAGE_TYPE", "storage.type", "memory, sqlite or dynamodb"),
    EnvOverride("SQLITE_PATH", "storage.sqlite.path", "SQLite database file", is_path=True),
    EnvOverride("DYNAMODB_TABLE", "storage.dynamodb.table_name", "DynamoDB table name"),
    EnvOverride("DYNAMODB_REGION", "storage.dynamodb.region", "DynamoDB region"),
    EnvOverride("AWS_REGION", "storage.dynamodb.region", "DynamoDB region when nothing else sets it", fallback=True),
    EnvOverride("DYNAMODB_ENDPOINT", "storage.dynamodb.endpoint", "DynamoDB endpoint, e.g. http://dynamodb:8000"),
    EnvOverride(
        "DYNAMODB_CREATE_TABLE", "storage.dynamodb.create_table", "create the table at start: auto, true, false"
    ),
    EnvOverride("CACHE_TYPE", "cache.type", "none or redis"),
    EnvOverride("REDIS_URL", "cache.redis.url", "Redis URL"),
    EnvOverride("HOST", "service.host", "listen address"),
    EnvOverride("PORT", "service.port", "listen port"),
    EnvOverride("LOG_LEVEL", "logging.level", "debug, info, warning or error"),
    EnvOverride("LOG_FORMAT", "logging.format", "json or text"),
    EnvOverride("DATA_DIR", "service.data_dir", "data directory (SQLite file, git mirrors)", is_path=True),
    EnvOverride("AUTH_ENABLED", "auth.enabled", "true or false"),
    EnvOverride("AUTH_JWKS_URL", "auth.jwks_url", "JWKS URL of the token issuer"),
    EnvOverride(
        "GIT_REPOSITORIES",
        "git.repositories",
        "the git repositories, as a YAML/JSON list: [{url: https://..., path: resources/}]",
        structured=True,
    ),
)


@dataclass(frozen=True)
class _Problem:
    key: str
    reason: str
    line: int | None = None
    column: int | None = None
    variable: str | None = None

    def render(self, file: str | None) -> str:
        if self.variable is not None:
            return f"{self.key}: {self.reason} (from environment variable {self.variable})"
        if file is not None and self.line is not None:
            return f"{file}:{self.line}:{self.column}: {self.key}: {self.reason}"
        return f"{self.key}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "reason": self.reason,
            "line": self.line,
            "column": self.column,
            "variable": self.variable,
        }


class _Document:
    """The parsed file: its data and the locator that knows where each key was written."""

    def __init__(self, data: dict[str, Any], locator: Locator | None) -> None:
        self.data = data
        self.locator = locator

    def position(self, loc: Loc) -> tuple[int, int] | None:
        """1-based line and column of the deepest key of ``loc`` present in the file (a list
        item's own position), or ``None`` when not even its section is in the file."""
        if self.locator is None or not loc or loc[0] not in self.data:
            return None
        return self.locator.locate(loc, key=True)


def load_settings(path: Path | None, *, environ: Mapping[str, str] | None = None) -> Settings:
    """The settings from ``path`` (or defaults when ``None``), the environment applied.

    ``environ`` defaults to ``os.environ``; pass a dict in tests. Raises ``ConfigError`` naming
    every bad key and why (missing file, YAML syntax with line:column, unknown key with a
    suggestion, bad type or duration, unset ``${VAR}``, unreadable key file...).
    """
    env = os.environ if environ is None else environ
    if path is None:
        return settings_from_mapping({}, environ=env)
    document = _read_document(path)
    return _build(document, base_dir=path.absolute().parent, environ=env, file=str(path))


def settings_from_mapping(
    data: Mapping[str, Any],
    *,
    base_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
    source: str | None = None,
) -> Settings:
    """Settings from already-parsed data, with the same expansion, overrides and errors as a file.

    Relative paths resolve against ``base_dir`` (default: the working directory).
    """
    env = os.environ if environ is None else environ
    document = _Document(dict(data), None)
    return _build(document, base_dir=(base_dir or Path.cwd()).absolute(), environ=env, file=source)


def _build(document: _Document, *, base_dir: Path, environ: Mapping[str, str], file: str | None) -> Settings:
    problems: list[_Problem] = []
    data = _expand(document.data, (), environ, document, problems)
    origins: dict[Loc, str] = {}
    _apply_named_overrides(data, environ, origins)
    _apply_generic_overrides(data, environ, origins, problems)
    _drop_empty_sections(data, ())
    try:
        settings = Settings.model_validate(data, context={"base_dir": base_dir, "environ": environ})
    except ValidationError as exc:
        reported = {problem.key for problem in problems}
        found = (_problem(error, document, origins) for error in exc.errors())
        problems.extend(problem for problem in found if problem.key not in reported)
    if problems:
        raise _config_error(problems, file)
    return _absolute_data_dir(settings)


def _drop_empty_sections(data: dict[str, Any], loc: Loc) -> None:
    """``tls:`` with every key commented out is YAML ``null``: read it as an empty section."""
    for key, value in list(data.items()):
        if value is None and _is_section(_model_at(loc), key):
            del data[key]
        elif isinstance(value, dict):
            _drop_empty_sections(value, (*loc, key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, dict):
                    _drop_empty_sections(item, (*loc, key, index))


def _is_section(model: type[BaseModel] | None, key: str) -> bool:
    field = model.model_fields.get(key) if model is not None else None
    if field is None:
        return False
    annotation = field.annotation
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _absolute_data_dir(settings: Settings) -> Settings:
    data_dir = settings.service.data_dir
    if data_dir.is_absolute():
        return settings
    service = settings.service.model_copy(update={"data_dir": Path(os.path.normpath(data_dir.absolute()))})
    return settings.model_copy(update={"service": service})


# --------------------------------------------------------------------------------------------- reading


def _read_document(path: Path) -> _Document:
    try:
        data = path.read_bytes()
        data.decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"configuration file not found: {path}", details={"file": str(path)}) from None
    except IsADirectoryError:
        raise ConfigError(
            f"configuration path is a directory, not a file: {path}", details={"file": str(path)}
        ) from None
    except PermissionError:
        raise ConfigError(f"configuration file is not readable: {path}", details={"file": str(path)}) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 (byte {exc.start}): {exc.reason}", details={"file": str(path)}) from None
    return _parse_yaml(data, str(path))


def _parse_yaml(data: bytes, file: str) -> _Document:
    """The file through core's loader: the checks definitions get (duplicate keys, no tags,
    bounded aliases and nesting, merge keys) and positions for every key."""
    document, findings = load_yaml_document(data, file, options=_CONFIG_LOAD_OPTIONS)
    error = next((finding for finding in findings if finding.severity is Severity.ERROR), None)
    if error is not None:
        kind = "YAML syntax error: " if error.rule == "YAML_SYNTAX" else ""
        raise ConfigError(
            f"{file}:{error.line}:{error.column}: {kind}{error.message}",
            details={"file": file, "line": error.line, "column": error.column, "rule": error.rule},
        )
    if document is None:
        return _Document({}, None)
    if not isinstance(document.data, dict):
        raise ConfigError(
            f"{file}: the top level must be a mapping of sections (service, storage, ...), "
            f"not {type(document.data).__name__}",
            details={"file": file},
        )
    return _Document(document.data, document.locator)


# --------------------------------------------------------------------------------------------- ${VAR}


def _expand(value: Any, loc: Loc, environ: Mapping[str, str], document: _Document, problems: list[_Problem]) -> Any:
    """A copy of ``value`` with ``${VAR}`` / ``${VAR:-default}`` expanded in every string value.

    ``$$`` is a literal ``$``. Keys are never expanded.
    """
    if isinstance(value, dict):
        return {key: _expand(item, (*loc, str(key)), environ, document, problems) for key, item in value.items()}
    if isinstance(value, list):
        return [_expand(item, (*loc, index), environ, document, problems) for index, item in enumerate(value)]
    if isinstance(value, str) and "$" in value:
        return _expand_string(value, loc, environ, document, problems)
    return value


def _expand_string(
    text: str, loc: Loc, environ: Mapping[str, str], document: _Document, problems: list[_Problem]
) -> str:
    def replace(match: re.Match[str]) -> str:
        whole, name, default = match.group(0), match.group(1), match.group(2)
        if whole == "$$":
            return "$"
        if name is None:
            problems.append(_located(loc, _BAD_REFERENCE, document))
            return whole
        value = environ.get(name)
        if value:
            return value
        if default is not None:
            return default
        if value is not None:
            return value
        problems.append(_located(loc, f"environment variable {name} is not set (referenced as ${{{name}}})", document))
        return whole

    return _VARIABLE.sub(replace, text)


def _located(loc: Loc, reason: str, document: _Document) -> _Problem:
    position = document.position(loc)
    line, column = position if position else (None, None)
    return _Problem(format_field_path(loc), reason, line, column)


# --------------------------------------------------------------------------------------------- overrides


def _apply_named_overrides(data: dict[str, Any], environ: Mapping[str, str], origins: dict[Loc, str]) -> None:
    for override in ENV_OVERRIDES:
        value = environ.get(override.variable)
        if value is None or value == "":
            continue
        loc: Loc = tuple(override.key.split("."))
        if override.fallback and _lookup(data, loc) is not None:
            continue
        parsed: Any = value
        if override.is_path:
            parsed = os.path.normpath(Path(value).expanduser().absolute())
        elif override.structured:
            parsed = _scalar(value)
        _assign(data, loc, parsed)
        origins[loc] = override.variable


def _apply_generic_overrides(
    data: dict[str, Any], environ: Mapping[str, str], origins: dict[Loc, str], problems: list[_Problem]
) -> None:
    prefix = GENERIC_ENV_PREFIX.lower()
    overrides: list[tuple[Loc, str]] = []
    for variable in environ:
        if not variable.lower().startswith(prefix):
            continue
        parts = [part.lower() for part in variable[len(prefix) :].split("__")]
        if not parts or any(not part for part in parts):
            problems.append(_Problem(variable, "expected NESTOR_CATALOG__<SECTION>__<KEY>", variable=variable))
            continue
        overrides.append((tuple(int(part) if part.isdigit() else part for part in parts), variable))
    # Numeric order for list indexes (__2__ before __10__), so list items are created in order.
    overrides.sort(key=lambda item: (tuple((0, p, "") if isinstance(p, int) else (1, 0, p) for p in item[0]), item[1]))
    for loc, variable in overrides:
        try:
            _assign(data, loc, _scalar(environ[variable]))
        except (KeyError, IndexError, TypeError) as exc:
            problems.append(_Problem(format_field_path(loc), f"cannot be set: {exc}", variable=variable))
            continue
        origins[loc] = variable


def _scalar(text: str) -> Any:
    """``"8080"`` -> 8080, ``"true"`` -> True, ``"[a, b]"`` -> list; unparsable text stays text."""
    document, findings = load_yaml_document(text.encode("utf-8"), "<environment>")
    if any(finding.severity is Severity.ERROR for finding in findings):
        return text
    return None if document is None else document.data


def _lookup(data: Any, loc: Loc) -> Any:
    for part in loc:
        if isinstance(data, dict) and isinstance(part, str):
            data = data.get(part)
        elif isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        else:
            return None
    return data


def _assign(data: dict[str, Any], loc: Loc, value: Any) -> None:
    """Set ``value`` at ``loc``, creating missing sections and lists. A list item may be added
    right after the last one (``repositories[0]`` of an empty list, then ``[1]``...), so
    ``NESTOR_CATALOG__GIT__REPOSITORIES__0__URL`` declares a repository; a gap is an error."""
    target: Any = data
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        if isinstance(target, dict) and isinstance(part, str):
            if last:
                target[part] = value
                return
            if target.get(part) is None:
                target[part] = [] if isinstance(loc[index + 1], int) else {}
            target = target[part]
        elif isinstance(target, list) and isinstance(part, int):
            if part == len(target):
                target.append(None if last else [] if isinstance(loc[index + 1], int) else {})
            elif part > len(target):
                where = format_field_path(loc[:index])
                raise IndexError(f"{where} has no item [{part}] (items are numbered from 0 without gaps)")
            if last:
                target[part] = value
                return
            target = target[part]
        else:
            raise TypeError(f"{format_field_path(loc[:index]) or 'the top level'} is not a mapping")


# --------------------------------------------------------------------------------------------- errors


def _problem(error: Mapping[str, Any], document: _Document, origins: Mapping[Loc, str]) -> _Problem:
    loc: Loc = tuple(error["loc"])
    context = error.get("ctx") or {}
    if error["type"] == "config_key":
        loc = (*loc, *_parse_key(str(context["key"])))
        reason = str(context["reason"])
    else:
        reason = _reason(error, loc)
    variable = next((name for origin, name in origins.items() if loc[: len(origin)] == origin), None)
    if variable is not None:
        return _Problem(format_field_path(loc), reason, variable=variable)
    return _located(loc, reason, document)


def _reason(error: Mapping[str, Any], loc: Loc) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key" + _suggestion(loc)
    if kind == "missing":
        return "required key is missing"
    if kind in _FRIENDLY:
        return f"{_FRIENDLY[kind]}, got {_type_name(error.get('input'))}"
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    message = str(error["msg"])
    value = error.get("input")
    secret = any(word in str(part) for part in loc for word in _SECRET_WORDS)
    if isinstance(value, str | int | float | bool) and not secret and repr(value) not in message:
        message += f" (got {value!r})"
    return message


_FRIENDLY: Final = {
    "model_type": "expected a mapping of keys",
    "model_attributes_type": "expected a mapping of keys",
    "dict_type": "expected a mapping of keys",
    "tuple_type": "expected a list",
    "list_type": "expected a list",
}


def _type_name(value: Any) -> str:
    names = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return "nothing" if value is None else names.get(type(value), type(value).__name__)


def _suggestion(loc: Loc) -> str:
    model = _model_at(loc[:-1])
    if model is None or not isinstance(loc[-1], str):
        return ""
    matches = difflib.get_close_matches(loc[-1], list(model.model_fields), n=1)
    known = ", ".join(model.model_fields)
    return f" (did you mean {matches[0]!r}?)" if matches else f" (expected one of: {known})"


def _model_at(loc: Loc) -> type[BaseModel] | None:
    """The settings model a location points into, following fields and list items."""
    annotation: Any = Settings
    for part in loc:
        model = _unwrap_model(annotation)
        if isinstance(part, int):
            annotation = _item_type(annotation)
        elif model is not None and part in model.model_fields:
            annotation = model.model_fields[part].annotation
        else:
            return None
    return _unwrap_model(annotation)


def _unwrap_model(annotation: Any) -> type[BaseModel] | None:
    for candidate in _candidates(annotation):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _item_type(annotation: Any) -> Any:
    for candidate in _candidates(annotation):
        args = typing.get_args(candidate)
        if typing.get_origin(candidate) in (tuple, list) and args:
            return args[0]
    return None


def _candidates(annotation: Any) -> Iterator[Any]:
    yield annotation
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        yield from _candidates(typing.get_args(annotation)[0])
    elif origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            yield from _candidates(arg)


def _parse_key(key: str) -> Loc:
    """``repositories[1].name`` -> ``("repositories", 1, "name")``."""
    parts: list[str | int] = []
    for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", key):
        parts.append(int(index) if index else name)
    return tuple(parts)


def _config_error(problems: list[_Problem], file: str | None) -> ConfigError:
    problems = sorted(problems, key=lambda p: (p.line is None, p.line or 0, p.column or 0))
    lines = [problem.render(file) for problem in problems]
    where = f" ({file})" if file else ""
    if len(lines) == 1:
        message = f"invalid configuration{where}: {lines[0]}"
    else:
        message = f"invalid configuration{where}, {len(lines)} problems:\n" + "\n".join(f"  {line}" for line in lines)
    return ConfigError(message, details={"file": file, "errors": [problem.to_dict() for problem in problems]})
