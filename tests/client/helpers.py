"""Builders and servers for the client tests.

``LiveServer`` runs the real app (``create_app``) under uvicorn on a loopback port inside the
test's own event loop: the client and the mirror talk to it over real sockets (streaming SSE,
which ``httpx.ASGITransport`` cannot), while the test publishes straight into the ``Catalog``
behind it. ``restart`` stops the server (its SSE streams end) and starts a new one on the same
port, so clients see a real disconnect and a real reconnect.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import uvicorn
import yaml
from litestar import Litestar

from nestor_catalog_core import Catalog, Deprecation, ResourceDefinition, Source, SourceKind
from nestor_catalog_core.models import Event
from nestor_catalog_core.storage import open_store
from nestor_catalog_server.app import create_app
from nestor_catalog_server.config import Settings, settings_from_mapping
from nestor_catalog_server.state import STATE_KEY

API_SOURCE = Source(kind=SourceKind.API, user="tester")
T = TypeVar("T")

WAIT = 20.0  # seconds a test waits for what should happen promptly: a guard against hangs, not a timing


def definition_data(
    name: str,
    version: str = "1.0.0",
    *,
    provider: str = "aws",
    category: str = "database",
    resource_type: str = "mysql",
    description: str = "",
    inputs: Iterable[str] = ("size",),
    optional: Iterable[str] = (),
) -> dict[str, Any]:
    return {
        "apiVersion": "catalog.nestor.io/v1",
        "kind": "ResourceDefinition",
        "metadata": {
            "name": name,
            "version": version,
            "provider": provider,
            "category": category,
            "resource_type": resource_type,
            "description": description or f"{name} for the client tests",
            "maintainers": ["platform-team@company.com"],
        },
        "spec": {
            "supported_engines": ["terraform"],
            "required_inputs": [{"name": i, "type": "string", "description": i} for i in inputs],
            "optional_inputs": [
                {"name": i, "type": "integer", "default": 1, "description": i, "validation": {"min": 0}}
                for i in optional
            ],
            "outputs": [{"name": "endpoint", "type": "string", "description": "Endpoint"}],
            "engine_configs": {"terraform": {"module_source": "terraform-aws-modules/rds/aws"}},
        },
    }


def definition(name: str, version: str = "1.0.0", **kwargs: Any) -> ResourceDefinition:
    return ResourceDefinition.model_validate(definition_data(name, version, **kwargs))


def definition_yaml(name: str, version: str = "1.0.0", **kwargs: Any) -> str:
    return yaml.safe_dump(definition_data(name, version, **kwargs), sort_keys=False)


async def publish(catalog: Catalog, name: str, version: str = "1.0.0", **kwargs: Any) -> Event:
    result = await catalog.publish(definition(name, version, **kwargs), source=API_SOURCE)
    assert result.event is not None, f"{name} {version} was not new"
    return result.event


async def deprecate(catalog: Catalog, name: str, version: str, message: str = "use something else") -> None:
    await catalog.deprecate(name, version, Deprecation(message=message), source=API_SOURCE)


async def new_catalog(uri: str = "memory://") -> Catalog:
    catalog = Catalog(open_store(uri))
    await catalog.start()
    return catalog


def app_settings(**sections: Any) -> Settings:
    """Settings for an in-process app: text logs at warning level, short SSE heartbeats and retry."""
    data: dict[str, Any] = {
        "logging": {"level": "warning", "format": "text"},
        "sse": {"heartbeat_interval": "30s", "retry": "100ms"},
    }
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value}
    return settings_from_mapping(data, environ={})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class LiveServer:
    """The real app over real loopback sockets, in the test's event loop."""

    catalog: Catalog
    settings: Settings = field(default_factory=app_settings)
    port: int = field(default_factory=free_port)
    app: Litestar | None = None
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.app = create_app(self.settings, catalog=self.catalog)
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            lifespan="on",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=5,
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        async with asyncio.timeout(WAIT):
            while not self._server.started:
                if self._task.done():
                    self._task.result()
                    raise RuntimeError("uvicorn stopped before it started")
                await asyncio.sleep(0.01)

    async def stop(self) -> None:
        """Stop like a server that is shut down: event streams end (``AppState.shutdown``), the
        port closes, the lifespan runs its shutdown."""
        if self._server is not None and self._task is not None:
            if self.app is not None and STATE_KEY in self.app.state:
                self.app.state[STATE_KEY].shutdown.set()
            self._server.should_exit = True
            await self._task
        self._server = self._task = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    async def __aenter__(self) -> LiveServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


async def eventually(condition: Callable[[], bool]) -> None:
    """Wait until ``condition()`` holds (polling; ``WAIT`` guards against a hang)."""
    async with asyncio.timeout(WAIT):
        while True:
            if condition():
                return
            await asyncio.sleep(0.01)


@asynccontextmanager
async def app_running(app: Litestar) -> AsyncIterator[Litestar]:
    """The app's lifespan, entered and left in one task of its own: pytest-asyncio sets a
    fixture up and tears it down in different tasks, which Litestar's lifespan (an anyio task
    group) refuses."""
    started = asyncio.Event()
    stop = asyncio.Event()

    async def run() -> None:
        async with app.lifespan():
            started.set()
            await stop.wait()

    task = asyncio.create_task(run())
    waiter = asyncio.create_task(started.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        waiter.cancel()
        task.result()
        raise RuntimeError("the app's lifespan ended during start-up")
    try:
        yield app
    finally:
        stop.set()
        await task


class ThreadedServer:
    """``LiveServer`` with its catalog in an event loop of its own thread, for the blocking
    client (whose calls would otherwise block the loop serving them). ``run`` executes a
    coroutine (a write to the catalog, say) in that loop and returns its result."""

    def __init__(self, seed: Callable[[Catalog], Any]) -> None:
        self._seed = seed
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="threaded-server", daemon=True)
        self._server: LiveServer | None = None

    @property
    def catalog(self) -> Catalog:
        assert self._server is not None
        return self._server.catalog

    @property
    def url(self) -> str:
        assert self._server is not None
        return self._server.url

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(WAIT)

    def __enter__(self) -> ThreadedServer:
        self._thread.start()

        async def start() -> LiveServer:
            catalog = await new_catalog()
            await self._seed(catalog)
            server = LiveServer(catalog)
            await server.start()
            return server

        self._server = self.run(start())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            server = self._server

            async def stop() -> None:
                await server.stop()
                await server.catalog.close()

            self.run(stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(WAIT)
        self._loop.close()
