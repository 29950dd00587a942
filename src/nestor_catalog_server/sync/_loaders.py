"""The file loaders of the sync sources, and the worker processes a large sync loads them in.

A ``FileLoader`` reads one file of a change (path, blob id) and loads it (``load_bytes``: YAML
or JSON, positions kept on demand). The sources' loaders are ``PortableLoader``s: picklable and
able to open what they read on their own (``GitBlobLoader`` opens the bare mirror,
``DirectoryLoader`` the folder), so that ``LoadPool`` can run them in worker processes.

Why worker processes: the profile of ``nestor-catalog serve`` syncing a local repository of
10,000 definitions (py-spy over granian's worker) had reading and parsing the files at 23% of
the worker's samples, all of it holding the GIL the event loop needs to validate and publish
the documents (a thread gains nothing; see ``_change_applier``). In a second process the
parsing runs beside the publishing, on the machine's other core.

What comes back from a worker is the data and the findings of each file, not the composed
YAML node graph (pickling it cost more than parsing): a document's ``locator`` becomes a
``ReloadingLocator``, which loads the file again in this process the first time a position
is asked for (a finding about the document; clean documents, nearly all of them, never ask).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import pickle
import struct
import sys
import threading
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Final

from nestor_catalog_core.loading import (
    LoadedDocument,
    LoadOptions,
    LoadResult,
    Locator,
    Position,
    load_bytes,
    load_file,
)
from nestor_catalog_server.sync.git import GitAuth, GitMirror, RemoteSpec

__all__ = [
    "PARALLEL_MIN_FILES",
    "DirectoryLoader",
    "GitBlobLoader",
    "LoadPool",
    "PortableLoader",
    "ReloadingLocator",
    "default_load_processes",
    "load_portable",
    "serve_requests",
]

log = logging.getLogger("nestor_catalog.sync")

#: A change loads in worker processes from this many files on (below it, starting a worker
#: costs more than it saves: an incremental sync is a handful of files).
PARALLEL_MIN_FILES: Final = 1024


def default_load_processes() -> int:
    """Worker processes for a large sync: one per core beyond the one the event loop uses, at
    most two (the publishing on the event loop is the bottleneck beyond that); none on one core."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(0, min(2, cores - 1))


class PortableLoader(ABC):
    """A ``FileLoader`` (path, blob id -> ``LoadResult``) that can run in a worker process:
    picklable (no secrets, no open handles travel) and opening what it reads itself."""

    @abstractmethod
    def __call__(self, path: str, blob: str) -> LoadResult: ...


@dataclass(frozen=True, eq=False)
class GitBlobLoader(PortableLoader):
    """Loads a file of a git source from its bare mirror, by blob id. In the source's own process
    it reads through the source's ``mirror``; a copy sent to a worker opens the mirror itself
    (read only; the spec travels without its credentials, which reading never needs)."""

    spec: RemoteSpec
    mirror_dir: Path
    options: LoadOptions
    mirror: GitMirror | None = field(default=None, repr=False)

    def __call__(self, path: str, blob: str) -> LoadResult:
        mirror = self.mirror if self.mirror is not None else _mirror_of(self.spec, self.mirror_dir)
        data = mirror.read_blob(blob)
        return load_bytes(data, path, options=self.options, suffix=PurePosixPath(path).suffix)

    def __reduce__(self) -> tuple[Any, ...]:
        return (GitBlobLoader, (replace(self.spec, auth=GitAuth()), self.mirror_dir, self.options))


@dataclass(frozen=True)
class DirectoryLoader(PortableLoader):
    """Loads a file of a local directory source (``blob`` is its digest, not needed to read it)."""

    root: Path
    options: LoadOptions

    def __call__(self, path: str, blob: str) -> LoadResult:
        return load_file(self.root / path, options=self.options, display=path)


_MIRRORS: dict[tuple[RemoteSpec, Path], GitMirror] = {}
_MIRRORS_LOCK = threading.Lock()


def _mirror_of(spec: RemoteSpec, mirror_dir: Path) -> GitMirror:
    """This process's reader of a mirror (kept open: a worker reads thousands of blobs)."""
    with _MIRRORS_LOCK:
        mirror = _MIRRORS.get((spec, mirror_dir))
        if mirror is None:
            mirror = _MIRRORS[(spec, mirror_dir)] = GitMirror(spec, mirror_dir)
        return mirror


