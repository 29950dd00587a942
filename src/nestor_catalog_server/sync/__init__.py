"""Git sync: mirrors and tree diffs (``git``), webhooks, local directories, and the
``SyncManager`` that schedules them and publishes what they hold into the Catalog."""

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
