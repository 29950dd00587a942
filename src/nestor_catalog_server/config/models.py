"""The server's settings: one frozen pydantic model per section of ``configs/*.yaml``.

Every section forbids unknown keys, so a typo fails at start with its key path instead of being
ignored. Defaults make an empty file a working development setup (SQLite under ``./data``, no
cache, no auth, no git sources). Durations are ``timedelta`` and sizes ``int`` bytes everywhere.
Secrets are ``SecretStr`` so they never show up in a ``repr``, a log line or a config dump;
read them with ``.get_secret_value()``.

Section models are named ``*Config`` (the root is ``Settings``) so they never clash with
``nestor_catalog_core.validation.ValidationSettings``, whose fields ``ValidationConfig`` mirrors.
"""

from __future__ import annotations

import os
import re
import ssl
import typing
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Final, Literal
from urllib.parse import quote, urlencode, urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from nestor_catalog_core import ConfigError
from nestor_catalog_core.loading import DEFINITION_GLOBS, compile_globs
from nestor_catalog_core.models import NAME_PATTERN
from nestor_catalog_core.storage import SYNCHRONOUS_MODES, available_schemes, open_store
from nestor_catalog_server.config._paths import ConfigPath, ExistingDirectory, ReadableFile
from nestor_catalog_server.config._units import Duration, PositiveByteSize, PositiveDuration

__all__ = [
    "DEFAULT_INCLUDE",
    "JWT_ALGORITHMS",
    "AuthConfig",
    "BackoffConfig",
    "CacheConfig",
    "DirectoryConfig",
    "DynamoDBConfig",
    "EventLogConfig",
    "GitAuthConfig",
    "GitConfig",
    "LeadershipConfig",
    "LimitsConfig",
    "LoggingConfig",
    "RateLimitConfig",
    "RedisConfig",
    "RepositoryConfig",
    "SQLiteConfig",
    "SSEConfig",
    "ServiceConfig",
    "Settings",
    "StorageConfig",
    "SyncReadinessConfig",
    "TLSConfig",
    "UpstreamTLSConfig",
    "ValidationConfig",
    "WithdrawGuardConfig",
]

#: Globs (relative to a source's ``path``) a source reads when it names none.
DEFAULT_INCLUDE: Final = DEFINITION_GLOBS

#: JWS algorithms ``auth.algorithms`` may list. ``none`` is deliberately absent.
JwtAlgorithm = Literal[
    "HS256",
    "HS384",
    "HS512",
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
]
JWT_ALGORITHMS: Final[tuple[str, ...]] = typing.get_args(JwtAlgorithm)
_HMAC_ALGORITHMS: Final = frozenset({"HS256", "HS384", "HS512"})
_MIN_HMAC_SECRET_BYTES: Final = 32
_MIN_CLUSTER_SECRET_BYTES: Final = 16

_SOURCE_NAME = re.compile(NAME_PATTERN)
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BAD_BRANCH = re.compile(r"^[-/.]|\.\.|[\x00-\x20~^:?*\[\\\x7f]|@\{|//|/$|\.lock$|\.$|/\.")
_SCP_LIKE_URL = re.compile(r"^(?:[\w.+-]+@)?[\w.-]+:(?!//)")
_GIT_URL_SCHEMES: Final = frozenset({"http", "https", "ssh", "git", "file"})
_REPLICA_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def key_error(key: str, reason: str) -> PydanticCustomError:
    """A validation error about ``key`` (relative to the model raising it).

    The loader appends ``key`` to the error's location, so the message it prints names the exact
    key (``git.repositories[1].name``) and its line in the file, not just the enclosing section.
    """
    return PydanticCustomError("config_key", "{key}: {reason}", {"key": key, "reason": reason})


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _lower_or_none(value: Any) -> Any:
    return _lower(_empty_to_none(value))


def _optional_list(value: Any) -> Any:
    """``None``, ``""`` -> no values; a single string -> one value."""
    value = _empty_to_none(value)
    return () if value is None else _as_tuple(value)


def _empty_to_none(value: Any) -> Any:
    """``${VAR:-}`` expands to ``""``: treat an empty optional value as not configured."""
    return None if isinstance(value, str) and not value.strip() else value


def _as_tuple(value: Any) -> Any:
    """A single string where a list is expected (``audience: my-api``) is a one-element list."""
    return (value,) if isinstance(value, str) else value


def _source_name(value: str) -> str:
    if len(value) > 63 or not _SOURCE_NAME.fullmatch(value):
        raise ValueError(
            f"invalid name {value!r}: use a lowercase DNS label (a-z, 0-9 and '-', at most 63 characters, "
            "starting and ending with a letter or digit)"
        )
    return value


