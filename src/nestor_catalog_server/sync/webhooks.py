"""Webhook deliveries from git hosts: authenticate them, then tell push, ping and the rest apart.

A webhook is a hint that the branch moved, never data: the sync fetches the branch and trusts
the fetched commit, whatever the payload said. So this module only answers "should the
repository be synced now?" for a delivery, and does it safely:

- before the body is read, ``open_gate`` requires the provider's signature (or token) header and
  a repository that takes webhooks: an unknown repository, one without a ``webhook_secret``
  and one configured for another provider are answered exactly as a bad signature (no caller
  can tell which repositories exist); the GitLab token is compared at once;
- the body is then hashed as it streams in, under a cap, and checked with
  ``hmac.compare_digest``; an unauthenticated body is never parsed;
- a bad or missing signature is an ``AuthenticationError`` (reason ``signature_missing`` or
  ``signature_invalid``); an unknown provider, a missing event header or a push body that is not
  a JSON object is an ``InvalidRequest``;
- ``DeliveryLog`` remembers delivery ids (``X-GitHub-Delivery``, ``X-Gitea-Delivery``,
  ``X-Gitlab-Event-UUID``, Bitbucket's ``X-Request-UUID``/``X-Request-Id``, ``X-Delivery-Id``)
  for a window, so a replayed delivery is answered ``duplicate`` without a sync.

Providers and what authenticates them:

========== ======================================================== ===========================
provider   signature                                                event header
========== ======================================================== ===========================
github     ``X-Hub-Signature-256: sha256=<hmac>``                   ``X-GitHub-Event``
gitea      ``X-Hub-Signature-256`` or ``X-Gitea-Signature: <hmac>`` ``X-Gitea-Event`` (or the
           (Forgejo ``X-Forgejo-Signature``, Gogs ``X-Gogs-``)      GitHub/Gogs/Forgejo one)
gitlab     ``X-Gitlab-Token: <secret>``                             ``X-Gitlab-Event``
bitbucket  ``X-Hub-Signature: sha256=<hmac>`` (Server/Data Center    ``X-Event-Key``
           and Cloud)
generic    ``X-Signature: sha256=<hmac>``                           ``X-Event`` (``ping``; any
                                                                    other value is a push)
========== ======================================================== ===========================

``<hmac>`` is the hex HMAC-SHA256 of the raw body keyed by the secret. A push whose ref is
``refs/heads/<branch>`` triggers a sync, including a branch deletion (``after`` all zeros: the
sync finds the branch gone); pushes to other branches and tags are ``ignored``, as are events
other than push and ping.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, Literal
from urllib.parse import parse_qs

from nestor_catalog_core import AuthenticationError, InvalidRequest, decode_json

__all__ = [
    "ZERO_SHA",
    "DeliveryLog",
    "WebhookDelivery",
    "WebhookGate",
    "WebhookProvider",
    "classify",
    "open_gate",
    "replay_id",
    "sign_payload",
    "verify_and_parse",
    "verify_signature",
]

#: ``after`` of a push that deleted the branch.
ZERO_SHA: Final = "0" * 40

DeliveryKind = Literal["push", "ping", "ignored", "duplicate"]
_HEADS: Final = "refs/heads/"
_TAGS: Final = "refs/tags/"
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_NON_PRINTABLE = re.compile(r"[^\x20-\x7e]")
_MAX_HEADER_ECHO: Final = 128


class WebhookProvider(StrEnum):
    GITHUB = "github"
    GITEA = "gitea"
    GITLAB = "gitlab"
    BITBUCKET = "bitbucket"
    GENERIC = "generic"


@dataclass(frozen=True)
class WebhookDelivery:
    """What an authenticated delivery asks for; only ``kind == "push"`` triggers a sync.

    ``event`` is the provider's event name as sent (``push``, ``Push Hook``,
    ``repo:refs_changed``); ``after`` is the pushed commit as the payload claims it (a hint);
    ``reason`` says why a delivery is ``ignored``.
    """

    provider: WebhookProvider
    kind: DeliveryKind
    event: str
    ref: str | None = None
    branch: str | None = None
    after: str | None = None
    delivery_id: str | None = None
    reason: str = ""

    @property
    def triggers_sync(self) -> bool:
        return self.kind == "push"

    @property
    def deletes_branch(self) -> bool:
        return self.after is not None and set(self.after) == {"0"}


@dataclass(frozen=True)
class WebhookGate:
    """What ``open_gate`` found in the headers: the provider, and the HMAC the body must have
    (``None`` for GitLab, whose token was already compared)."""

    provider: WebhookProvider
    header: str
    secret: str | None
    signature: str | None

    def hasher(self) -> Any:
        """A fresh HMAC-SHA256 to feed the body to as it arrives (``None`` when not signed)."""
        if self.signature is None or self.secret is None:
            return None
        return hmac.new(self.secret.encode(), digestmod=hashlib.sha256)

    def check(self, hasher: Any) -> None:
        """Raise ``AuthenticationError`` unless the streamed body's HMAC is the signature."""
        if self.signature is None:
            return
        expected = hasher.hexdigest() if hasher is not None else ""
        if not hmac.compare_digest(expected.encode(), self.signature.encode()):
            raise _signature_mismatch(self.provider, self.header)


