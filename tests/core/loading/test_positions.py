"""Positions against real files: hand-checked ones, and every path of every example compared
with an independent walk over PyYAML's pure-Python composer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from nestor_catalog_core.loading import LoadedDocument, load_bytes, load_file

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
EXAMPLE_FILES = sorted(p for p in EXAMPLES.glob("*") if p.suffix in {".yaml", ".yml", ".json"})

Path_ = tuple[str | int, ...]


def leaf_paths(data: Any, prefix: Path_ = ()) -> Iterator[Path_]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield (*prefix, key)
            yield from leaf_paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield (*prefix, index)
            yield from leaf_paths(value, (*prefix, index))


def pure_python_position(root: yaml.Node, path: Path_, *, key: bool) -> tuple[int, int]:
    """The same rule as ``LoadedDocument.position`` for existing paths, from another parser."""
    node = root
    key_node = None
    for part in path:
        if isinstance(node, yaml.SequenceNode):
            node, key_node = node.value[part], None  # type: ignore[index]
        else:
            key_node, node = next((k, v) for k, v in node.value if k.value == part)
    if key_node is not None and (key or not isinstance(node, yaml.ScalarNode)):
        return key_node.start_mark.line + 1, key_node.start_mark.column + 1
    return node.start_mark.line + 1, node.start_mark.column + 1


def documents(path: Path) -> list[LoadedDocument]:
    result = load_file(path)
    assert result.findings == []
    return result.documents


def test_hand_checked_positions_in_the_spec_example() -> None:
    document = documents(EXAMPLES / "aws-rds-mysql-1.2.0.yaml")[0]
    lines = (EXAMPLES / "aws-rds-mysql-1.2.0.yaml").read_text().splitlines()
    assert lines[19] == "    - name: instance_class"
    assert document.position(("spec", "required_inputs", 0, "name")) == (20, 13)
    assert document.position(("spec", "required_inputs", 0, "name"), key=True) == (20, 7)
    assert lines[23] == '        pattern: "^db\\\\.[a-z0-9]+\\\\.[a-z]+$"'
    assert document.position(("spec", "required_inputs", 0, "validation", "pattern")) == (24, 18)
    assert document.position(("metadata", "version")) == (6, 12)
    assert document.position(("spec", "required_inputs")) == (19, 3)
    assert document.position(("spec", "required_inputs", 1)) == (26, 7)
    assert document.position(("metadata", "resource_type", "missing")) == (9, 18)
    assert document.position(("metadata", "owner")) == (4, 1)
    assert document.position(("spec", "outputs", 9, "name")) == (44, 3)
    assert document.position(()) == (2, 1)


@pytest.mark.parametrize("path", [p for p in EXAMPLE_FILES if p.suffix != ".json"], ids=lambda p: p.name)
def test_every_path_of_every_example_matches_an_independent_parser(path: Path) -> None:
    roots = list(yaml.compose_all(path.read_text(), Loader=yaml.SafeLoader))
    roots = [root for root in roots if root is not None and not (isinstance(root, yaml.ScalarNode))]
    loaded = documents(path)
    assert len(loaded) == len(roots)
    for document, root in zip(loaded, roots, strict=True):
        for data_path in leaf_paths(document.data):
            for key in (False, True):
                assert document.position(data_path, key=key) == pure_python_position(root, data_path, key=key), (
                    data_path,
                    key,
                )


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_key_positions_point_at_the_key_text(path: Path) -> None:
    lines = path.read_text().splitlines()
    for document in documents(path):
        for data_path in leaf_paths(document.data):
            if isinstance(data_path[-1], str):
                line, column = document.position(data_path, key=True)
                text = lines[line - 1][column - 1 :]
                assert text.lstrip('"').startswith(data_path[-1]), (data_path, text)


def test_json_example_positions_match_its_yaml_reading() -> None:
    path = EXAMPLES / "gcp-pubsub-topic-1.2.0.json"
    document = documents(path)[0]
    root = yaml.compose(path.read_text(), Loader=yaml.SafeLoader)
    for data_path in leaf_paths(document.data):
        assert document.position(data_path) == pure_python_position(root, data_path, key=False)


def test_columns_count_characters_not_bytes() -> None:
    document = load_bytes("apiVersion: catalog.nestor.io/v1\nd: 'héllo wörld' \nx: 1\nü: ö\n".encode()).documents[0]
    assert document.position(("x",)) == (3, 4)
    assert document.position(("ü",)) == (4, 4)
