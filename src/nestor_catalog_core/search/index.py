"""Ranked full-text search over the latest version of every name.

Ranking (DESIGN.md): exact name > name prefix > name token > other fields (description,
provider, category, resource_type, input/output names, maintainers, labels). Every query
term must match something (AND); a term matches a token exactly or as a prefix, exact
matches scoring higher. Ties sort by name so results are stable.

The index maps each token to the names it occurs in with a precomputed score (the sum of
the weights of the field groups it occurs in), plus a sorted token list for prefix lookups
(rebuilt lazily after changes). Ranked results are cached per query and dropped whenever
the index changes.
"""

from __future__ import annotations

import sys
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Final

__all__ = ["SearchDocument", "SearchHit", "SearchIndex", "tokenize"]


# Scores per match kind; ordered so that the DESIGN ranking holds for one-term queries.
_EXACT_NAME = 10_000
_NAME_PREFIX = 2_000
_GROUP_WEIGHTS = {"name": 400.0, "type": 40.0, "text": 12.0, "io": 20.0, "people": 8.0}
_PREFIX_FACTOR = 0.4
_MIN_PREFIX = 2  # shorter terms match whole tokens only
_CACHE_SIZE = 512


#: Bytes to keep as they are (a-z, 0-9); everything else becomes a space.
_SEPARATE: Final = bytes(b if (48 <= b <= 57 or 97 <= b <= 122) else 32 for b in range(256))
#: ``_SEPARATE`` that lower-cases A-Z too: ``str.lower`` of an ASCII text only maps A-Z.
_LOWER_SEPARATE: Final = bytes(b + 32 if 65 <= b <= 90 else _SEPARATE[b] for b in range(256))


def tokenize(text: str) -> list[str]:
    """The runs of ``[a-z0-9]`` in ``text`` lower-cased: the same list as
    ``re.findall(r"[a-z0-9]+", text.lower())``, in about half the time (a cold start tokenizes
    every name's latest document): every other character, the bytes of non-ASCII ones
    included, becomes a space in one ``bytes.translate``, then ``split``. An ASCII text (the
    usual one) is lower-cased by the same translation instead of a ``str.lower`` first."""
    if text.isascii():
        return text.encode("ascii").translate(_LOWER_SEPARATE).decode("ascii").split()
    return text.lower().encode("utf-8", "surrogatepass").translate(_SEPARATE).decode("ascii").split()


@dataclass(frozen=True, slots=True)
class SearchDocument:
    """What is searchable about one name (taken from its latest version)."""

    name: str
    groups: dict[str, frozenset[str]] = field(default_factory=dict)

    @classmethod
    def from_definition_dict(cls, data: Mapping[str, Any]) -> SearchDocument:
        """Build from a definition's JSON data (no model parsing needed). Each group's texts
        are joined and tokenized once (``tokenize`` of texts joined by a space is the
        concatenation of theirs)."""
        meta = data.get("metadata", {})
        spec = data.get("spec", {})
        name = str(meta.get("name", ""))
        io_texts: list[str] = []
        for key in ("required_inputs", "optional_inputs", "outputs"):
            for item in spec.get(key, []) or []:
                io_texts.append(str(item.get("name", "")))
                io_texts.append(str(item.get("description", "")))
        labels = meta.get("labels", {}) or {}
        groups = {
            "name": _token_set(name),
            "type": _token_set(
                " ".join(
                    [
                        str(meta.get("provider", "")),
                        str(meta.get("category", "")),
                        str(meta.get("resource_type", "")),
                        *map(str, spec.get("supported_engines", []) or []),
                    ]
                )
            ),
            "text": _token_set(str(meta.get("description", ""))),
            "io": _token_set(" ".join(io_texts)),
            "people": _token_set(
                " ".join([*map(str, meta.get("maintainers", []) or []), *(f"{k} {v}" for k, v in labels.items())])
            ),
        }
        return cls(name=name, groups=groups)


def _token_set(text: str) -> frozenset[str]:
    return frozenset(tokenize(text))


@dataclass(frozen=True, slots=True)
class SearchHit:
    name: str
    score: float