def _non_empty(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
    return value.rstrip("/")


def _redis_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in {"redis", "rediss", "unix"}:
        raise ValueError("expected a redis://, rediss:// or unix:// URL")
    return value


def _globs(values: tuple[str, ...]) -> tuple[str, ...]:
    """Patterns in .gitignore's dialect (``sync.git._globs``), checked when the file loads."""
    for pattern in values:
        if not pattern.strip():
            raise ValueError("glob patterns must not be empty")
        try:
            compile_globs([pattern])
        except ConfigError as exc:
            raise ValueError(exc.message) from None
    return values


def _replica_id(value: str) -> str:
    if not _REPLICA_ID.fullmatch(value):
        raise ValueError("use 1 to 128 characters among letters, digits, '.', '_', ':' and '-'")
    return value


def repository_name_from_url(url: str) -> str | None:
    """The source name a repository URL suggests: its last path part without ``.git``, as a DNS
    label (``git@host:org/Platform_Resources.git`` -> ``platform-resources``); None if nothing is left."""
    tail = url.strip().rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1].removesuffix(".git")
    label = re.sub(r"[^a-z0-9]+", "-", tail.lower()).strip("-")[:63].strip("-")
    return label or None


SourceName = Annotated[str, AfterValidator(_source_name)]
ReplicaId = Annotated[str, AfterValidator(_replica_id)]
NonEmptyStr = Annotated[str, AfterValidator(_non_empty)]
HttpUrl = Annotated[str, AfterValidator(_http_url)]
OptionalSecret = Annotated[SecretStr | None, BeforeValidator(_empty_to_none)]
Globs = Annotated[tuple[str, ...], BeforeValidator(_as_tuple), AfterValidator(_globs)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


# --------------------------------------------------------------------------------------------- service


class TLSConfig(_Section):
    """HTTPS for the ASGI server; ``ca_certs`` turns on client certificates (mTLS).

    The files are checked by loading them into an ``ssl.SSLContext`` at start, so a certificate
    that does not match its key or a wrong key password fails the configuration, not the first
    handshake.
    """

    certfile: ReadableFile | None = None
    keyfile: ReadableFile | None = None
    keyfile_password: OptionalSecret = None
    ca_certs: ReadableFile | None = None
    client_cert_required: bool = False

    @property
    def enabled(self) -> bool:
        return self.certfile is not None

    @model_validator(mode="after")
    def _consistent(self) -> TLSConfig:
        if self.certfile is None:
            for key in ("keyfile", "keyfile_password", "ca_certs"):
                if getattr(self, key) is not None:
                    raise key_error(key, "requires certfile (TLS is enabled by certfile)")
            if self.client_cert_required:
                raise key_error("client_cert_required", "requires certfile and ca_certs")
            return self
        if self.client_cert_required and self.ca_certs is None:
            raise key_error("client_cert_required", "requires ca_certs (the CA bundle that signs client certificates)")
        self._load()
        return self

    def _load(self) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        password = self.keyfile_password.get_secret_value() if self.keyfile_password else None
        try:
            context.load_cert_chain(str(self.certfile), str(self.keyfile) if self.keyfile else None, password)
        except (ssl.SSLError, OSError) as exc:
            raise key_error("certfile", f"cannot load the certificate and key: {exc}") from None
        if self.ca_certs is not None:
            try:
                context.load_verify_locations(cafile=str(self.ca_certs))
            except (ssl.SSLError, OSError) as exc:
                raise key_error("ca_certs", f"cannot load the CA bundle: {exc}") from None


class UpstreamTLSConfig(_Section):
    """How a sidecar talks TLS to its ``service.upstream``: the CA bundle its certificate must
    chain to (default: the system's), and a client certificate to present when the upstream
    requires one (mTLS between services). Loaded into an ``ssl.SSLContext`` at start, so a key
    that does not match its certificate fails the configuration, not the first connection.
    """

    ca_certs: ReadableFile | None = None
    certfile: ReadableFile | None = None
    keyfile: ReadableFile | None = None
    keyfile_password: OptionalSecret = None

    @property
    def enabled(self) -> bool:
        return self.ca_certs is not None or self.certfile is not None

    @model_validator(mode="after")
    def _consistent(self) -> UpstreamTLSConfig:
        if self.certfile is None:
            for key in ("keyfile", "keyfile_password"):
                if getattr(self, key) is not None:
                    raise key_error(key, "requires certfile (the client certificate)")
        self.context()
        return self

    def context(self) -> ssl.SSLContext:
        """The client-side ``SSLContext``: server certificates verified (hostname included),
        TLS 1.2 or newer, the client certificate loaded when configured."""
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.ca_certs is not None:
            try:
                context.load_verify_locations(cafile=str(self.ca_certs))
            except (ssl.SSLError, OSError) as exc:
                raise key_error("ca_certs", f"cannot load the CA bundle: {exc}") from None
        if self.certfile is not None:
            password = self.keyfile_password.get_secret_value() if self.keyfile_password else None
            try:
                context.load_cert_chain(str(self.certfile), str(self.keyfile) if self.keyfile else None, password)
            except (ssl.SSLError, OSError) as exc:
                raise key_error("certfile", f"cannot load the client certificate and key: {exc}") from None
        return context


class RateLimitConfig(_Section):
    """A per-client request limit (keyed on the client address); off by default.

    ``requests`` per ``per`` (a fixed window); past it the API answers 429 with ``Retry-After``.
    Health, readiness and metrics are never limited.
    """

    enabled: bool = False
    requests: int = Field(default=100, ge=1)
    per: Annotated[Literal["second", "minute", "hour", "day"], BeforeValidator(_lower)] = "second"


class ServiceConfig(_Section):
    """The process: where it listens, where it keeps its data, how much it accepts."""

    name: NonEmptyStr = "catalog"
    host: NonEmptyStr = "0.0.0.0"  # noqa: S104 - a server in a container listens on every interface
    port: int = Field(default=8080, ge=0, le=65535)
    environment: NonEmptyStr = "development"
    data_dir: ConfigPath = Path("./data")
    max_body_size: PositiveByteSize = 1024 * 1024
    request_timeout: PositiveDuration = timedelta(seconds=30)
    tls: TLSConfig = TLSConfig()
    read_only: bool = False
    upstream: Annotated[HttpUrl | None, BeforeValidator(_empty_to_none)] = Field(
        default=None, description="Run as a read-only sidecar mirroring the catalog at this URL."
    )
    upstream_token: OptionalSecret = Field(
        default=None, description="Bearer token the sidecar presents to its upstream (e.g. ${CATALOG_TOKEN})."
    )
    upstream_tls: UpstreamTLSConfig = Field(
        default=UpstreamTLSConfig(),
        description="TLS to an https upstream: its CA bundle, and a client certificate for mTLS.",
    )
    rate_limit: RateLimitConfig = RateLimitConfig()
    replica_id: Annotated[ReplicaId | None, BeforeValidator(_empty_to_none)] = Field(
        default=None,
        description="This replica's name in the sync lease; default <hostname>-<pid>-<random>, new at every start.",
    )
    advertise_url: Annotated[HttpUrl | None, BeforeValidator(_empty_to_none)] = Field(
        default=None,
        description="Where other replicas reach this one (webhook forwarding); default http(s)://<host>:<port>.",
    )

    @model_validator(mode="after")
    def _upstream_tls_needs_https(self) -> ServiceConfig:
        if self.upstream_tls.enabled and self.upstream is not None and not self.upstream.startswith("https://"):
            raise key_error("upstream_tls", "applies to an https:// upstream; service.upstream is not https")
        return self


class LoggingConfig(_Section):
    level: Annotated[Literal["debug", "info", "warning", "error"], BeforeValidator(_lower)] = "info"
    format: Annotated[Literal["json", "text"], BeforeValidator(_lower)] = "json"


# --------------------------------------------------------------------------------------------- storage


def _check_with_adapter(uri: str, *, required: bool = False, in_uri: str | None = None) -> None:
    """Construct (never open) the adapter for ``uri``: the adapter is the one judge of its
    options, and its ``ConfigError`` becomes an error on the key it names (with its line).

    An adapter whose optional dependency is missing is only an error when ``required`` (the
    chosen ``storage.type``): the section of a store not in use may sit in a file unchecked.
    ``in_uri`` names the key holding the whole URI, where the options of a plugin's store are.
    """
    try:
        open_store(uri)
    except ConfigError as exc:
        if "missing" in exc.details and not required:
            return
        option, reason = exc.details.get("option"), str(exc.details.get("reason") or exc.message)
        if in_uri is not None:
            raise key_error(in_uri, f"option {option}: {reason}" if option else exc.message) from None
        if option is None:
            raise ValueError(exc.message) from None
        raise key_error(str(option), reason) from None


class SQLiteConfig(_Section):
    """Where the sqlite:// adapter keeps its file, and its options (``SQLiteStore`` validates
    them: a bad ``synchronous`` fails here, at load, with its line)."""

    path: Annotated[ConfigPath | None, BeforeValidator(_empty_to_none)] = Field(
        default=None, description="The database file; default <service.data_dir>/catalog.db."
    )
    synchronous: Annotated[str, BeforeValidator(_lower)] = Field(
        default="full",
        json_schema_extra={"enum": list(SYNCHRONOUS_MODES)},
        description="SQLite's synchronous pragma: normal, full or extra. The server asks for 'full' (survives "
        "power loss) unless told otherwise; 'normal' (WAL) survives process crashes only.",
    )

    def database_path(self, data_dir: Path) -> Path:
        return (self.path or data_dir / "catalog.db").absolute()

    def uri(self, data_dir: Path) -> str:
        """``sqlite:////abs/catalog.db?synchronous=full``: the path always absolute (four
        slashes) and percent-encoded, so the URI means the same file whatever the working
        directory later is."""
        path = quote(self.database_path(data_dir).as_posix(), safe="/")
        return f"sqlite:///{path}?{urlencode({'synchronous': self.synchronous})}"

    @model_validator(mode="after")
    def _adapter_accepts(self) -> SQLiteConfig:
        _check_with_adapter(self.uri(Path.cwd()))
        return self


def _create_table(value: Any) -> Any:
    """``auto``, or a boolean in any of the spellings an environment variable may use."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text in {"auto", ""}:
            return "auto"
        if text in {"true", "yes", "on", "1"}:
            return True
        if text in {"false", "no", "off", "0"}:
            return False
    return value


def _is_aws_endpoint(endpoint: str | None) -> bool:
    """No endpoint (the AWS default) or an ``*.amazonaws.com`` one: the real service."""
    if endpoint is None:
        return True
    host = (urlsplit(endpoint).hostname or "").lower()
    return host.endswith((".amazonaws.com", ".amazonaws.com.cn"))


class DynamoDBConfig(_Section):
    """The DynamoDB table. ``create_table`` decides whether the server creates it at start
    (idempotent, safe when several replicas start at once): ``true``, ``false``, or ``auto``
    (the default), which creates it only against a local endpoint (DynamoDB Local, moto, a
    compose service), never against AWS itself, where tables belong to infrastructure code.
    ``read_capacity``/``write_capacity`` (provisioned billing) and ``billing_mode`` are applied
    when the table is created (an existing table's billing is never changed);
    ``enable_point_in_time_recovery`` is turned on at every start, for a new or an existing
    table. ``nestor-catalog storage init`` does the same by hand. ``DynamoDBStore`` validates
    every value (table name, endpoint, billing and capacities) when the file is loaded.
    """

    table_name: str = "nestor-catalog"
    region: Annotated[str | None, BeforeValidator(_empty_to_none)] = None
    endpoint: Annotated[str | None, BeforeValidator(_empty_to_none)] = None
    create_table: Annotated[Literal["auto"] | bool, BeforeValidator(_create_table)] = "auto"
    read_capacity: int | None = None
    write_capacity: int | None = None
    enable_point_in_time_recovery: bool = False
    billing_mode: Annotated[str | None, BeforeValidator(_empty_to_none)] = None

    @property
    def creates_table(self) -> bool:
        """Whether the server creates (or completes) the table at start."""
        if self.create_table == "auto":
            return not _is_aws_endpoint(self.endpoint)
        return self.create_table

    @property
    def effective_billing_mode(self) -> str:
        """The billing a table created from this section gets, as ``DynamoDBStore`` reads it."""
        from nestor_catalog_core.storage.dynamodb import DynamoDBStore

        return DynamoDBStore.from_uri(self.uri()).table_options.effective_billing_mode

    def uri(self) -> str:
        """``dynamodb://table?region=..&endpoint=..`` plus ``create_table`` when the server
        creates the table, and the creation options and ``enable_point_in_time_recovery``
        when set; path and query parts percent-encoded."""
        query: dict[str, str] = {"region": self.region} if self.region else {}
        if self.endpoint:
            query["endpoint"] = self.endpoint.rstrip("/")
        if self.creates_table:
            query["create_table"] = "true"
        if self.billing_mode is not None:
            query["billing_mode"] = self.billing_mode
        for name in ("read_capacity", "write_capacity"):
            value = getattr(self, name)
            if value is not None:
                query[name] = str(value)
        if self.enable_point_in_time_recovery:
            query["enable_point_in_time_recovery"] = "true"
        table = quote(self.table_name, safe="")
        return f"dynamodb://{table}?{urlencode(query)}" if query else f"dynamodb://{table}"

    @model_validator(mode="after")
    def _adapter_accepts(self) -> DynamoDBConfig:
        _check_with_adapter(self.uri())
        return self


class EventLogConfig(_Section):
    """Retention of the durable event log (the SSE ``id`` space); older ids get ``event: reset``."""

    retention: PositiveDuration = timedelta(days=7)
    max_events: int = Field(default=100_000, ge=1)


_SECTIONS: Final = ("sqlite", "dynamodb")
_BUILT_IN: Final = ("memory", *_SECTIONS)


def _registered_scheme(value: str) -> str:
    registered = available_schemes()
    if value not in registered:
        schemes = [*(s for s in _BUILT_IN if s in registered), *(s for s in registered if s not in _BUILT_IN)]
        choices = " or ".join(", ".join(repr(scheme) for scheme in schemes).rsplit(", ", 1))
        raise ValueError(
            f"Input should be {choices} (got {value!r}); an adapter from a plugin is registered with "
            "nestor_catalog_core.storage.register_store and configured with storage.plugin_uri"
        )
    return value


def _registered_schemes_enum(schema: dict[str, JsonValue]) -> None:
    """The JSON Schema (Helm's ``values.schema.json``) lists the schemes registered where it is made."""
    schemes: list[JsonValue] = [*available_schemes()]
    schema["enum"] = schemes


class StorageConfig(_Section):
    """Which store, and its options. ``type`` is any registered scheme: ``memory``, ``sqlite``
    and ``dynamodb`` take their options from the section of that name; an adapter a plugin
    registers (``register_store``) is given its whole URI, options in the query, as
    ``plugin_uri`` (``type`` then defaults to the URI's scheme). The adapter validates what
    it is given."""

    type: Annotated[str, BeforeValidator(_lower), AfterValidator(_registered_scheme)] = Field(
        default="sqlite",
        description="The store's URI scheme: memory, sqlite, dynamodb or one a plugin registers.",
        json_schema_extra=_registered_schemes_enum,
    )
    plugin_uri: Annotated[str | None, BeforeValidator(_empty_to_none)] = Field(
        default=None, description="The store URI of an adapter with no section here (one a plugin registers)."
    )
    sqlite: SQLiteConfig = SQLiteConfig()
    dynamodb: DynamoDBConfig = DynamoDBConfig()
    events: EventLogConfig = EventLogConfig()

    @model_validator(mode="before")
    @classmethod
    def _type_from_uri(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and data.get("plugin_uri") and data.get("type") is None:
            scheme, separator, _ = str(data["plugin_uri"]).partition("://")
            if separator:
                return {**data, "type": scheme}
        return data

    @model_validator(mode="after")
    def _uri_fits_type(self) -> StorageConfig:
        if self.plugin_uri is None:
            if self.type not in _BUILT_IN:
                raise key_error(
                    "plugin_uri", f"storage.type {self.type!r} has no section here: give its store URI as plugin_uri"
                )
            _check_with_adapter(self.uri(Path.cwd()), required=True)
            return self
        scheme = self.plugin_uri.partition("://")[0].lower()
        if scheme in _SECTIONS:
            raise key_error(
                "plugin_uri", f"configure the built-in {scheme} adapter with storage.{scheme}, not storage.plugin_uri"
            )
        if scheme != self.type:
            raise key_error("plugin_uri", f"its scheme {scheme!r} is not storage.type {self.type!r}")
        _check_with_adapter(self.plugin_uri, required=True, in_uri="plugin_uri")
        return self

    def uri(self, data_dir: Path) -> str:
        """The URI ``open_store`` takes: ``memory://``, the section's URI for ``sqlite`` (its
        default file under ``data_dir``) and ``dynamodb``, else ``plugin_uri``."""
        if self.plugin_uri is not None:
            return self.plugin_uri
        if self.type == "sqlite":
            return self.sqlite.uri(data_dir)
        if self.type == "dynamodb":
            return self.dynamodb.uri()
        return f"{self.type}://"


# --------------------------------------------------------------------------------------------- cache


class RedisConfig(_Section):
    url: Annotated[str, AfterValidator(_redis_url)] = "redis://127.0.0.1:6379/0"
    pool_size: int = Field(default=10, ge=1)
    ttl: PositiveDuration = timedelta(minutes=5)
    stream: NonEmptyStr = Field(default="nestor-catalog:events", description="The Redis stream events fan out on.")
    stream_maxlen: int = Field(default=10_000, ge=100, description="About how many events the stream keeps.")
    key_prefix: NonEmptyStr = Field(
        default="nestor-catalog", description="Prefix of the cache keys and the sync-trigger channel."
    )


class CacheConfig(_Section):
    type: Annotated[Literal["none", "redis"], BeforeValidator(_lower)] = "none"
    redis: RedisConfig = RedisConfig()


# --------------------------------------------------------------------------------------------- git


class GitAuthConfig(_Section):
    """Credentials for one repository.

    ``token_env`` names an environment variable holding an https token; ``load_settings`` reads it
    into ``token`` at start (an unset variable is a configuration error), so nothing reads the
    environment later. ``token: ${GH_TOKEN}`` works too. ``username`` goes with the token in HTTP
    basic auth: GitHub, GitLab and Gitea accept any non-empty name with a personal access token,
    and GitHub App tokens need ``x-access-token`` (Bitbucket wants ``x-token-auth``).
    """

    token_env: str | None = None
    token: OptionalSecret = None
    username: NonEmptyStr = "x-access-token"
    ssh_key_path: ReadableFile | None = None
    known_hosts_path: ReadableFile | None = None

    @model_validator(mode="before")
    @classmethod
    def _read_token_env(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, Mapping) or data.get("token_env") in (None, ""):
            return data
        name = data["token_env"]
        if not isinstance(name, str) or not _ENV_NAME.fullmatch(name):
            raise key_error("token_env", f"{name!r} is not an environment variable name")
        if data.get("token") not in (None, ""):
            raise key_error("token_env", "set either token or token_env, not both")
        environ = info.context.get("environ") if isinstance(info.context, dict) else None
        if not isinstance(environ, Mapping):
            return data
        value = environ.get(name)
        if not value:
            raise key_error("token_env", f"environment variable {name} is not set (it should hold the access token)")
        return {**data, "token": value}

    @model_validator(mode="after")
    def _known_hosts_needs_key(self) -> GitAuthConfig:
        if self.known_hosts_path is not None and self.ssh_key_path is None:
            raise key_error("known_hosts_path", "requires ssh_key_path")
        return self


class RepositoryConfig(_Section):
    """A git repository the catalog syncs.

    ``poll_interval: 0`` turns polling off (webhooks only). ``webhook_provider`` pins the provider
    a webhook must come from; ``None`` accepts any supported one. A repository without a
    ``webhook_secret`` refuses webhooks. ``path`` is normalized to a POSIX folder without leading
    or trailing slashes (``""`` is the whole repository). Without a ``name``, the repository is
    named after its URL (``https://github.com/company/platform-resources.git`` ->
    ``platform-resources``), so a repository given by its URL alone (Helm's ``--set
    config.git.repositories[0].url=...``, an environment variable) is complete.
    """

    @model_validator(mode="before")
    @classmethod
    def _name_from_url(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and data.get("name") in (None, "") and isinstance(data.get("url"), str):
            derived = repository_name_from_url(data["url"])
            if derived:
                return {**data, "name": derived}
        return data

    name: SourceName
    url: NonEmptyStr
    path: str = ""
    branch: NonEmptyStr = "main"
    poll_interval: Duration = timedelta(seconds=60)
    webhook_secret: OptionalSecret = None
    webhook_provider: Annotated[
        Literal["github", "gitea", "gitlab", "bitbucket", "generic"] | None, BeforeValidator(_lower_or_none)
    ] = None
    timeout: PositiveDuration = timedelta(seconds=120)
    auth: GitAuthConfig = GitAuthConfig()
    include: Globs = DEFAULT_INCLUDE
    exclude: Globs = ()

    @field_validator("url")
    @classmethod
    def _url(cls, value: str, info: ValidationInfo) -> str:
        value = value.strip()
        if "://" in value:
            parts = urlsplit(value)
            if parts.scheme not in _GIT_URL_SCHEMES:
                raise ValueError(f"unsupported URL scheme {parts.scheme!r}: use https, http, ssh, git, file or a path")
            if parts.password is not None or (parts.username and parts.scheme in {"http", "https"}):
                raise ValueError("credentials do not belong in the URL (they would end up in logs); use auth.token_env")
            if parts.scheme != "file" and not parts.hostname:
                raise ValueError(f"missing host in {value!r}")
            return value
        if _SCP_LIKE_URL.match(value):
            return value
        base_dir = info.context.get("base_dir") if isinstance(info.context, dict) else None
        path = Path(value).expanduser()
        if not path.is_absolute() and isinstance(base_dir, Path):
            path = base_dir / path
        return os.path.normpath(path)

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        parts = [part for part in PurePosixPath(value.strip().replace("\\", "/")).parts if part not in {"/", "."}]
        if ".." in parts:
            raise ValueError("must stay inside the repository (no '..')")
        return "/".join(parts)

    @field_validator("branch")
    @classmethod
    def _branch(cls, value: str) -> str:
        value = value.strip().removeprefix("refs/heads/")
        if _BAD_BRANCH.search(value):
            raise ValueError(f"{value!r} is not a valid git branch name")
        return value

    @model_validator(mode="after")
    def _auth_matches_url(self) -> RepositoryConfig:
        scheme = urlsplit(self.url).scheme if "://" in self.url else ("ssh" if _SCP_LIKE_URL.match(self.url) else "")
        if self.auth.token is not None and scheme not in {"http", "https"}:
            raise key_error("auth.token", "a token authenticates http(s) URLs only; this URL is not http(s)")
        if self.auth.ssh_key_path is not None and scheme != "ssh":
            raise key_error("auth.ssh_key_path", "an SSH key authenticates ssh:// or user@host:path URLs only")
        return self


class DirectoryConfig(_Section):
    """A local directory watched for changes (development): edits publish as you save."""

    name: SourceName
    path: ExistingDirectory
    debounce: Duration = timedelta(milliseconds=200)
    include: Globs = DEFAULT_INCLUDE
    exclude: Globs = ()


class BackoffConfig(_Section):
    """Retry delays after a failed sync: doubling from ``initial`` up to ``max``."""

    initial: PositiveDuration = timedelta(seconds=5)
    max: PositiveDuration = timedelta(minutes=5)

    @model_validator(mode="after")
    def _ordered(self) -> BackoffConfig:
        if self.initial > self.max:
            raise key_error("initial", "must not be greater than max")
        return self


class WithdrawGuardConfig(_Section):
    """The guard against mass withdrawal: a sync that would withdraw more than ``max_share`` of
    a source's live versions, or that finds no valid definition left under the source's
    ``path`` while it had some, is *held*: nothing is applied, the source reports ``state:
    held`` and a ``sync.held`` event is sent, until ``POST /api/v1/sync/{repo}`` with
    ``{"confirm_withdrawals": true}`` lets that one sync through. ``enabled: false`` turns the
    guard off (every sync applies what the source holds, as deleted files withdraw)."""

    enabled: bool = True
    max_share: float = Field(
        default=0.5, gt=0.0, le=1.0, description="Largest share of a source's live versions one sync may withdraw."
    )


class SyncReadinessConfig(_Section):
    """When a source keeps the replica out of rotation (``/ready`` answers 503).

    A source is *stale* when its last successful fetch is older than ``stale_after`` (``0``:
    age alone never makes it stale) or when it has never been fetched and its last attempt
    failed. Staleness is always reported (``/ready``, ``/api/v1/status``); it makes the replica
    unready only with ``unready_when_stale: true`` (serve nothing rather than old data). A
    source that this replica has not loaded yet (its first sync running, no synced state in
    storage) makes it unready whatever this says."""

    stale_after: Duration = timedelta(0)
    unready_when_stale: bool = False


class GitConfig(_Section):
    repositories: tuple[RepositoryConfig, ...] = ()
    directories: tuple[DirectoryConfig, ...] = ()
    backoff: BackoffConfig = BackoffConfig()
    withdraw_guard: WithdrawGuardConfig = WithdrawGuardConfig()
    readiness: SyncReadinessConfig = SyncReadinessConfig()
    jitter: float = Field(default=0.1, ge=0.0, lt=1.0, description="Random spread of poll intervals, as a fraction.")
    webhook_max_body_size: PositiveByteSize = Field(
        default=25 * 1024 * 1024,
        description="Largest webhook body (hashed as it streams in; GitHub sends up to 25 MB).",
    )
    webhook_replay_window: PositiveDuration = Field(
        default=timedelta(hours=1),
        description="How long a delivery id is remembered: a replay within it answers 'duplicate' and syncs nothing.",
    )

    @model_validator(mode="after")
    def _unique_source_names(self) -> GitConfig:
        seen: dict[str, str] = {}
        entries = [("repositories", i, r.name) for i, r in enumerate(self.repositories)]
        entries += [("directories", i, d.name) for i, d in enumerate(self.directories)]
        for section, index, name in entries:
            key = f"{section}[{index}].name"
            if name in seen:
                raise key_error(key, f"duplicate source name {name!r} (already used by git.{seen[name]})")
            seen[name] = key
        return self

    def repository(self, name: str) -> RepositoryConfig | None:
        return next((repo for repo in self.repositories if repo.name == name), None)


# --------------------------------------------------------------------------------------------- api


class SSEConfig(_Section):
    enabled: bool = True
    max_connections: int = Field(default=1000, ge=1)
    heartbeat_interval: PositiveDuration = timedelta(seconds=30)
    buffer_size: int = Field(default=100, ge=1, description="Events queued per client before it is disconnected.")
    retry: Duration = Field(default=timedelta(seconds=3), description="The SSE retry: field sent to clients.")


class LimitsConfig(_Section):
    """Bounds on one definition and on the work one request can ask for (core ``Limits``);
    they apply whatever the policy settings."""

    description_max_length: int = Field(default=4_096, ge=1, description="Characters of each description.")
    deprecation_message_max_length: int = Field(default=1_024, ge=1, description="Characters of a deprecation message.")
    label_value_max_length: int = Field(default=256, ge=1, description="Characters of each label value.")
    max_labels: int = Field(default=64, ge=0, description="Labels on one definition.")
    pattern_max_length: int = Field(default=1_024, ge=1, description="Characters of a validation.pattern.")
    pattern_input_max_length: int = Field(
        default=10_000, ge=1, description="Longest string matched against a pattern (defaults and consumers' values)."
    )


class ValidationConfig(_Section):
    strict_mode: bool = True
    policy_enforcement: bool = True
    schema_validation: bool = True
    compatibility: Annotated[Literal["strict", "warn", "off"], BeforeValidator(_lower)] = "strict"
    max_file_size: PositiveByteSize = 1024 * 1024
    limits: LimitsConfig = LimitsConfig()


class AuthConfig(_Section):
    """JWT bearer authentication.

    The algorithms a token may use are fixed here, never taken from the token: HMAC ones only
    with ``hs256_secret`` (at least 32 bytes), asymmetric ones only with ``public_keys`` (PEM
    public keys or certificates), a ``jwks_file`` or the issuer's ``jwks_url`` (fetched at start,
    cached for ``jwks_cache_ttl``, fetched again early when a token names an unknown ``kid``, at
    most once per ``jwks_min_refresh_interval``). Every authenticated caller reads; a caller
    whose ``write_claim`` holds one of ``write_values`` also writes. ``write_claim`` may be a
    dotted path into nested claims (``realm_access.roles``).
    """

    enabled: bool = False
    algorithms: Annotated[tuple[JwtAlgorithm, ...], BeforeValidator(_as_tuple)] = ("RS256", "ES256", "HS256")
    hs256_secret: OptionalSecret = None
    public_keys: Annotated[tuple[ReadableFile, ...], BeforeValidator(_as_tuple)] = ()
    jwks_file: ReadableFile | None = None
    jwks_url: Annotated[HttpUrl | None, BeforeValidator(_empty_to_none)] = Field(
        default=None, description="The issuer's JWK set (https://issuer/.well-known/jwks.json), fetched and cached."
    )
    jwks_cache_ttl: PositiveDuration = Field(
        default=timedelta(minutes=5), description="How long a fetched JWK set is used before it is fetched again."
    )
    jwks_min_refresh_interval: PositiveDuration = Field(
        default=timedelta(seconds=30),
        description="At most one fetch per interval for tokens naming an unknown kid (a flood of them stays cheap).",
    )
    jwks_timeout: PositiveDuration = Field(default=timedelta(seconds=5), description="Timeout of one JWKS fetch.")
    audience: Annotated[tuple[NonEmptyStr, ...], BeforeValidator(_optional_list)] = ()
    issuer: Annotated[str | None, BeforeValidator(_empty_to_none)] = None
    leeway: Duration = timedelta(seconds=30)
    write_claim: NonEmptyStr = "groups"
    write_values: Annotated[tuple[NonEmptyStr, ...], BeforeValidator(_as_tuple)] = ("platform-team",)
    subject_claim: NonEmptyStr = "sub"

    @field_validator("hs256_secret")
    @classmethod
    def _secret_length(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().encode()) < _MIN_HMAC_SECRET_BYTES:
            raise ValueError(f"must be at least {_MIN_HMAC_SECRET_BYTES} bytes (RFC 7518 asks for 256 bits)")
        return value

    @property
    def has_asymmetric_keys(self) -> bool:
        return bool(self.public_keys) or self.jwks_file is not None or self.jwks_url is not None

    @property
    def effective_algorithms(self) -> tuple[str, ...]:
        """``algorithms`` without those no configured key can verify."""
        return tuple(
            alg
            for alg in self.algorithms
            if (self.hs256_secret is not None if alg in _HMAC_ALGORITHMS else self.has_asymmetric_keys)
        )

    @model_validator(mode="after")
    def _keys_configured(self) -> AuthConfig:
        if not self.enabled:
            return self
        if self.hs256_secret is None and not self.has_asymmetric_keys:
            raise key_error("enabled", "no key is configured: set hs256_secret, public_keys, jwks_file or jwks_url")
        if not self.effective_algorithms:
            raise key_error("algorithms", f"none of {list(self.algorithms)} can be verified with the configured keys")
        return self


class LeadershipConfig(_Section):
    """The storage lease that makes exactly one replica run git sync.

    Every replica with sources competes for the lease ``lease_name``; the holder renews it every
    third of ``lease_ttl`` and another replica takes over within two ``lease_ttl`` of its death.
    A replica that does not hold it forwards the webhooks it receives to the one that does: on
    the Redis channel when ``cache.type`` is redis, else (or while Redis is down) by an HTTP POST
    to the leader's ``service.advertise_url`` signed with ``cluster_secret`` (at least 16 bytes,
    the same on every replica; without it that path is closed).
    """

    lease_ttl: PositiveDuration = timedelta(seconds=15)
    lease_name: NonEmptyStr = "git-sync"
    cluster_secret: OptionalSecret = Field(
        default=None,
        description="Shared by the replicas: signs sync triggers forwarded to the leader over HTTP when Redis is down.",
    )

    @field_validator("cluster_secret")
    @classmethod
    def _secret_length(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().encode()) < _MIN_CLUSTER_SECRET_BYTES:
            raise ValueError(f"must be at least {_MIN_CLUSTER_SECRET_BYTES} bytes")
        return value


class Settings(_Section):
    """Everything the server reads at start. Build it with ``load_settings``."""

    service: ServiceConfig = ServiceConfig()
    logging: LoggingConfig = LoggingConfig()
    storage: StorageConfig = StorageConfig()
    cache: CacheConfig = CacheConfig()
    git: GitConfig = GitConfig()
    sse: SSEConfig = SSEConfig()
    validation: ValidationConfig = ValidationConfig()
    auth: AuthConfig = AuthConfig()
    leadership: LeadershipConfig = LeadershipConfig()

    def store_uri(self) -> str:
        """The storage URI with SQLite's default file under ``service.data_dir``."""
        return self.storage.uri(self.service.data_dir)
