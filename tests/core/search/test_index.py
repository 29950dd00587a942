from __future__ import annotations

import re
from typing import Any

import pytest

from nestor_catalog_core.search import SearchDocument, SearchIndex, tokenize


def _doc(name: str, description: str = "", provider: str = "aws", inputs: tuple[str, ...] = ()) -> SearchDocument:
    data: dict[str, Any] = {
        "metadata": {
            "name": name,
            "provider": provider,
            "category": "database",
            "resource_type": "x",
            "description": description,
            "maintainers": ["team@example.com"],
        },
        "spec": {"required_inputs": [{"name": i} for i in inputs]},
    }
    return SearchDocument.from_definition_dict(data)


def _index(*docs: SearchDocument) -> SearchIndex:
    index = SearchIndex()
    for doc in docs:
        index.put(doc)
    return index


def test_tokenize() -> None:
    assert tokenize("AWS RDS-MySQL_8.0") == ["aws", "rds", "mysql", "8", "0"]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "a_b-c.d/e:f\tg\nh",
        "Straße İstanbul \u212a-kelvin \ufb01le x\u00b2 \u0663 caf\u00e9 na\u00efve",
        "\U0001f600emoji\U0001f600 zero\u200bwidth",
        "lone \ud800 surrogate",
        "ÀÉÎ ÖÜ 42x",
        "@AZ[az`09{Hello-WORLD_42}~\x7f\x00",
    ],
)
def test_tokenize_is_the_runs_of_a_z_0_9_of_the_lower_cased_text(text: str) -> None:
    assert tokenize(text) == re.findall(r"[a-z0-9]+", text.lower())


def test_ranking_exact_then_prefix_then_token_then_fields() -> None:
    index = _index(
        _doc("mysql"),
        _doc("mysql-ha"),
        _doc("aws-rds-mysql"),
        _doc("postgres", description="migrate from mysql"),
        _doc("redis"),
    )
    names = [h.name for h in index.search("mysql")]
    assert names == ["mysql", "mysql-ha", "aws-rds-mysql", "postgres"]


def test_all_terms_must_match_and_prefixes_count() -> None:
    index = _index(_doc("aws-rds-mysql", inputs=("instance_class",)), _doc("gcp-cloudsql-mysql", provider="gcp"))
    assert [h.name for h in index.search("mysql aws")] == ["aws-rds-mysql"]
    assert [h.name for h in index.search("instance")] == ["aws-rds-mysql"]
    assert [h.name for h in index.search("cloudsq")] == ["gcp-cloudsql-mysql"]
    assert index.search("mysql nothing") == []
    assert index.search("  ") == []


def test_replace_and_remove_update_postings() -> None:
    index = _index(_doc("a", description="kafka"))
    assert [h.name for h in index.search("kafka")] == ["a"]
    index.put(_doc("a", description="rabbitmq"))
    assert index.search("kafka") == []
    index.remove("a")
    assert index.search("rabbitmq") == []
    assert len(index) == 0


def test_within_restricts_candidates() -> None:
    index = _index(_doc("aws-mysql"), _doc("gcp-mysql", provider="gcp"))
    assert [h.name for h in index.search("mysql", within={"gcp-mysql"})] == ["gcp-mysql"]


def test_cached_rankings_follow_changes() -> None:
    index = _index(_doc("aws-mysql"))
    assert [name for name, _ in index.rank("mysql")] == ["aws-mysql"]
    assert index.rank("mysql") is index.rank("mysql")  # served from the cache
    index.put(_doc("gcp-mysql", provider="gcp"))
    assert [name for name, _ in index.rank("mysql")] == ["aws-mysql", "gcp-mysql"]
    index.remove("aws-mysql")
    assert [name for name, _ in index.rank("mysql")] == ["gcp-mysql"]
    assert [name for name, _ in index.rank("mysql", within={"nothing"})] == []


def test_one_letter_terms_match_whole_tokens_only() -> None:
    index = _index(_doc("a-b", description="x marks"), _doc("abc"))
    assert [name for name, _ in index.rank("a")] == ["a-b"]
