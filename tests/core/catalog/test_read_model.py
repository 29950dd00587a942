"""The read model's kept selections, facets and rankings follow every change."""

from __future__ import annotations

import random
from typing import Any

from nestor_catalog_core import ResourceDefinition, Source, SourceKind
from nestor_catalog_core.catalog.read_model import MODEL_CACHE_SIZE, ListFilters, ReadModel, _models, _published
from nestor_catalog_core.models import StoredVersion

CATEGORIES = ("database", "cache", "queue")
SOURCE = Source(kind=SourceKind.GIT, repository="platform", path="x.yaml", commit="abc123")


def stored(name: str, version: str = "1.0.0", *, category: str = "database", **changes: Any) -> StoredVersion:
    definition = ResourceDefinition.model_validate(
        {
            "apiVersion": "catalog.nestor.io/v1",
            "kind": "ResourceDefinition",
            "metadata": {
                "name": name,
                "version": version,
                "provider": "aws",
                "category": category,
                "resource_type": "mysql" if category == "database" else "redis",
                "description": f"{name} for tests",
                "maintainers": ["platform-team@company.com"],
            },
            "spec": {"supported_engines": ["terraform"], "outputs": [{"name": "id", "type": "string"}]},
        }
    )
    return StoredVersion.from_definition(definition, SOURCE).with_changes(**changes)


def names(model: ReadModel, **filters: Any) -> list[str]:
    page = model.list_page(ListFilters(**filters), limit=1000, cursor=None, facets=False)
    return [entry.name for entry in page.items]


def test_a_filtered_list_follows_new_names_moves_and_withdrawals() -> None:
    model = ReadModel()
    model.load([stored("db-b"), stored("db-a"), stored("cache-a", category="cache")])
    assert names(model, category="database") == ["db-a", "db-b"]
    assert model.selection_facets(ListFilters(category="database"))["category"] == {"database": 2}
    model.upsert(stored("db-c"))
    assert names(model, category="database") == ["db-a", "db-b", "db-c"]
    model.upsert(stored("db-a", "2.0.0", category="cache"))  # the latest moves it to another category
    assert names(model, category="database") == ["db-b", "db-c"]
    assert names(model, category="cache") == ["cache-a", "db-a"]
    assert model.selection_facets(ListFilters())["category"] == {"cache": 2, "database": 2}
    model.upsert(stored("db-b", withdrawn=True))  # its only version withdrawn: no longer listed
    assert names(model, category="database") == ["db-c"]
    assert names(model) == ["cache-a", "db-a", "db-c"]
    assert model.selection_facets(ListFilters(category="database"))["category"] == {"database": 1}


def test_pages_are_slices_of_the_kept_selection_and_a_non_latest_version_keeps_it() -> None:
    model = ReadModel()
    model.load([stored(f"db-{i:02}") for i in range(10)])
    first = model.list_page(ListFilters(category="database"), limit=4, cursor=None, facets=False)
    kept = model.selection(ListFilters(category="database"))
    model.upsert(stored("db-03", "0.9.0"))  # an older version: the latest stays, so does the selection
    assert model.selection(ListFilters(category="database")) is kept
    second = model.list_page(ListFilters(category="database"), limit=4, cursor=first.next_cursor, facets=False)
    assert [e.name for e in first.items + second.items] == [f"db-{i:02}" for i in range(8)]
    assert second.total == 10


def test_search_within_filters_follows_changes_of_the_latest_version() -> None:
    model = ReadModel()
    model.load([stored("db-a"), stored("cache-a", category="cache")])
    filters = ListFilters(category="database")
    assert [name for name, _ in model.ranked("aws", filters)] == ["db-a"]
    model.upsert(stored("db-z"))
    assert [name for name, _ in model.ranked("aws", filters)] == ["db-a", "db-z"]
    model.upsert(stored("db-a", "2.0.0", category="cache"))
    assert [name for name, _ in model.ranked("aws", filters)] == ["db-z"]


