"""Git sync: mirrors and tree diffs (``git``), webhooks, local directories, and the
``SyncManager`` that schedules them and publishes what they hold into the Catalog.

Names are imported on first use (PEP 562 ``__getattr__``), as in the server's root: a sync's
load worker (``_load_worker``) imports the git mirror and core's loading without the manager,
the webhooks or the configuration models.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nestor_catalog_core import _lazy

if TYPE_CHECKING:
    from nestor_catalog_server.sync.git import (
        CommitInfo,
        FetchResult,
        GitAuth,
        GitMirror,
        RemoteSpec,
        SkippedEntry,
        TreeDiff,
    )
    from nestor_catalog_server.sync.local import LocalSource
    from nestor_catalog_server.sync.manager import SyncManager
    from nestor_catalog_server.sync.source import GitSource, SyncSource, remote_spec
    from nestor_catalog_server.sync.status import SourceState, SourceStatus, SyncCounts, SyncOutcome, SyncReport
    from nestor_catalog_server.sync.webhooks import (
        ZERO_SHA,
        WebhookDelivery,
        WebhookGate,
        WebhookProvider,
        sign_payload,
        verify_and_parse,
        verify_signature,
    )

__all__ = [
    "ZERO_SHA",
    "CommitInfo",
    "FetchResult",
    "GitAuth",
    "GitMirror",
    "GitSource",
    "LocalSource",
    "RemoteSpec",
    "SkippedEntry",
    "SourceState",
    "SourceStatus",
    "SyncCounts",
    "SyncManager",
    "SyncOutcome",
    "SyncReport",
    "SyncSource",
    "TreeDiff",
    "WebhookDelivery",
    "WebhookGate",
    "WebhookProvider",
    "remote_spec",
    "sign_payload",
    "verify_and_parse",
    "verify_signature",
]

_LAZY: dict[str, str] = {
    "CommitInfo": "nestor_catalog_server.sync.git",
    "FetchResult": "nestor_catalog_server.sync.git",
    "GitAuth": "nestor_catalog_server.sync.git",
    "GitMirror": "nestor_catalog_server.sync.git",
    "GitSource": "nestor_catalog_server.sync.source",
    "LocalSource": "nestor_catalog_server.sync.local",
    "RemoteSpec": "nestor_catalog_server.sync.git",
    "SkippedEntry": "nestor_catalog_server.sync.git",
    "SourceState": "nestor_catalog_server.sync.status",
    "SourceStatus": "nestor_catalog_server.sync.status",
    "SyncCounts": "nestor_catalog_server.sync.status",
    "SyncManager": "nestor_catalog_server.sync.manager",
    "SyncOutcome": "nestor_catalog_server.sync.status",
    "SyncReport": "nestor_catalog_server.sync.status",
    "SyncSource": "nestor_catalog_server.sync.source",
    "TreeDiff": "nestor_catalog_server.sync.git",
    "WebhookDelivery": "nestor_catalog_server.sync.webhooks",
    "WebhookGate": "nestor_catalog_server.sync.webhooks",
    "WebhookProvider": "nestor_catalog_server.sync.webhooks",
    "ZERO_SHA": "nestor_catalog_server.sync.webhooks",
    "remote_spec": "nestor_catalog_server.sync.source",
    "sign_payload": "nestor_catalog_server.sync.webhooks",
    "verify_and_parse": "nestor_catalog_server.sync.webhooks",
    "verify_signature": "nestor_catalog_server.sync.webhooks",
}


__getattr__, __dir__ = _lazy.lazy_names(globals(), _LAZY)
