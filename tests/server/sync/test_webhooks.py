from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from nestor_catalog_core import AuthenticationError, InvalidRequest
from nestor_catalog_server.sync.webhooks import (
    ZERO_SHA,
    WebhookDelivery,
    WebhookProvider,
    sign_payload,
    verify_and_parse,
    verify_signature,
)

PAYLOADS = Path(__file__).parent / "payloads"
SECRET = "webhook-secret-for-platform-resources"

# GitHub's documented example ("Validating webhook deliveries").
GITHUB_DOC_SECRET = "It's a Secret to Everybody"
GITHUB_DOC_PAYLOAD = b"Hello, World!"
GITHUB_DOC_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def _payload(name: str) -> bytes:
    return (PAYLOADS / name).read_bytes()


def _hmac(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _modified(name: str, **changes: Any) -> bytes:
    data = json.loads(_payload(name))
    data.update(changes)
    return json.dumps(data).encode()


def _github(body: bytes, event: str = "push", **extra: str) -> dict[str, str]:
    return {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "X-Hub-Signature-256": f"sha256={_hmac(body)}",
        "Content-Type": "application/json",
        **extra,
    }


# --------------------------------------------------------------------------------------------- signatures


def test_github_documented_example_signature() -> None:
    assert sign_payload(GITHUB_DOC_SECRET, GITHUB_DOC_PAYLOAD) == GITHUB_DOC_SIGNATURE
    headers = {"X-Hub-Signature-256": GITHUB_DOC_SIGNATURE}
    verify_signature("github", headers, GITHUB_DOC_PAYLOAD, GITHUB_DOC_SECRET)
    delivery = verify_and_parse(
        "github", {**headers, "X-GitHub-Event": "ping"}, GITHUB_DOC_PAYLOAD, GITHUB_DOC_SECRET, branch="main"
    )
    assert delivery.kind == "ping"


def test_github_documented_example_with_the_wrong_secret_or_payload() -> None:
    headers = {"X-Hub-Signature-256": GITHUB_DOC_SIGNATURE, "X-GitHub-Event": "ping"}
    with pytest.raises(AuthenticationError, match="X-Hub-Signature-256 does not match the payload") as info:
        verify_and_parse("github", headers, GITHUB_DOC_PAYLOAD, "It's a secret to everybody", branch="main")
    assert info.value.details == {"reason": "signature_invalid", "provider": "github"}
    with pytest.raises(AuthenticationError, match="does not match"):
        verify_and_parse("github", headers, b"Hello, World?", GITHUB_DOC_SECRET, branch="main")


def test_signature_header_names_and_values_are_case_insensitive() -> None:
    headers = {"x-hub-signature-256": GITHUB_DOC_SIGNATURE.upper()}
    verify_signature("GitHub", headers, GITHUB_DOC_PAYLOAD, GITHUB_DOC_SECRET)


@pytest.mark.parametrize(
    ("headers", "reason", "message"),
    [
        ({}, "signature_missing", "missing X-Hub-Signature-256 header"),
        ({"X-Hub-Signature-256": ""}, "signature_invalid", "must be 'sha256=<hex>'"),
        ({"X-Hub-Signature-256": "sha1=0123"}, "signature_invalid", "must be 'sha256=<hex>'"),
        ({"X-Hub-Signature-256": "sha256=zz"}, "signature_invalid", "does not match"),
        ({"X-Hub-Signature-256": "sha256=\u00e9"}, "signature_invalid", "does not match"),
        ({"X-Hub-Signature": "sha256=" + "0" * 64}, "signature_missing", "missing X-Hub-Signature-256"),
    ],
)
def test_bad_github_signatures(headers: dict[str, str], reason: str, message: str) -> None:
    body = _payload("github-push.json")
    with pytest.raises(AuthenticationError, match=message) as info:
        verify_and_parse("github", {"X-GitHub-Event": "push", **headers}, body, SECRET, branch="main")
    assert info.value.details["reason"] == reason


def test_signature_is_checked_before_the_body_is_parsed() -> None:
    with pytest.raises(AuthenticationError, match="does not match"):
        verify_and_parse(
            "github",
            {"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + "0" * 64},
            b"not json at all",
            SECRET,
            branch="main",
        )


@pytest.mark.parametrize("secret", [None, ""])
def test_a_repository_without_secret_refuses_webhooks(secret: str | None) -> None:
    body = _payload("github-push.json")
    with pytest.raises(AuthenticationError, match="does not match the payload") as info:
        verify_and_parse("github", _github(body), body, secret, branch="main")
    assert info.value.details["reason"] == "signature_invalid"


def test_unknown_provider() -> None:
    with pytest.raises(InvalidRequest, match="unknown webhook provider 'svn'; use one of: github, gitea") as info:
        verify_and_parse("svn", {}, b"{}", SECRET, branch="main")
    assert "bitbucket" in info.value.details["valid"]


# --------------------------------------------------------------------------------------------- github


def test_github_push_to_the_branch_triggers_a_sync() -> None:
    body = _payload("github-push.json")
    delivery = verify_and_parse("github", _github(body), body, SECRET, branch="main")
    assert delivery == WebhookDelivery(
        provider=WebhookProvider.GITHUB,
        kind="push",
        event="push",
        ref="refs/heads/main",
        branch="main",
        after="0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c",
        delivery_id="72d3162e-cc78-11e3-81ab-4c9367dc0958",
    )
    assert delivery.triggers_sync
    assert not delivery.deletes_branch


def test_github_ping() -> None:
    body = _payload("github-ping.json")
    delivery = verify_and_parse("github", _github(body, "ping"), body, SECRET, branch="main")
    assert (delivery.kind, delivery.event, delivery.triggers_sync) == ("ping", "ping", False)


def test_github_push_to_another_branch_is_ignored() -> None:
    body = _modified("github-push.json", ref="refs/heads/feature/x")
    delivery = verify_and_parse("github", _github(body), body, SECRET, branch="main")
    assert (delivery.kind, delivery.branch) == ("ignored", "feature/x")
    assert delivery.reason == "push to branch 'feature/x', not 'main'"


def test_github_tag_push_is_ignored() -> None:
    body = _modified("github-push.json", ref="refs/tags/v1.2.0")
    delivery = verify_and_parse("github", _github(body), body, SECRET, branch="main")
    assert (delivery.kind, delivery.reason, delivery.branch) == ("ignored", "tag push", None)


def test_github_branch_deletion_triggers_a_sync() -> None:
    body = _modified("github-push.json", after=ZERO_SHA, deleted=True, commits=[], head_commit=None)
    delivery = verify_and_parse("github", _github(body), body, SECRET, branch="main")
    assert delivery.kind == "push"
    assert delivery.deletes_branch


def test_github_other_events_are_ignored_without_parsing() -> None:
    body = b"<not even json>"
    delivery = verify_and_parse("github", _github(body, "issues"), body, SECRET, branch="main")
    assert (delivery.kind, delivery.event, delivery.reason) == ("ignored", "issues", "event 'issues' is not a push")


def test_github_form_encoded_push() -> None:
    body = urlencode({"payload": _payload("github-push.json").decode()}).encode()
    headers = _github(body, **{"Content-Type": "application/x-www-form-urlencoded"})
    assert verify_and_parse("github", headers, body, SECRET, branch="main").kind == "push"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "webhook payload is not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b"\xff\xfe", "not JSON"),
        (b'{"after": "abc"}', "push payload has no ref"),
    ],
)
def test_github_bad_push_bodies(body: bytes, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        verify_and_parse("github", _github(body), body, SECRET, branch="main")


def test_github_without_event_header() -> None:
    body = _payload("github-push.json")
    headers = {"X-Hub-Signature-256": f"sha256={_hmac(body)}"}
    with pytest.raises(InvalidRequest, match=r"missing event header \(x-github-event\)"):
        verify_and_parse("github", headers, body, SECRET, branch="main")


def test_after_that_is_not_a_sha_is_dropped() -> None:
    body = _modified("github-push.json", after="HEAD; rm -rf /")
    assert verify_and_parse("github", _github(body), body, SECRET, branch="main").after is None


# --------------------------------------------------------------------------------------------- gitea


def test_gitea_push_with_its_own_signature_header() -> None:
    body = _payload("gitea-push.json")
    headers = {"X-Gitea-Event": "push", "X-Gitea-Delivery": "d-1", "X-Gitea-Signature": _hmac(body)}
    delivery = verify_and_parse("gitea", headers, body, SECRET, branch="main")
    assert (delivery.kind, delivery.after, delivery.delivery_id) == (
        "push",
        "bffeb74224043ba2feb48d137756c8a9331c449a",
        "d-1",
    )


def test_gitea_push_with_github_compatible_headers() -> None:
    body = _payload("gitea-push.json")
    headers = {"X-GitHub-Event": "push", "X-Hub-Signature-256": f"sha256={_hmac(body)}", "X-GitHub-Delivery": "d-2"}
    delivery = verify_and_parse("gitea", headers, body, SECRET, branch="main")
    assert (delivery.provider, delivery.kind, delivery.delivery_id) == (WebhookProvider.GITEA, "push", "d-2")


def test_forgejo_signature_header() -> None:
    body = _payload("gitea-push.json")
    headers = {"X-Forgejo-Event": "push", "X-Forgejo-Signature": _hmac(body)}
    assert verify_and_parse("gitea", headers, body, SECRET, branch="main").kind == "push"


def test_gitea_bad_signature_and_missing_signature() -> None:
    body = _payload("gitea-push.json")
    with pytest.raises(AuthenticationError, match="X-Gitea-Signature does not match"):
        verify_and_parse("gitea", {"X-Gitea-Event": "push", "X-Gitea-Signature": "00"}, body, SECRET, branch="main")
    with pytest.raises(AuthenticationError, match="missing X-Gitea-Signature header"):
        verify_and_parse("gitea", {"X-Gitea-Event": "push"}, body, SECRET, branch="main")


def test_gitea_other_events_are_ignored() -> None:
    body = b"{}"
    headers = {"X-Gitea-Event": "issues", "X-Gitea-Signature": _hmac(body)}
    assert verify_and_parse("gitea", headers, body, SECRET, branch="main").kind == "ignored"


# --------------------------------------------------------------------------------------------- gitlab


def _gitlab(event: str = "Push Hook", token: str = SECRET) -> dict[str, str]:
    return {"X-Gitlab-Event": event, "X-Gitlab-Token": token, "X-Gitlab-Event-UUID": "13792a34-cac6-4fda"}


def test_gitlab_push() -> None:
    delivery = verify_and_parse("gitlab", _gitlab(), _payload("gitlab-push.json"), SECRET, branch="main")
    assert (delivery.kind, delivery.event, delivery.after, delivery.delivery_id) == (
        "push",
        "Push Hook",
        "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
        "13792a34-cac6-4fda",
    )


def test_gitlab_tag_push_is_ignored() -> None:
    delivery = verify_and_parse(
        "gitlab", _gitlab("Tag Push Hook"), _payload("gitlab-tag-push.json"), SECRET, branch="main"
    )
    assert (delivery.kind, delivery.event) == ("ignored", "Tag Push Hook")


def test_gitlab_system_hook_push_and_other_system_events() -> None:
    push = verify_and_parse("gitlab", _gitlab("System Hook"), _payload("gitlab-push.json"), SECRET, branch="main")
    assert push.kind == "push"
    body = json.dumps({"event_name": "project_create", "name": "x"}).encode()
    other = verify_and_parse("gitlab", _gitlab("System Hook"), body, SECRET, branch="main")
    assert (other.kind, other.event) == ("ignored", "System Hook: project_create")


def test_gitlab_wrong_or_missing_token() -> None:
    body = _payload("gitlab-push.json")
    with pytest.raises(AuthenticationError, match="X-Gitlab-Token does not match") as info:
        verify_and_parse("gitlab", _gitlab(token=SECRET + "x"), body, SECRET, branch="main")
    assert info.value.details["reason"] == "signature_invalid"
    headers = _gitlab()
    del headers["X-Gitlab-Token"]
    with pytest.raises(AuthenticationError, match="missing X-Gitlab-Token header"):
        verify_and_parse("gitlab", headers, body, SECRET, branch="main")


def test_gitlab_branch_deletion() -> None:
    body = _modified("gitlab-push.json", after=ZERO_SHA, checkout_sha=None, commits=[])
    delivery = verify_and_parse("gitlab", _gitlab(), body, SECRET, branch="main")
    assert delivery.kind == "push"
    assert delivery.deletes_branch


# --------------------------------------------------------------------------------------------- bitbucket


def _bitbucket(body: bytes, event: str) -> dict[str, str]:
    return {
        "X-Event-Key": event,
        "X-Request-Id": "fbf1f5d5-3b7e-4e1b-9d2f-0f8c2a6c1a11",
        "X-Hub-Signature": f"sha256={_hmac(body)}",
    }


def test_bitbucket_server_refs_changed_finds_the_configured_branch() -> None:
    body = _payload("bitbucket-server-refs-changed.json")
    delivery = verify_and_parse("bitbucket", _bitbucket(body, "repo:refs_changed"), body, SECRET, branch="main")
    assert (delivery.kind, delivery.ref, delivery.after, delivery.delivery_id) == (
        "push",
        "refs/heads/main",
        "178864a7d521b6f5e720b386b2c2b0ef8563e0dc",
        "fbf1f5d5-3b7e-4e1b-9d2f-0f8c2a6c1a11",
    )


def test_bitbucket_server_refs_changed_on_other_branches_is_ignored() -> None:
    body = _payload("bitbucket-server-refs-changed.json")
    delivery = verify_and_parse("bitbucket", _bitbucket(body, "repo:refs_changed"), body, SECRET, branch="release")
    assert (delivery.kind, delivery.branch) == ("ignored", "feature/new-engine")


def test_bitbucket_server_branch_deletion() -> None:
    data = json.loads(_payload("bitbucket-server-refs-changed.json"))
    data["changes"] = [{**data["changes"][1], "type": "DELETE", "toHash": "0" * 40}]
    body = json.dumps(data).encode()
    delivery = verify_and_parse("bitbucket", _bitbucket(body, "repo:refs_changed"), body, SECRET, branch="main")
    assert delivery.kind == "push"
    assert delivery.deletes_branch


def test_bitbucket_server_ping() -> None:
    body = _payload("bitbucket-server-ping.json")
    delivery = verify_and_parse("bitbucket", _bitbucket(body, "diagnostics:ping"), body, SECRET, branch="main")
    assert delivery.kind == "ping"


def test_bitbucket_cloud_push() -> None:
    body = _payload("bitbucket-cloud-push.json")
    delivery = verify_and_parse("bitbucket", _bitbucket(body, "repo:push"), body, SECRET, branch="main")
    assert (delivery.kind, delivery.after) == ("push", "709d658dc5b6d6afcd46049c2f332ee3f515a67d")


def test_bitbucket_cloud_branch_deletion() -> None:
    data = json.loads(_payload("bitbucket-cloud-push.json"))
    data["push"]["changes"][0]["new"] = None
    data["push"]["changes"][0]["closed"] = True
    body = json.dumps(data).encode()
    delivery = verify_and_parse("bitbucket", _bitbucket(body, "repo:push"), body, SECRET, branch="main")
    assert (delivery.kind, delivery.after) == ("push", ZERO_SHA)


def test_bitbucket_push_without_changes_is_invalid() -> None:
    body = b'{"changes": []}'
    with pytest.raises(InvalidRequest, match="push payload lists no changes"):
        verify_and_parse("bitbucket", _bitbucket(body, "repo:refs_changed"), body, SECRET, branch="main")


def test_bitbucket_signature_is_required() -> None:
    body = _payload("bitbucket-server-ping.json")
    with pytest.raises(AuthenticationError, match="missing X-Hub-Signature header"):
        verify_and_parse("bitbucket", {"X-Event-Key": "diagnostics:ping"}, body, SECRET, branch="main")


# --------------------------------------------------------------------------------------------- generic


def _generic(body: bytes, **extra: str) -> dict[str, str]:
    return {"X-Signature": sign_payload(SECRET, body), **extra}


def test_generic_push_payload() -> None:
    body = _payload("generic-push.json")
    delivery = verify_and_parse("generic", _generic(body, **{"X-Delivery-Id": "ci-77"}), body, SECRET, branch="main")
    assert (delivery.kind, delivery.after, delivery.delivery_id) == (
        "push",
        "9fceb02d0ae598e95dc970b74767f19372d61af8",
        "ci-77",
    )


@pytest.mark.parametrize("body", [b"", b"{}", b'{"branch": "main"}', b'{"ref": "main"}'])
def test_generic_minimal_bodies_sync_the_configured_branch(body: bytes) -> None:
    delivery = verify_and_parse("generic", _generic(body), body, SECRET, branch="main")
    assert (delivery.kind, delivery.ref) == ("push", "refs/heads/main")


def test_generic_ping_and_other_branch() -> None:
    assert verify_and_parse("generic", _generic(b"", **{"X-Event": "ping"}), b"", SECRET, branch="main").kind == "ping"
    body = b'{"branch": "dev"}'
    assert verify_and_parse("generic", _generic(body), body, SECRET, branch="main").kind == "ignored"


def test_generic_requires_its_signature_header() -> None:
    body = b"{}"
    with pytest.raises(AuthenticationError, match="missing X-Signature header"):
        verify_and_parse("generic", {"X-Hub-Signature-256": sign_payload(SECRET, body)}, body, SECRET, branch="main")


def test_delivery_ids_and_events_are_sanitized() -> None:
    body = b"{}"
    headers = _generic(body, **{"X-Delivery-Id": "id\r\nX-Injected: 1" + "x" * 300})
    delivery = verify_and_parse("generic", headers, body, SECRET, branch="main")
    assert delivery.delivery_id is not None
    assert "\n" not in delivery.delivery_id
    assert len(delivery.delivery_id) == 128
