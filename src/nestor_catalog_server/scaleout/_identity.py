"""Which process this replica followed on the same data directory: the proof a lease is a dead
predecessor's.

``ReplicaLock.claim(path, replica_id)`` takes an exclusive ``flock`` on ``<data_dir>/replica.lock``
and swaps the replica id written in it for ours. The kernel drops a ``flock`` when its process
dies (SIGKILL included), so getting the lock proves that the process which wrote the previous id
is gone: a sync lease still held under that id is a crashed predecessor's, and this replica may
release it at once instead of waiting out the TTL. A lock held by a living process (two
processes on one data directory) yields no predecessor, and the lease is won the usual way.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from pathlib import Path
from typing import Final

__all__ = ["LOCK_FILE", "ReplicaLock"]

log = logging.getLogger("nestor_catalog_server.scaleout.leadership")

#: The lock file's name under ``service.data_dir``.
LOCK_FILE: Final = "replica.lock"


class ReplicaLock:
    """An exclusive lock on the data directory naming the replica that holds it."""

    def __init__(self, fd: int | None, predecessor: str | None) -> None:
        self._fd = fd
        #: The replica id of the previous process on this data directory, proven gone.
        self.predecessor = predecessor

    @classmethod
    def claim(cls, path: Path, replica_id: str) -> ReplicaLock:
        """Lock ``path`` and write ``replica_id`` in it; without the lock (held by a living
        process, or the directory is not writable) there is no predecessor."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            log.warning("cannot open %s (%s): a crashed predecessor's lease will be waited out", path, exc)
            return cls(None, None)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            log.info("%s is locked by a living process: no predecessor to reclaim a lease from", path)
            return cls(None, None)
        previous = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or None
        os.ftruncate(fd, 0)
        os.pwrite(fd, replica_id.encode(), 0)
        os.fsync(fd)
        return cls(fd, previous if previous != replica_id else None)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
