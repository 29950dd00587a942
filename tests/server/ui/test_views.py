"""What the pages show, computed from the read model: URLs that keep the state, badges, links
to repository hosts, the try-inputs widgets, the diff report, the sync dashboard's locations."""

from __future__ import annotations

import json
from datetime import date

import pytest

from nestor_catalog_core import Catalog, InvalidRequest, ListFilters, Source, SourceKind
from nestor_catalog_server.ui._views import (
    BrowseQuery,
    FacetCache,
    badges,
    browse_context,
    commit_links,
    diff_context,
    input_fields,
    resource_context,
    sync_context,
    ui_path,
)
from tests.server.api.builders import definition

TODAY = date(2026, 12, 1)
SHA = "0123456789abcdef0123456789abcdef01234567"


def git_source(path: str | None = "catalog/queue.yaml", commit: str | None = SHA) -> Source:
    return Source(kind=SourceKind.GIT, repository="platform", path=path, commit=commit)


@pytest.mark.parametrize(
    ("url", "commit", "file"),
    [
        (
            "https://github.com/company/platform.git",
            f"https://github.com/company/platform/commit/{SHA}",
            f"https://github.com/company/platform/blob/{SHA}/catalog/queue.yaml",
        ),
        (
            "https://gitlab.example.com/group/platform",
            f"https://gitlab.example.com/group/platform/-/commit/{SHA}",
            f"https://gitlab.example.com/group/platform/-/blob/{SHA}/catalog/queue.yaml",
        ),
        (
            "https://bitbucket.org/company/platform.git",
            f"https://bitbucket.org/company/platform/commits/{SHA}",
            f"https://bitbucket.org/company/platform/src/{SHA}/catalog/queue.yaml",
        ),
        (
            "http://gitea.internal:3000/ops/platform/",
            f"http://gitea.internal:3000/ops/platform/commit/{SHA}",
            f"http://gitea.internal:3000/ops/platform/blob/{SHA}/catalog/queue.yaml",
        ),
    ],
)
def test_commit_links_for_browsable_repositories(url: str, commit: str, file: str) -> None:
    assert commit_links(url, git_source()) == {"commit": commit, "file": file}


@pytest.mark.parametrize(
    "url", ["ssh://git@github.com/company/platform.git", "git@github.com:company/platform.git", "git://host/repo", None]
)
def test_no_links_for_urls_a_browser_cannot_open(url: str | None) -> None:
    assert commit_links(url, git_source()) == {"commit": None, "file": None}


def test_no_links_without_a_commit_and_no_file_link_without_a_path() -> None:
    assert commit_links("https://github.com/c/p", git_source(commit=None)) == {"commit": None, "file": None}
    assert commit_links("https://github.com/c/p", git_source(path=None))["file"] is None


def test_browse_urls_keep_the_state_and_a_filter_change_starts_over() -> None:
    query = BrowseQuery.from_params({"q": " mysql ", "provider": "aws", "cursor": "abc", "deprecated": "false"})
    assert query.q == "mysql"
    assert query.url(category="database") == "/?q=mysql&provider=aws&category=database&deprecated=false"
    assert query.url(provider="") == "/?q=mysql&deprecated=false"
    assert query.url(cursor="next") == "/?q=mysql&provider=aws&deprecated=false&cursor=next"
    assert BrowseQuery().url() == "/"
    assert query.filters() == ListFilters(
        provider="aws", category=None, resource_type=None, engine=None, maintainer=None, deprecated=False
    )


def test_a_bad_status_filter_is_a_clear_error() -> None:
    with pytest.raises(InvalidRequest, match="deprecated must be true, false or empty"):
        BrowseQuery.from_params({"deprecated": "maybe"})


def test_ui_paths_quote_their_segments() -> None:
    assert ui_path("resources", "a/b", "1.0.0+build") == "/ui/resources/a%2Fb/1.0.0%2Bbuild"
    assert ui_path("diff", "x", **{"from": "1.0.0", "to": None}) == "/ui/diff/x?from=1.0.0"


async def test_browse_counts_facets_and_marks_the_selection(catalog: Catalog) -> None:
    context = browse_context(catalog, BrowseQuery(provider="aws"), today=TODAY)
    assert context["total"] == len(context["items"]) == 6
    provider = next(group for group in context["facets"] if group["key"] == "provider")
    assert [value["value"] for value in provider["values"] if value["selected"]] == ["aws"]
    assert provider["clear_url"] == "/"
    assert context["next_url"] is None
    assert context["filtered"] is True


async def test_facet_counts_are_reused_until_the_revision_changes(catalog: Catalog) -> None:
    cache = FacetCache(size=2)
    first = browse_context(catalog, BrowseQuery(), today=TODAY, cache=cache)
    key = (catalog.revision, "", None, None, None, None, None)
    assert cache.get(key) is not None
    cache.put(key, {"provider": {"only-in-the-cache": 7}})
    again = browse_context(catalog, BrowseQuery(), today=TODAY, cache=cache)
    assert [v["value"] for v in again["facets"][0]["values"]] == ["only-in-the-cache"]
    assert again["items"] == first["items"]
    await catalog.publish_bytes(
        json.dumps(definition("cache-queue")).encode(), file="q.json", source=Source(kind=SourceKind.API)
    )
    fresh = browse_context(catalog, BrowseQuery(), today=TODAY, cache=cache)
    assert "only-in-the-cache" not in [v["value"] for v in fresh["facets"][0]["values"]]
    browse_context(catalog, BrowseQuery(q="redis"), today=TODAY, cache=cache)
    assert cache.get(key) is None, "the least recently used entry was dropped"