def test_parsed_models_are_bounded_and_equal_the_stored_document() -> None:
    model = ReadModel()
    model.load([stored(f"db-{i:05}") for i in range(MODEL_CACHE_SIZE + 10)])
    for entry in model.iter_latest():
        assert entry.resource().definition.metadata.name == entry.name
    assert len(_models) <= MODEL_CACHE_SIZE
    entry = next(model.iter_latest())
    assert entry.definition() == entry.stored.definition()
    assert entry.resource() is entry.resource()
    published = stored("db-new")
    model.upsert(published)
    fresh = model.versions[published.key]
    fresh.seed(published.definition())
    kept = _published.get(fresh)
    assert kept is not None
    assert _models.get(fresh) is None  # a publish leaves the readers' models alone
    assert fresh.definition() is kept[0]


async def test_a_published_version_s_event_digest_and_document_are_what_the_models_give() -> None:
    """The publish path serializes a definition once for its digest, stored document and event."""
    import json
    from datetime import date

    from nestor_catalog_core import Catalog, Deprecation, MemoryStore
    from nestor_catalog_core.models import resource_body
    from nestor_catalog_core.models.definition import canonical_json

    plain = stored("db-a").definition()
    deprecated = (
        stored("db-b")
        .definition()
        .with_deprecation(Deprecation(message="use db-a", sunset=date(2030, 1, 1), replacement="db-a"))
    )
    async with Catalog(MemoryStore()) as catalog:
        for definition in (plain, deprecated):
            await catalog.publish(definition, source=SOURCE, validated=True)
        events = await catalog.read_events(0, 10)
        for definition, event in zip((plain, deprecated), events, strict=True):
            entry = catalog.entry(*definition.key)
            assert entry.digest == definition.compute_digest()
            assert entry.stored.document == canonical_json(definition.to_dict())
            assert event.data == json.loads(resource_body(entry.stored.with_changes(sequence=0)))
        assert [e.data for e in catalog.hub.recent_after(0, 10) or []] == [e.data for e in events]


def test_kept_selections_and_facets_stay_equal_to_a_recount_through_random_changes() -> None:
    """Selections and facet counts are kept current on every change (not recounted): after
    each of many random upserts (new names, new latest versions moving between categories,
    withdrawals, older versions) they equal what a fresh recount of the index gives."""
    rng = random.Random(13)
    model = ReadModel()
    model.load([stored(f"n-{i:02}", category=rng.choice(CATEGORIES)) for i in range(12)])
    combinations = [ListFilters(), ListFilters(category="database"), ListFilters(category="cache")]
    combinations += [ListFilters(provider="aws", category="queue"), ListFilters(engine="terraform")]
    versions: dict[str, int] = {}
    for step in range(300):
        for filters in combinations:  # read (and so keep) every combination
            selected = list(model.selection(filters))
            candidates = model.candidates(filters)
            expected = sorted(candidates) if candidates is not None else sorted(model.sorted_names)
            assert selected == expected, (step, filters)
            assert model.selection_facets(filters) == model.facets(expected), (step, filters)
            page = model.list_page(filters, limit=5, cursor=None, facets=True)
            assert page.total == len(expected)
            assert [e.name for e in page.items] == expected[:5]
        name = f"n-{rng.randrange(16):02}"
        minor = versions.get(name, 0)
        kind = rng.random()
        if kind < 0.15 and minor:  # withdraw the newest version
            model.upsert(stored(name, f"1.{minor}.0", category=rng.choice(CATEGORIES), withdrawn=True))
        elif kind < 0.25:  # an older version: nothing listed changes
            model.upsert(stored(name, f"0.{step}.0", category=rng.choice(CATEGORIES)))
        else:
            versions[name] = minor + 1
            model.upsert(stored(name, f"1.{minor + 1}.0", category=rng.choice(CATEGORIES)))