def open_gate(provider: str, headers: Mapping[str, str], secret: str | None) -> WebhookGate:
    """Check what can be checked before the body is read: a known provider, its signature or
    token header, and a ``secret`` (``None`` for an unknown repository, one without a
    ``webhook_secret`` or configured for another provider: all answered as a bad signature)."""
    known = _provider(provider)
    lowered = _lowered(headers)
    if known is WebhookProvider.GITLAB:
        token = lowered.get("x-gitlab-token")
        if token is None:
            raise AuthenticationError(
                "missing X-Gitlab-Token header", details={"reason": "signature_missing", "provider": "gitlab"}
            )
        if not secret or not hmac.compare_digest(token.encode(), secret.encode()):
            raise _signature_mismatch(known, "X-Gitlab-Token")
        return WebhookGate(known, "X-Gitlab-Token", secret, None)
    header, value, prefixed = _signature_header(known, lowered)
    if value is None:
        raise AuthenticationError(
            f"missing {header} header", details={"reason": "signature_missing", "provider": known.value}
        )
    provided = value.strip()
    if prefixed:
        algorithm, _, provided = provided.partition("=")
        if algorithm.strip().lower() != "sha256":
            raise AuthenticationError(
                f"{header} must be 'sha256=<hex>'", details={"reason": "signature_invalid", "provider": known.value}
            )
    if not secret:
        raise _signature_mismatch(known, header)
    return WebhookGate(known, header, secret, provided.strip().lower())


def _signature_mismatch(provider: WebhookProvider, header: str) -> AuthenticationError:
    message = "X-Gitlab-Token does not match" if header == "X-Gitlab-Token" else f"{header} does not match the payload"
    return AuthenticationError(message, details={"reason": "signature_invalid", "provider": provider.value})


class DeliveryLog:
    """Delivery ids seen in the last ``window`` seconds (at most ``size`` of them), per repository.

    Only authenticated deliveries are recorded, so nobody can fill it with forged ids. Ids that
    name the webhook rather than the delivery (GitLab's ``X-Gitlab-Webhook-UUID``, Bitbucket's
    ``X-Hook-UUID``) are never used.
    """

    def __init__(self, window: float = 3600.0, size: int = 10_000, clock: Callable[[], float] | None = None) -> None:
        import time
        from collections import OrderedDict

        self._window = window
        self._size = size
        self._clock = clock or time.monotonic
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()

    def seen_before(self, repository: str, delivery_id: str | None) -> bool:
        """Whether ``delivery_id`` was recorded for ``repository`` within the window; records it."""
        if not delivery_id:
            return False
        now = self._clock()
        while self._seen:
            oldest_key, at = next(iter(self._seen.items()))
            if now - at < self._window and len(self._seen) < self._size:
                break
            del self._seen[oldest_key]
        key = (repository, delivery_id)
        if key in self._seen:
            return True
        self._seen[key] = now
        return False


