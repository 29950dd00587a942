"""YAML to plain data through libyaml's composer and our own node walk.

libyaml (``yaml.CSafeLoader``'s parser) scans, parses and composes the node graph; we never
run a PyYAML constructor. Walking the nodes ourselves is where everything a definition must not
contain is caught, with the exact node position: duplicate keys, non-string keys, explicit
tags (nothing is ever constructed or executed), alias bombs and cycles, nesting beyond
``max_depth`` and numbers JSON cannot carry.

Scalars resolve like ``yaml.safe_load`` (YAML 1.1 core types: str, int, float, bool,
null) except timestamps, which stay the strings they were written as. ``<<`` merge keys are
supported with YAML's merge semantics: the mapping's own keys win, then earlier merge
sources over later ones; a duplicate is only ever a key written twice in the same mapping.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

from nestor_catalog_core.loading._documents import LoadOptions, Position, load_finding
from nestor_catalog_core.models.findings import Finding

__all__ = ["ComposedDocument", "YamlLocator", "byte_position", "compose_documents", "compose_one"]

_TAG_PREFIX: Final = "tag:yaml.org,2002:"
_STR: Final = _TAG_PREFIX + "str"
_INT: Final = _TAG_PREFIX + "int"
_FLOAT: Final = _TAG_PREFIX + "float"
_BOOL: Final = _TAG_PREFIX + "bool"
_NULL: Final = _TAG_PREFIX + "null"
_TIMESTAMP: Final = _TAG_PREFIX + "timestamp"
_VALUE: Final = _TAG_PREFIX + "value"
_MERGE: Final = _TAG_PREFIX + "merge"
_MAP: Final = _TAG_PREFIX + "map"
_SEQ: Final = _TAG_PREFIX + "seq"
_TEXT_KEY_TAGS: Final = frozenset({_STR, _TIMESTAMP, _VALUE})
_NON_STRING_KEY_TAGS: Final = {_INT: "an integer", _FLOAT: "a number", _BOOL: "a boolean", _NULL: "null"}

_LINE_BREAK: Final = re.compile("\r\n|[\r\n\x85\u2028\u2029]")

_constructor = SafeConstructor()


_Implicit = tuple[tuple[str, re.Pattern[str]], ...]


def _implicit_table() -> tuple[dict[str, _Implicit], _Implicit]:
    resolvers = Resolver.yaml_implicit_resolvers
    wildcard = tuple(resolvers.get(None, []))
    table = {first: (*entries, *wildcard) for first, entries in resolvers.items() if first is not None}
    return table, wildcard


_IMPLICIT, _IMPLICIT_ANY = _implicit_table()


class _Parser(yaml.CBaseLoader):
    """libyaml's parser and composer with ``yaml.SafeLoader``'s tag resolution, minus the
    rest: its constructor is never called (nothing is ever built from a tag) and there are
    no path resolvers, whose per-node hooks cost a fifth of composing a definition.
    ``resolve`` gives exactly the tags ``Resolver.resolve`` gives (the tests compare them)."""

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        return None

    def ascend_resolver(self) -> None:
        return None

    def resolve(self, kind: type[Node], value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is ScalarNode:
            if implicit[0]:
                return _resolve_plain(value)
            return _STR
        return _SEQ if kind is SequenceNode else _MAP


_PLAIN_TAGS: dict[str, str] = {}
_PLAIN_TAGS_LIMIT: Final = 8192


def _resolve_plain(value: str) -> str:
    """The tag of a plain scalar, remembered for short ones: keys and type names repeat in
    every definition, and a dict lookup is much cheaper than the resolver's regexes."""
    tag = _PLAIN_TAGS.get(value)
    if tag is not None:
        return tag
    tag = _STR
    for candidate, pattern in _IMPLICIT.get(value[:1], _IMPLICIT_ANY):
        if pattern.match(value):
            tag = candidate
            break
    if len(value) <= 40 and len(_PLAIN_TAGS) < _PLAIN_TAGS_LIMIT:
        _PLAIN_TAGS[value] = tag
    return tag


