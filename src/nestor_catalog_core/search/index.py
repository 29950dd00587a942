"""Ranked full-text search over the latest version of every name.

Ranking (DESIGN.md): exact name > name prefix > name token > other fields (description,
provider, category, resource_type, input/output names, maintainers, labels). Every query
term must match something (AND); a term matches a token exactly or as a prefix, exact
matches scoring higher. Ties sort by name so results are stable.

The index is an inverted map from token to names, kept per field group, plus a sorted
token list per group for prefix lookups (rebuilt lazily after changes).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable, Set
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SearchDocument", "SearchHit", "SearchIndex", "tokenize"]

_TOKEN = re.compile(r"[a-z0-9]+")

# Scores per match kind; ordered so that the DESIGN ranking holds for one-term queries.
_EXACT_NAME = 10_000
_NAME_PREFIX = 2_000
_NAME_TOKEN = 400
_NAME_TOKEN_PREFIX = 150
_FIELD_WEIGHTS = {"type": 40, "text": 12, "io": 20, "people": 8}
_PREFIX_FACTOR = 0.4


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


@dataclass(frozen=True, slots=True)
class SearchDocument:
    """What is searchable about one name (taken from its latest version)."""

    name: str
    groups: dict[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def from_definition_dict(cls, data: dict[str, Any]) -> SearchDocument:
        """Build from a definition's JSON data (no model parsing needed)."""
        meta = data.get("metadata", {})
        spec = data.get("spec", {})
        name = str(meta.get("name", ""))
        io_names: list[str] = []
        for key in ("required_inputs", "optional_inputs", "outputs"):
            for item in spec.get(key, []) or []:
                io_names.append(str(item.get("name", "")))
                io_names.append(str(item.get("description", "")))
        labels = meta.get("labels", {}) or {}
        groups = {
            "name": frozenset(tokenize(name)),
            "type": frozenset(
                tokenize(" ".join(str(meta.get(k, "")) for k in ("provider", "category", "resource_type")))
                + tokenize(" ".join(str(e) for e in spec.get("supported_engines", []) or []))
            ),
            "text": frozenset(tokenize(str(meta.get("description", "")))),
            "io": frozenset(tokenize(" ".join(io_names))),
            "people": frozenset(
                tokenize(" ".join(str(m) for m in meta.get("maintainers", []) or []))
                + tokenize(" ".join(f"{k} {v}" for k, v in labels.items()))
            ),
        }
        return cls(name=name, groups=groups)


@dataclass(frozen=True, slots=True)
class SearchHit:
    name: str
    score: float


class SearchIndex:
    """Inverted index: group -> token -> names."""

    def __init__(self) -> None:
        self._docs: dict[str, SearchDocument] = {}
        self._postings: dict[str, dict[str, set[str]]] = {g: {} for g in ("name", *_FIELD_WEIGHTS)}
        self._sorted_tokens: dict[str, list[str]] = {}

    def __len__(self) -> int:
        return len(self._docs)

    def __contains__(self, name: object) -> bool:
        return name in self._docs

    def put(self, doc: SearchDocument) -> None:
        """Add or replace the document of ``doc.name``."""
        self.remove(doc.name)
        self._docs[doc.name] = doc
        for group, tokens in doc.groups.items():
            postings = self._postings[group]
            for token in tokens:
                bucket = postings.get(token)
                if bucket is None:
                    postings[token] = {doc.name}
                    self._sorted_tokens.pop(group, None)
                else:
                    bucket.add(doc.name)

    def remove(self, name: str) -> None:
        doc = self._docs.pop(name, None)
        if doc is None:
            return
        for group, tokens in doc.groups.items():
            postings = self._postings[group]
            for token in tokens:
                bucket = postings.get(token)
                if bucket is not None:
                    bucket.discard(name)
                    if not bucket:
                        del postings[token]
                        self._sorted_tokens.pop(group, None)

    def _tokens(self, group: str) -> list[str]:
        tokens = self._sorted_tokens.get(group)
        if tokens is None:
            tokens = sorted(self._postings[group])
            self._sorted_tokens[group] = tokens
        return tokens

    def _prefix_matches(self, group: str, term: str) -> Iterable[str]:
        """Tokens of ``group`` that start with ``term`` and are longer than it."""
        tokens = self._tokens(group)
        i = bisect_left(tokens, term)
        while i < len(tokens) and tokens[i].startswith(term):
            if tokens[i] != term:
                yield tokens[i]
            i += 1

    def _term_scores(self, term: str) -> dict[str, float]:
        scores: dict[str, float] = {}
        name_postings = self._postings["name"]
        for name in name_postings.get(term, ()):
            scores[name] = scores.get(name, 0.0) + _NAME_TOKEN
        for token in self._prefix_matches("name", term):
            for name in name_postings[token]:
                scores[name] = scores.get(name, 0.0) + _NAME_TOKEN_PREFIX
        for group, weight in _FIELD_WEIGHTS.items():
            postings = self._postings[group]
            for name in postings.get(term, ()):
                scores[name] = scores.get(name, 0.0) + weight
            for token in self._prefix_matches(group, term):
                for name in postings[token]:
                    scores[name] = scores.get(name, 0.0) + weight * _PREFIX_FACTOR
        return scores

    def search(self, query: str, *, within: Set[str] | None = None) -> list[SearchHit]:
        """Every name matching all query terms, best first. ``within`` restricts the
        candidates (the result of filters)."""
        terms = tokenize(query)
        if not terms:
            return []
        combined: dict[str, float] | None = None
        for term in dict.fromkeys(terms):
            scores = self._term_scores(term)
            if combined is None:
                combined = scores
            else:
                combined = {name: combined[name] + s for name, s in scores.items() if name in combined}
            if not combined:
                return []
        assert combined is not None
        whole = query.strip().lower()
        hits = []
        for name, score in combined.items():
            if within is not None and name not in within:
                continue
            if name == whole:
                score += _EXACT_NAME
            elif name.startswith(whole):
                score += _NAME_PREFIX
            hits.append(SearchHit(name=name, score=score))
        hits.sort(key=lambda h: (-h.score, h.name))
        return hits