def replay_id(provider: WebhookProvider, headers: Mapping[str, str]) -> str | None:
    """The header that names this one delivery (what a replay repeats), if the sender sent it."""
    lowered = _lowered(headers)
    names = {
        WebhookProvider.GITHUB: ("x-github-delivery",),
        WebhookProvider.GITEA: ("x-gitea-delivery", "x-forgejo-delivery", "x-gogs-delivery", "x-github-delivery"),
        WebhookProvider.GITLAB: ("x-gitlab-event-uuid",),
        WebhookProvider.BITBUCKET: ("x-request-uuid", "x-request-id"),
        WebhookProvider.GENERIC: ("x-delivery-id",),
    }[provider]
    return _header_value(lowered, *names)


def sign_payload(secret: str, body: bytes) -> str:
    """``sha256=<hex hmac>``: the signature header value a sender puts on ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_and_parse(
    provider: str, headers: Mapping[str, str], body: bytes, secret: str | None, *, branch: str
) -> WebhookDelivery:
    """Authenticate a delivery for a repository that syncs ``branch``, then classify it."""
    verify_signature(provider, headers, body, secret)
    return classify(provider, headers, body, branch=branch)


def classify(provider: str, headers: Mapping[str, str], body: bytes, *, branch: str) -> WebhookDelivery:
    """Tell push, ping and the rest apart for a delivery whose signature was already checked
    (``verify_signature``, or a ``WebhookGate`` over the streamed body)."""
    known = _provider(provider)
    return _CLASSIFIERS[known](_lowered(headers), body, branch)


def verify_signature(provider: str, headers: Mapping[str, str], body: bytes, secret: str | None) -> None:
    """Raise unless ``body`` carries a valid signature (or token) for ``secret``; no secret is
    answered as a bad signature (a repository without one must not stand out)."""
    gate = open_gate(provider, headers, secret)
    hasher = gate.hasher()
    if hasher is not None:
        hasher.update(body)
    gate.check(hasher)


# --------------------------------------------------------------------------------------------- authentication


def _provider(provider: str) -> WebhookProvider:
    try:
        return WebhookProvider(provider.strip().lower())
    except ValueError:
        valid = ", ".join(member.value for member in WebhookProvider)
        raise InvalidRequest(
            f"unknown webhook provider {provider[:40]!r}; use one of: {valid}",
            details={"provider": provider[:40], "valid": [member.value for member in WebhookProvider]},
        ) from None


def _lowered(headers: Mapping[str, str]) -> dict[str, str]:
    return {key.lower(): value for key, value in headers.items()}


def _signature_header(known: WebhookProvider, headers: Mapping[str, str]) -> tuple[str, str | None, bool]:
    """(header name for messages, its value, whether it is ``sha256=``-prefixed)."""
    if known is WebhookProvider.GITEA:
        if "x-hub-signature-256" in headers:
            return "X-Hub-Signature-256", headers["x-hub-signature-256"], True
        for name in ("x-gitea-signature", "x-forgejo-signature", "x-gogs-signature"):
            if name in headers:
                return name.title(), headers[name], False
        return "X-Gitea-Signature", None, False
    name = {
        WebhookProvider.GITHUB: "X-Hub-Signature-256",
        WebhookProvider.BITBUCKET: "X-Hub-Signature",
        WebhookProvider.GENERIC: "X-Signature",
    }[known]
    return name, headers.get(name.lower()), True


# --------------------------------------------------------------------------------------------- payloads


def _json_object(body: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
    """The JSON object of a body, also from GitHub's ``application/x-www-form-urlencoded`` form."""
    try:
        text = body.decode("utf-8")
        if headers.get("content-type", "").split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
            text = parse_qs(text).get("payload", [""])[0]
        data = decode_json(text, what="the webhook payload")
    except UnicodeDecodeError:
        raise InvalidRequest("webhook payload is not JSON", details={"reason": "payload_not_json"}) from None
    except InvalidRequest as exc:
        detail = exc.message.removeprefix("the webhook payload is not valid: ")
        raise InvalidRequest(
            f"webhook payload is not JSON: {detail}", details={"reason": "payload_not_json", **exc.details}
        ) from None
    if not isinstance(data, dict):
        raise InvalidRequest("webhook payload is not a JSON object", details={"reason": "payload_not_json"})
    return data