class SearchIndex:
    """Inverted index: token -> {name: score}, the score summing the weights of the field
    groups the token appears in for that name. A query term costs one dict copy for its
    exact matches plus one merge per longer token it prefixes; results are cached per
    query until the index changes."""

    def __init__(self) -> None:
        # name -> its tokens (the keys of its postings): all ``remove`` needs. Tokens are
        # interned and weights shared, so 10,000 documents hold one copy of each distinct
        # token and score instead of ~65 strings and floats each (tracemalloc: the index
        # was half the read model's memory, most of it duplicate tokens).
        self._docs: dict[str, tuple[str, ...]] = {}
        self._postings: dict[str, dict[str, float]] = {}
        self._scores: dict[float, float] = {}
        self._sorted_tokens: list[str] | None = None
        self._sorted_names: list[str] | None = None
        self._generation = 0
        self._cache: OrderedDict[tuple[str, frozenset[str] | None], list[tuple[str, float]]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._docs)

    def __contains__(self, name: object) -> bool:
        return name in self._docs

    def _weights(self, doc: SearchDocument) -> dict[str, float]:
        """Token -> the summed weights of the groups it occurs in. The inputs and outputs
        (most of a document's tokens) are weighed in one ``dict.fromkeys``, the other
        groups token by token. A token in one group gets that group's weight object
        itself; a sum is shared through ``_scores`` (one float object per distinct weight;
        the weights are whole numbers, so a sum is the same in any order)."""
        scores = self._scores
        groups = doc.groups
        io = groups.get("io")
        weights: dict[str, float] = dict.fromkeys(io, _GROUP_WEIGHTS["io"]) if io else {}
        get = weights.get
        for group, tokens in groups.items():
            if group == "io":
                continue
            weight = _GROUP_WEIGHTS[group]
            for token in tokens:
                known = get(token)
                if known is None:
                    weights[token] = weight
                else:
                    total = known + weight
                    weights[token] = scores.setdefault(total, total)
        return weights

    def clear_cache(self) -> None:
        """Drop cached rankings (they are dropped on every change anyway)."""
        self._cache.clear()

    def _changed(self) -> None:
        self._generation += 1
        self._cache.clear()

    def put(self, doc: SearchDocument) -> None:
        """Add or replace the document of ``doc.name``."""
        self.put_many((doc,))

    def put_many(self, docs: Iterable[SearchDocument]) -> None:
        """Add or replace each document (a bulk build: the sorted views and the cached
        rankings are dropped once, not per document)."""
        postings = self._postings
        known = self._docs
        intern = sys.intern
        new_token = False
        for doc in docs:
            if doc.name in known:
                self.remove(doc.name)
            name = intern(doc.name)
            tokens = []
            for token, score in self._weights(doc).items():
                token = intern(token)
                try:
                    postings[token][name] = score
                except KeyError:
                    postings[token] = {name: score}
                    new_token = True
                tokens.append(token)
            known[name] = tuple(tokens)
        if new_token:
            self._sorted_tokens = None
        self._sorted_names = None
        self._changed()

    def remove(self, name: str) -> None:
        tokens = self._docs.pop(name, None)
        if tokens is None:
            return
        self._sorted_names = None
        for token in tokens:
            bucket = self._postings.get(token)
            if bucket is not None:
                bucket.pop(name, None)
                if not bucket:
                    del self._postings[token]
                    self._sorted_tokens = None
        self._changed()

    def _prefixed(
        self, sorted_items: list[str] | None, source: Iterable[str], term: str
    ) -> tuple[list[str], list[str]]:
        items = sorted_items if sorted_items is not None else sorted(source)
        out = []
        i = bisect_left(items, term)
        while i < len(items) and items[i].startswith(term):
            out.append(items[i])
            i += 1
        return items, out

    def _term_scores(self, term: str) -> dict[str, float]:
        scores = dict(self._postings.get(term, {}))
        if len(term) < _MIN_PREFIX:
            return scores
        self._sorted_tokens, longer = self._prefixed(self._sorted_tokens, self._postings, term)
        for token in longer:
            if token == term:
                continue
            for name, weight in self._postings[token].items():
                scores[name] = scores.get(name, 0.0) + weight * _PREFIX_FACTOR
        return scores

    def rank(self, query: str, *, within: AbstractSet[str] | None = None) -> list[tuple[str, float]]:
        """``(name, score)`` of every name matching all query terms, best first, ties by
        name. ``within`` restricts the candidates (the result of filters)."""
        terms = list(dict.fromkeys(tokenize(query)))
        if not terms:
            return []
        key = (query.strip().lower(), frozenset(within) if within is not None else None)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        combined = self._term_scores(terms[0])
        for term in terms[1:]:
            if not combined:
                break
            scores = self._term_scores(term)
            combined = {name: combined[name] + s for name, s in scores.items() if name in combined}
        if within is not None and combined:
            combined = {name: s for name, s in combined.items() if name in within}
        whole = key[0]
        if combined:
            if whole in combined:
                combined[whole] += _EXACT_NAME
            self._sorted_names, prefixed = self._prefixed(self._sorted_names, self._docs, whole)
            for name in prefixed:
                if name != whole and name in combined:
                    combined[name] += _NAME_PREFIX
        ranked = sorted(combined.items(), key=itemgetter(0))
        ranked.sort(key=itemgetter(1), reverse=True)
        self._cache[key] = ranked
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return ranked

    def search(self, query: str, *, within: AbstractSet[str] | None = None) -> list[SearchHit]:
        """``rank`` as ``SearchHit`` objects (convenient for small results)."""
        return [SearchHit(name, score) for name, score in self.rank(query, within=within)]