async def test_search_ranks_and_pages_with_a_cursor(catalog: Catalog) -> None:
    ranked = browse_context(catalog, BrowseQuery(q="mysql"), today=TODAY)
    assert ranked["items"][0]["name"] == "aws-rds-mysql"
    listing = browse_context(catalog, BrowseQuery(), today=TODAY)
    assert listing["next_url"] is None, "the examples fit one page"


async def test_badges_of_a_deprecated_version_with_a_sunset(catalog: Catalog) -> None:
    entry = catalog.entry("kubernetes-redis", "1.0.0")
    labels = [(badge.kind, badge.label) for badge in badges(entry, today=TODAY, latest="2.0.0")]
    assert labels == [("deprecated", "deprecated"), ("sunset", "sunset on 2027-06-30")]
    later = [badge.label for badge in badges(entry, today=date(2027, 7, 1))]
    assert "sunset since 2027-06-30" in later
    latest = catalog.entry("kubernetes-redis", "2.0.0")
    assert [badge.kind for badge in badges(latest, today=TODAY, latest="2.0.0")] == ["latest"]


async def test_resource_context_has_history_inputs_and_the_deprecation(catalog: Catalog) -> None:
    context = resource_context(catalog, "kubernetes-redis", "1.0.0", today=TODAY, repositories={})
    assert context["is_latest"] is False
    assert context["latest"] == "2.0.0"
    assert context["replacement"] == {"text": "kubernetes-redis@^2", "url": "/ui/resources/kubernetes-redis"}
    assert [row["version"] for row in context["history"]] == ["2.0.0", "1.0.0"]
    assert context["diff_url"] is None, "1.0.0 is the first version"
    mysql = resource_context(
        catalog, "aws-rds-mysql", None, today=TODAY, repositories={"examples": "https://github.com/c/p.git"}
    )
    assert mysql["version"] == "2.0.0"
    assert mysql["diff_url"] == "/ui/diff/aws-rds-mysql?from=1.2.0&to=2.0.0"
    assert mysql["links"]["commit"] == "https://github.com/c/p/commit/" + "a" * 40


async def test_input_widgets_follow_the_types(catalog: Catalog) -> None:
    fields = {f["name"]: f for f in input_fields(catalog.entry("aws-elasticache-redis", "1.1.0").definition())}
    assert fields["node_type"]["widget"] == "text"
    assert fields["node_type"]["required"] is True
    assert fields["engine_version"]["widget"] == "select"
    assert [option["json"] for option in fields["engine_version"]["options"]] == ['"6.2"', '"7.0"', '"7.1"']
    assert fields["replicas_per_node_group"]["widget"] == "number"
    assert fields["replicas_per_node_group"]["validation"] == [">= 0", "<= 5"]
    assert fields["auth_token"]["sensitive"] is True
    assert fields["auth_token"]["validation"] == ["at least 16 characters", "at most 128 characters"]


async def test_diff_defaults_to_the_latest_against_its_predecessor(catalog: Catalog) -> None:
    context = diff_context(catalog, "aws-rds-mysql", None, None)
    report = context["report"]
    assert (report["old_version"], report["new_version"]) == ("1.2.0", "2.0.0")
    assert set(report) == {"name", "old_version", "new_version", "declared", "required", "ok", "changes"}
    assert {"rule", "field", "old", "new", "needs", "message"} <= set(report["changes"][0])
    backwards = diff_context(catalog, "aws-rds-mysql", "2.0.0", "1.0.0")
    assert backwards["report"]["ok"] is False


def test_sync_context_locates_every_finding() -> None:
    status = {
        "name": "platform",
        "last_error": None,
        "findings": {
            "catalog/b.yaml": [{"rule": "YAML_SYNTAX", "file": "catalog/b.yaml", "line": 3, "column": 7}],
            "catalog/a.yaml": [{"rule": "X", "file": None, "line": None, "column": None}],
        },
    }
    failing = {"name": "other", "last_error": {"code": "GIT_FETCH_FAILED", "message": "no route"}, "findings": {}}
    context = sync_context([status, failing], mirror=None)
    refused = context["sources"][0]["refused"]
    assert [item["path"] for item in refused] == ["catalog/a.yaml", "catalog/b.yaml"]
    assert refused[0]["findings"][0]["location"] == "catalog/a.yaml"
    assert refused[1]["findings"][0]["location"] == "catalog/b.yaml:3:7"
    assert (context["refused_total"], context["failing"]) == (2, 1)


async def test_a_withdrawn_version_is_flagged_and_the_latest_moves(catalog: Catalog) -> None:
    source = Source(kind=SourceKind.GIT, repository="examples")
    await catalog.withdraw("aws-rds-mysql", "2.0.0", source=source)
    context = resource_context(catalog, "aws-rds-mysql", "2.0.0", today=TODAY, repositories={})
    assert context["withdrawn"] is True
    assert context["latest"] == "1.2.0"
    assert [badge.kind for badge in context["badges"]] == ["withdrawn"]
    latest = resource_context(catalog, "aws-rds-mysql", None, today=TODAY, repositories={})
    assert latest["version"] == "1.2.0"
    listed = browse_context(catalog, BrowseQuery(q="aws-rds-mysql"), today=TODAY)
    assert listed["items"][0]["version"] == "1.2.0"