def _invalid(provider: WebhookProvider, reason: str, message: str) -> InvalidRequest:
    return InvalidRequest(message, details={"reason": reason, "provider": provider.value})


def _header_value(headers: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = headers.get(name)
        if value is not None:
            cleaned = _NON_PRINTABLE.sub("", value).strip()[:_MAX_HEADER_ECHO]
            return cleaned or None
    return None


def _event(headers: Mapping[str, str], provider: WebhookProvider, *names: str) -> str:
    event = _header_value(headers, *names)
    if event is None:
        raise _invalid(provider, "event_missing", f"missing event header ({', '.join(names)})")
    return event


def _sha(value: Any) -> str | None:
    return value.lower() if isinstance(value, str) and _SHA.fullmatch(value.lower()) else None


def _push(
    provider: WebhookProvider,
    event: str,
    ref: Any,
    after: Any,
    delivery_id: str | None,
    branch: str,
    *,
    short_refs: bool = False,
) -> WebhookDelivery:
    """A push to ``ref``: a sync when it is the configured branch, ignored otherwise."""
    if not isinstance(ref, str) or not ref:
        raise _invalid(provider, "ref_missing", "push payload has no ref")
    if short_refs and not ref.startswith("refs/"):
        ref = _HEADS + ref
    pushed = ref.removeprefix(_HEADS) if ref.startswith(_HEADS) else None
    if ref.startswith(_TAGS):
        kind: DeliveryKind = "ignored"
        reason = "tag push"
    elif pushed is None:
        kind, reason = "ignored", f"not a branch ref: {ref[:_MAX_HEADER_ECHO]}"
    elif pushed != branch:
        kind, reason = "ignored", f"push to branch {pushed!r}, not {branch!r}"
    else:
        kind, reason = "push", ""
    return WebhookDelivery(
        provider=provider,
        kind=kind,
        event=event,
        ref=ref,
        branch=pushed,
        after=_sha(after),
        delivery_id=delivery_id,
        reason=reason,
    )


def _ignored(provider: WebhookProvider, event: str, delivery_id: str | None) -> WebhookDelivery:
    return WebhookDelivery(
        provider=provider, kind="ignored", event=event, delivery_id=delivery_id, reason=f"event {event!r} is not a push"
    )


def _ping(provider: WebhookProvider, event: str, delivery_id: str | None) -> WebhookDelivery:
    return WebhookDelivery(provider=provider, kind="ping", event=event, delivery_id=delivery_id)


def _ping_or_push(
    provider: WebhookProvider,
    event: str,
    delivery_id: str | None,
    headers: Mapping[str, str],
    body: bytes,
    branch: str,
) -> WebhookDelivery:
    """GitHub's events, which Gitea (Forgejo, Gogs) copies: ``ping``, ``push`` (``ref`` and
    ``after`` at the payload's top level), and any other event, ignored."""
    if event == "ping":
        return _ping(provider, event, delivery_id)
    if event != "push":
        return _ignored(provider, event, delivery_id)
    payload = _json_object(body, headers)
    return _push(provider, event, payload.get("ref"), payload.get("after"), delivery_id, branch)


# --------------------------------------------------------------------------------------------- classifiers


def _github(headers: Mapping[str, str], body: bytes, branch: str) -> WebhookDelivery:
    provider = WebhookProvider.GITHUB
    event = _event(headers, provider, "x-github-event")
    delivery_id = _header_value(headers, "x-github-delivery")
    return _ping_or_push(provider, event, delivery_id, headers, body, branch)


def _gitea(headers: Mapping[str, str], body: bytes, branch: str) -> WebhookDelivery:
    provider = WebhookProvider.GITEA
    event = _event(headers, provider, "x-gitea-event", "x-forgejo-event", "x-gogs-event", "x-github-event")
    delivery_id = _header_value(
        headers, "x-gitea-delivery", "x-forgejo-delivery", "x-gogs-delivery", "x-github-delivery"
    )
    return _ping_or_push(provider, event, delivery_id, headers, body, branch)


def _gitlab(headers: Mapping[str, str], body: bytes, branch: str) -> WebhookDelivery:
    provider = WebhookProvider.GITLAB
    event = _event(headers, provider, "x-gitlab-event")
    delivery_id = _header_value(headers, "x-gitlab-event-uuid", "x-gitlab-webhook-uuid")
    if event not in {"Push Hook", "System Hook"}:
        return _ignored(provider, event, delivery_id)
    payload = _json_object(body, headers)
    if event == "System Hook" and "push" not in {payload.get("event_name"), payload.get("object_kind")}:
        return _ignored(provider, f"{event}: {str(payload.get('event_name'))[:40]}", delivery_id)
    return _push(provider, event, payload.get("ref"), payload.get("after"), delivery_id, branch)


def _bitbucket(headers: Mapping[str, str], body: bytes, branch: str) -> WebhookDelivery:
    provider = WebhookProvider.BITBUCKET
    event = _event(headers, provider, "x-event-key")
    delivery_id = _header_value(headers, "x-request-id", "x-request-uuid", "x-hook-uuid")
    if event == "diagnostics:ping":
        return _ping(provider, event, delivery_id)
    if event == "repo:refs_changed":
        changes = _bitbucket_server_changes(_json_object(body, headers))
    elif event == "repo:push":
        changes = _bitbucket_cloud_changes(_json_object(body, headers))
    else:
        return _ignored(provider, event, delivery_id)
    if not changes:
        raise _invalid(provider, "ref_missing", "push payload lists no changes")
    deliveries = [_push(provider, event, ref, after, delivery_id, branch) for ref, after in changes]
    return next((delivery for delivery in deliveries if delivery.triggers_sync), deliveries[0])


def _bitbucket_server_changes(payload: Mapping[str, Any]) -> list[tuple[Any, Any]]:
    """``(ref, after)`` of each change: ``changes[].refId`` (or ``.ref.id``) and ``.toHash``."""
    changes = payload.get("changes")
    out: list[tuple[Any, Any]] = []
    for change in changes if isinstance(changes, list) else []:
        if not isinstance(change, dict):
            continue
        ref = change.get("refId") or (change.get("ref") or {}).get("id")
        after = ZERO_SHA if change.get("type") == "DELETE" else change.get("toHash")
        out.append((ref, after))
    return out


def _bitbucket_cloud_changes(payload: Mapping[str, Any]) -> list[tuple[Any, Any]]:
    """``push.changes[]`` of Bitbucket Cloud: ``new`` (or ``old`` when the branch was deleted)."""
    push = payload.get("push")
    changes = push.get("changes") if isinstance(push, dict) else None
    out: list[tuple[Any, Any]] = []
    for change in changes if isinstance(changes, list) else []:
        if not isinstance(change, dict):
            continue
        new, old = change.get("new"), change.get("old")
        target = new if isinstance(new, dict) else old if isinstance(old, dict) else None
        if target is None:
            continue
        prefix = _TAGS if target.get("type") == "tag" else _HEADS
        name = target.get("name")
        ref = prefix + name if isinstance(name, str) else None
        after = (new.get("target") or {}).get("hash") if isinstance(new, dict) else ZERO_SHA
        out.append((ref, after))
    return out


def _generic(headers: Mapping[str, str], body: bytes, branch: str) -> WebhookDelivery:
    """Any sender that signs like GitHub: an empty body or ``{}`` means "sync the configured branch"."""
    provider = WebhookProvider.GENERIC
    event = _header_value(headers, "x-event") or "push"
    delivery_id = _header_value(headers, "x-delivery-id", "x-request-id")
    if event.lower() == "ping":
        return _ping(provider, event, delivery_id)
    payload = _json_object(body, headers) if body.strip() else {}
    ref = payload.get("ref") or payload.get("branch") or _HEADS + branch
    return _push(provider, event, ref, payload.get("after"), delivery_id, branch, short_refs=True)


_CLASSIFIERS: Final[dict[WebhookProvider, Callable[[Mapping[str, str], bytes, str], WebhookDelivery]]] = {
    WebhookProvider.GITHUB: _github,
    WebhookProvider.GITEA: _gitea,
    WebhookProvider.GITLAB: _gitlab,
    WebhookProvider.BITBUCKET: _bitbucket,
    WebhookProvider.GENERIC: _generic,
}