def compose_one(data: bytes | str) -> Node | None:
    """The node graph of a single-document stream (raises ``yaml.YAMLError``)."""
    parser = _Parser(data)
    try:
        return parser.get_single_node()
    finally:
        parser.dispose()


def _null(node: ScalarNode) -> None:
    return None


def _text(node: ScalarNode) -> str:
    return str(node.value)


_SCALARS: Final[dict[str, Callable[[ScalarNode], Any]]] = {
    _STR: _text,
    _TIMESTAMP: _text,
    _VALUE: _text,
    _MERGE: _text,
    _NULL: _null,
    _BOOL: _constructor.construct_yaml_bool,
    _INT: _constructor.construct_yaml_int,
    _FLOAT: _constructor.construct_yaml_float,
}


def _mark(node: Node) -> Position:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


def _short_tag(tag: str) -> str:
    return "!!" + tag.removeprefix(_TAG_PREFIX) if tag.startswith(_TAG_PREFIX) else tag


def _preview(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Abort(Exception):
    """Stops a document whose walk cannot go on safely (bomb, cycle, depth)."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.message)
        self.finding = finding


class _Builder:
    """Builds plain data from one document's node graph, collecting findings as it goes.

    Alias accounting is only switched on (``track``) when the text contains ``*``: without
    an alias token no node can be shared, and the common case keeps its tight loop.
    """

    def __init__(self, file: str, options: LoadOptions, *, track: bool) -> None:
        self.file = file
        self.findings: list[Finding] = []
        self._track = track
        self._max_depth = options.max_depth
        self._node_budget = options.max_alias_expansion
        self._char_budget = options.max_file_size
        self._seen: set[int] = set()
        self._stack: set[int] = set()
        self._expanding = 0
        self._expanded_nodes = 0
        self._expanded_chars = 0

    def build(self, node: Node, depth: int = 0) -> Any:
        if node.__class__ is ScalarNode:
            if self._track:
                self._account_scalar(node)
            if node.tag == _STR:
                return node.value
            return self._scalar(node)
        if depth >= self._max_depth:
            self._abort(
                "NESTING_TOO_DEEP",
                f"nesting deeper than {self._max_depth} levels; definitions never need that much",
                node,
            )
        if self._track:
            return self._build_tracked(node, depth)
        return self._build_collection(node, depth)

    def _build_collection(self, node: Node, depth: int) -> Any:
        if node.__class__ is MappingNode:
            if node.tag != _MAP:
                self._tag(node)
                return None
            return self._mapping(node, depth + 1)
        if node.tag != _SEQ:
            self._tag(node)
            return None
        inner = depth + 1
        return [self.build(item, inner) for item in node.value]

    def _build_tracked(self, node: Node, depth: int) -> Any:
        key = id(node)
        if key in self._stack:
            self._abort(
                "YAML_ALIAS_BOMB", "recursive alias: this node contains an alias to itself, which never ends", node
            )
        reused = key in self._seen
        if reused:
            self._expanding += 1
        else:
            self._seen.add(key)
        if self._expanding:
            self._charge(node, 0)
        self._stack.add(key)
        try:
            return self._build_collection(node, depth)
        finally:
            self._stack.discard(key)
            if reused:
                self._expanding -= 1

    def _account_scalar(self, node: ScalarNode) -> None:
        key = id(node)
        if self._expanding or key in self._seen:
            self._charge(node, len(node.value))
        else:
            self._seen.add(key)

    def _charge(self, node: Node, chars: int) -> None:
        self._expanded_nodes += 1
        self._expanded_chars += chars
        if self._expanded_nodes > self._node_budget or self._expanded_chars > self._char_budget:
            self._abort(
                "YAML_ALIAS_BOMB",
                f"aliases expand to more than {self._node_budget:,} nodes or {self._char_budget:,} characters "
                f"(the anchor expanded last is at line {node.start_mark.line + 1}); write the values out or "
                "use fewer aliases",
                node,
            )

    def _mapping(self, node: MappingNode, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        merges: list[Node] | None = None
        for key_node, value_node in node.value:
            if key_node.__class__ is ScalarNode and key_node.tag in _TEXT_KEY_TAGS:
                if self._track:
                    self._account_scalar(key_node)
                key = key_node.value
            elif key_node.tag == _MERGE:
                merges = [value_node] if merges is None else [*merges, value_node]
                continue
            else:
                self._bad_key(key_node)
                continue
            value = self.build(value_node, depth)
            if key in result:
                self._duplicate(node, key_node, key)
            else:
                result[key] = value
        if merges is not None:
            self._merge(result, merges, depth)
        return result

    def _merge(self, result: dict[str, Any], merges: list[Node], depth: int) -> None:
        for value_node in merges:
            sources = value_node.value if value_node.__class__ is SequenceNode else [value_node]
            for source in sources:
                if source.__class__ is not MappingNode:
                    self._add(
                        "YAML_SYNTAX",
                        "a '<<' merge key takes a mapping or a list of mappings (usually an alias like *defaults)",
                        source,
                    )
                    continue
                merged = self.build(source, depth)
                if isinstance(merged, dict):
                    for key, value in merged.items():
                        result.setdefault(key, value)

    def _scalar(self, node: ScalarNode) -> Any:
        tag = node.tag
        convert = _SCALARS.get(tag)
        if convert is None:
            self._tag(node)
            return None
        try:
            value = convert(node)
        except (ValueError, KeyError) as exc:
            if "digits" in str(exc):
                self._add("NUMBER_OUT_OF_RANGE", f"integer {_preview(node.value)!r} has too many digits", node)
            else:
                self._add(
                    "YAML_TAG",
                    f"{_preview(node.value)!r} is not a valid {_short_tag(tag)} value; remove the tag",
                    node,
                )
            return None
        if value.__class__ is float and not math.isfinite(value):
            self._add(
                "NUMBER_OUT_OF_RANGE",
                f"{node.value!r} is not a finite number; JSON cannot carry infinities or NaN",
                node,
            )
            return None
        return value

    def _bad_key(self, key_node: Node) -> None:
        reads_as = _NON_STRING_KEY_TAGS.get(key_node.tag)
        if key_node.__class__ is ScalarNode and reads_as is not None:
            self._add("NON_STRING_KEY", f"key {key_node.value!r} reads as {reads_as}, not a string; quote it", key_node)
        elif key_node.__class__ is ScalarNode:
            self._tag(key_node)
        else:
            self._add("NON_STRING_KEY", "mapping keys must be strings, not lists or mappings", key_node)

    def _duplicate(self, mapping: MappingNode, key_node: Node, key: str) -> None:
        first = next(k for k, _ in mapping.value if k.__class__ is ScalarNode and k.value == key)
        self._add(
            "DUPLICATE_KEY",
            f"duplicate key {key!r} (first at line {first.start_mark.line + 1}): a key may appear once per "
            "mapping, and parsers would silently keep only one",
            key_node,
        )

    def _tag(self, node: Node) -> None:
        self._add(
            "YAML_TAG",
            f"YAML tag {_short_tag(node.tag)!r} is not allowed: definitions are plain data and nothing is ever "
            "constructed; remove the tag",
            node,
        )

    def _add(self, rule: str, message: str, node: Node) -> None:
        self.findings.append(load_finding(rule, message, self.file, _mark(node)))

    def _abort(self, rule: str, message: str, node: Node) -> None:
        raise _Abort(load_finding(rule, message, self.file, _mark(node)))


@dataclass(frozen=True, slots=True)
class YamlLocator:
    """Finds positions by walking the composed node graph along a data path, on demand."""

    root: Node

    def locate(self, path: Sequence[str | int], *, key: bool) -> Position:
        node = self.root
        key_node: Node | None = None
        for part in path:
            step = _child(node, part)
            if step is None:
                key = False
                break
            node, key_node = step
        if key_node is not None and (key or node.__class__ is not ScalarNode):
            return _mark(key_node)
        return _mark(node)


def _child(node: Node, part: str | int) -> tuple[Node, Node | None] | None:
    if node.__class__ is SequenceNode:
        items = node.value
        if isinstance(part, int) and 0 <= part < len(items):
            return items[part], None
        return None
    if node.__class__ is MappingNode:
        return _mapping_child(node, part, 0)
    return None


def _mapping_child(node: Node, part: str | int, hops: int) -> tuple[Node, Node | None] | None:
    if hops > 32:
        return None
    merges: list[Node] = []
    for key_node, value_node in node.value:
        if key_node.__class__ is ScalarNode:
            if key_node.tag == _MERGE:
                merges.append(value_node)
            elif key_node.value == part:
                return value_node, key_node
    for merge in merges:
        sources = merge.value if merge.__class__ is SequenceNode else [merge]
        for source in sources:
            if source.__class__ is MappingNode:
                found = _mapping_child(source, part, hops + 1)
                if found is not None:
                    return found
    return None


@dataclass(slots=True)
class ComposedDocument:
    """One document of a stream: its index, node graph, plain data and findings."""

    index: int
    root: Node
    data: Any
    findings: list[Finding]


def compose_documents(data: bytes, file: str, options: LoadOptions) -> Iterator[ComposedDocument | Finding]:
    """Each document of a YAML stream as plain data with its findings, or a syntax finding.

    A syntax error ends the stream (libyaml cannot resynchronise); the documents before it
    have already been yielded.
    """
    track = b"*" in data
    loader = _Parser(data)
    index = 0
    try:
        while True:
            try:
                if not loader.check_node():
                    return
                root = loader.get_node()
                if root is None:
                    return
            except yaml.YAMLError as exc:
                yield _syntax_finding(exc, data, file)
                return
            builder = _Builder(file, options, track=track)
            try:
                value = builder.build(root)
            except _Abort as abort:
                yield ComposedDocument(index, root, None, [*builder.findings, abort.finding])
            else:
                yield ComposedDocument(index, root, value, builder.findings)
            index += 1
    finally:
        loader.dispose()


def _syntax_finding(exc: yaml.YAMLError, data: bytes, file: str) -> Finding:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        message = exc.problem or "invalid YAML"
        context = exc.context_mark
        if exc.context and context is not None and context.line != mark.line:
            message += f" ({exc.context} that started at line {context.line + 1}, column {context.column + 1})"
        elif exc.context:
            message += f" ({exc.context})"
        tab = _indentation_tab(data, mark.line, mark.column)
        if tab is not None:
            message = (
                "a tab in the indentation: YAML does not allow tabs for indentation; indent with spaces "
                f"(the parser said: {message})"
            )
            return load_finding("YAML_SYNTAX", message, file, (mark.line + 1, tab + 1))
        return load_finding("YAML_SYNTAX", message, file, _within(data, mark.line + 1, mark.column + 1))
    position = getattr(exc, "position", None)
    reason = getattr(exc, "reason", None) or str(exc).split("\n", 1)[0]
    where = byte_position(data, position) if isinstance(position, int) else (1, 1)
    return load_finding("YAML_SYNTAX", f"invalid character: {reason}", file, where)


def _indentation_tab(data: bytes, line: int, column: int) -> int | None:
    """The 0-based column of a tab in the leading whitespace of ``line`` (0-based) when the
    error at ``column`` lies within or right after that whitespace: libyaml's messages for it
    ("found character that cannot start any token") do not say tabs are the problem."""
    lines = _LINE_BREAK.split(data.decode("utf-8", "replace"))
    if line >= len(lines):
        return None
    text = lines[line]
    indent = len(text) - len(text.lstrip(" \t"))
    tab = text.find("\t", 0, indent)
    if tab == -1 or column > indent:
        return None
    return tab


def _within(data: bytes, line: int, column: int) -> Position:
    """libyaml reports errors at end of input one line past a missing final newline; editors
    and annotations need a line that exists, so such positions move to the end of the text."""
    lines = _LINE_BREAK.split(data.decode("utf-8", "replace"))
    if line <= len(lines):
        return (line, column)
    return (len(lines), len(lines[-1]) + 1)


def byte_position(data: bytes, offset: int) -> Position:
    """1-based (line, column in characters) of a byte offset in UTF-8 data."""
    offset = max(0, min(offset, len(data)))
    line_start = data.rfind(b"\n", 0, offset) + 1
    line = data.count(b"\n", 0, offset) + 1
    column = len(data[line_start:offset].decode("utf-8", "replace")) + 1
    return (line, column)