@dataclass(eq=False)
class ReloadingLocator:
    """The positions of a document loaded in a worker process: the file is loaded again here the
    first time one is asked for (by ``loader``, which reads the same blob)."""

    loader: PortableLoader
    path: str
    blob: str
    index: int
    _located: Locator | None = field(default=None, repr=False)

    def locate(self, path: Sequence[str | int], *, key: bool) -> Position:
        if self._located is None:
            self._located = self._reload()
        return self._located.locate(path, key=key)

    def _reload(self) -> Locator:
        result = self.loader(self.path, self.blob)
        for document in result.documents:
            if document.index == self.index and document.locator is not None:
                return document.locator
        return _Nowhere()

    def __getstate__(self) -> dict[str, Any]:
        return {"loader": self.loader, "path": self.path, "blob": self.blob, "index": self.index, "_located": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


class _Nowhere:
    """A document that no longer loads the same way (a local file edited meanwhile): 1:1."""

    def locate(self, path: Sequence[str | int], *, key: bool) -> Position:
        return (1, 1)


def load_portable(loader: PortableLoader, items: Sequence[tuple[str, str]]) -> list[LoadResult]:
    """Load ``items`` (path, blob id) as a worker does: each document's locator replaced by a
    ``ReloadingLocator`` (the composed node graph stays here)."""
    results = []
    for path, blob in items:
        result = loader(path, blob)
        result.documents = [_portable(document, loader, path, blob) for document in result.documents]
        results.append(result)
    return results


def _portable(document: LoadedDocument, loader: PortableLoader, path: str, blob: str) -> LoadedDocument:
    if document.locator is None:
        return document
    return replace(document, locator=ReloadingLocator(loader, path, blob, document.index))


class LoadPool:
    """Worker processes loading chunks of a change ahead of the publisher (see the module
    docstring): ``python -m nestor_catalog_server.sync._load_worker``, spoken to over its
    standard input and output (pickled requests and answers, length-prefixed). Plain child
    processes rather than ``multiprocessing``: the server's process runs threads (no fork),
    and multiprocessing's spawn start leaves a resource-tracker process behind for the rest
    of the server's life. ``close`` ends them, so a server holds no extra process between
    syncs. Chunks go to the workers in turn and come back in the order they were sent."""

    def __init__(self, loader: PortableLoader, processes: int) -> None:
        self._loader = loader
        self._processes = max(1, processes)
        self._workers: list[_Worker] = []
        self._turn = 0

    async def submit(self, items: Sequence[tuple[str, str]]) -> asyncio.Future[list[LoadResult]]:
        """Send ``items`` (path, blob id) to the next worker; the future is its answer."""
        if len(self._workers) < self._processes:
            self._workers.append(await _Worker.start())
        worker = self._workers[self._turn % len(self._workers)]
        self._turn += 1
        return await worker.send((self._loader, list(items)))

    async def close(self) -> None:
        """Stop the workers (a chunk being loaded is abandoned)."""
        workers, self._workers = self._workers, []
        for worker in workers:
            await worker.stop()


_HEADER: Final = struct.Struct("!Q")


class _Worker:
    """One load worker process and the answers it owes, in order."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process
        self._owed: deque[asyncio.Future[list[LoadResult]]] = deque()
        self._reader = asyncio.create_task(self._read_answers())

    @classmethod
    async def start(cls) -> _Worker:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "nestor_catalog_server.sync._load_worker",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=None,  # a worker's crash report goes where the server's logs go
            start_new_session=False,
        )
        return cls(process)

    async def send(self, request: Any) -> asyncio.Future[list[LoadResult]]:
        future: asyncio.Future[list[LoadResult]] = asyncio.get_running_loop().create_future()
        stdin = self._process.stdin
        if stdin is None or self._reader.done():
            future.set_exception(RuntimeError("the load worker is not running"))
            return future
        payload = pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)
        self._owed.append(future)
        try:
            stdin.write(_HEADER.pack(len(payload)) + payload)
            await stdin.drain()
        except (ConnectionError, RuntimeError) as exc:
            self._fail(RuntimeError(f"the load worker stopped: {exc}"))
        return future

    async def _read_answers(self) -> None:
        stdout = self._process.stdout
        assert stdout is not None
        try:
            while True:
                header = await stdout.readexactly(_HEADER.size)
                (size,) = _HEADER.unpack(header)
                ok, value = pickle.loads(await stdout.readexactly(size))  # noqa: S301 - our own child's answer
                future = self._owed.popleft()
                if future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(RuntimeError(f"the load worker failed: {value}"))
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            self._fail(RuntimeError(f"the load worker exited ({exc})"))
        except Exception as exc:
            self._fail(RuntimeError(f"the load worker's answer could not be read: {exc!r}"))

    def _fail(self, error: Exception) -> None:
        while self._owed:
            future = self._owed.popleft()
            if not future.done():
                future.set_exception(error)

    async def stop(self) -> None:
        self._reader.cancel()
        self._fail(RuntimeError("the load worker was stopped"))
        process = self._process
        if process.stdin is not None:
            process.stdin.close()
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            await process.wait()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


def serve_requests(stdin: BinaryIO, stdout: BinaryIO) -> None:
    """The worker's loop: read a request (loader, items), answer ``(True, results)`` or
    ``(False, "error text")``, until standard input closes."""
    while True:
        header = stdin.read(_HEADER.size)
        if len(header) < _HEADER.size:
            return
        (size,) = _HEADER.unpack(header)
        loader, items = pickle.loads(stdin.read(size))  # noqa: S301 - the server that started this process
        try:
            answer: tuple[bool, Any] = (True, load_portable(loader, items))
        except Exception as exc:
            answer = (False, f"{type(exc).__name__}: {exc}")
        payload = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
        stdout.write(_HEADER.pack(len(payload)) + payload)
        stdout.flush()
