"""Reading files and trees: suffixes, order, hidden entries, symlinks, limits, ignore files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nestor_catalog_core.loading import LoadOptions, discover, ignored_below, iter_load, load_file

DEFINITION = "apiVersion: catalog.nestor.io/v1\nkind: ResourceDefinition\nmetadata: {{name: {name}}}\n"


def write(path: Path, name: str = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(DEFINITION.format(name=name))
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "defs"
    write(root / "b.yaml", "b")
    write(root / "a.yml", "a")
    (root / "c.json").write_text('{"apiVersion": "catalog.nestor.io/v1", "kind": "ResourceDefinition"}')
    write(root / "nested" / "deeper" / "d.YAML", "d")
    write(root / "notes.txt")
    write(root / ".hidden.yaml")
    write(root / ".git" / "config.yaml")
    write(root / "nested" / ".cache" / "e.yaml")
    return root


def relative(paths: list[Path], root: Path) -> list[str]:
    return [p.relative_to(root).as_posix() for p in paths]


def test_discover_walks_sorted_and_skips_hidden_and_other_suffixes(tree: Path) -> None:
    assert relative(discover([tree]), tree) == ["a.yml", "b.yaml", "c.json", "nested/deeper/d.YAML"]


def test_iter_load_reads_each_file_once_with_its_display_path(tree: Path) -> None:
    results = list(iter_load([tree, tree / "a.yml"]))
    assert [r.file for r in results] == [
        str(tree / "a.yml"),
        str(tree / "b.yaml"),
        str(tree / "c.json"),
        str(tree / "nested" / "deeper" / "d.YAML"),
    ]
    assert all(r.findings == [] for r in results)
    assert results[0].documents[0].data["metadata"] == {"name": "a"}


def test_explicit_files_are_read_whatever_their_suffix(tree: Path) -> None:
    result = load_file(tree / "notes.txt", display="notes")
    assert result.file == "notes"
    assert result.documents[0].data["metadata"] == {"name": "x"}


def test_missing_and_unreadable_files_are_findings(tmp_path: Path) -> None:
    missing = load_file(tmp_path / "nope.yaml")
    assert [(f.rule, f.line, f.column) for f in missing.findings] == [("FILE_UNREADABLE", 1, 1)]
    assert "No such file" in missing.findings[0].message
    directory = load_file(tmp_path)
    assert [f.rule for f in directory.findings] == ["FILE_UNREADABLE"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads everything")
def test_permission_denied_is_a_finding(tmp_path: Path) -> None:
    locked = write(tmp_path / "locked.yaml")
    locked.chmod(0)
    try:
        result = load_file(locked)
    finally:
        locked.chmod(0o644)
    assert [f.rule for f in result.findings] == ["FILE_UNREADABLE"]
    assert "Permission denied" in result.findings[0].message


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    result = load_file(fifo)
    assert [f.rule for f in result.findings] == ["FILE_UNREADABLE"]
    assert "not a regular file" in result.findings[0].message


def test_size_limit_is_checked_before_reading(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#234\n" * 1000)
    result = load_file(big, options=LoadOptions(max_file_size=4096))
    assert [f.rule for f in result.findings] == ["FILE_TOO_LARGE"]
    assert "5,000 bytes, over the 4,096 byte limit" in result.findings[0].message
    assert [f.rule for f in load_file(big).findings] == ["EMPTY_DOCUMENT"]


def test_default_size_limit_is_one_mebibyte(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (1024 * 1024 + 1))
    assert [f.rule for f in load_file(big).findings] == ["FILE_TOO_LARGE"]


def test_symlink_leaving_the_tree_is_refused_and_not_read(tmp_path: Path) -> None:
    outside = write(tmp_path / "outside" / "secret.yaml", "secret")
    root = tmp_path / "repo"
    write(root / "ok.yaml", "ok")
    (root / "link.yaml").symlink_to(outside)
    results = {Path(r.file).name: r for r in iter_load([root])}
    assert [(f.rule, f.line) for f in results["link.yaml"].findings] == [("SYMLINK_OUTSIDE_ROOT", 1)]
    assert results["link.yaml"].documents == []
    assert "outside" in results["link.yaml"].findings[0].message
    assert results["ok.yaml"].findings == []


def test_symlinked_directory_leaving_the_tree_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    write(outside / "x.yaml")
    root = tmp_path / "repo"
    root.mkdir()
    (root / "shared").symlink_to(outside, target_is_directory=True)
    results = list(iter_load([root]))
    assert [(Path(r.file).name, [f.rule for f in r.findings]) for r in results] == [
        ("shared", ["SYMLINK_OUTSIDE_ROOT"])
    ]


def test_symlinks_inside_the_tree_are_followed_once(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    write(root / "real" / "x.yaml", "x")
    (root / "alias").symlink_to(root / "real", target_is_directory=True)
    (root / "real" / "loop").symlink_to(root, target_is_directory=True)
    (root / "link.yaml").symlink_to(root / "real" / "x.yaml")
    found = relative(discover([root]), root)
    assert found == ["alias/x.yaml", "link.yaml", "real/x.yaml"]
    assert all(r.findings == [] for r in iter_load([root]))


def test_explicit_root_applies_to_files_named_directly(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    inside = write(root / "in.yaml")
    outside = write(tmp_path / "out.yaml")
    options = LoadOptions(root=root)
    assert load_file(inside, options=options).findings == []
    assert [f.rule for f in load_file(outside, options=options).findings] == ["SYMLINK_OUTSIDE_ROOT"]
    assert [f.rule for r in iter_load([tmp_path], options=options) for f in r.findings] == ["SYMLINK_OUTSIDE_ROOT"]


def test_ignore_file_skips_entries_below_it(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    for name in ("keep.yaml", "draft.wip.yaml", "invalid/bad.yaml", "fixtures/a.yaml", "sub/fixtures/b.yaml"):
        write(root / name)
    (root / ".nestorignore").write_text("# not definitions\ninvalid/\n*.wip.yaml\n/fixtures/*.yaml\n\n")
    assert relative(discover([root]), root) == ["keep.yaml", "sub/fixtures/b.yaml"]
    assert relative(discover([root / "invalid"]), root) == ["invalid/bad.yaml"]


def test_unlistable_directory_is_a_finding(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root lists everything")
    root = tmp_path / "repo"
    locked = root / "locked"
    write(locked / "x.yaml")
    locked.chmod(0)
    try:
        results = list(iter_load([root]))
    finally:
        locked.chmod(0o755)
    assert [(Path(r.file).name, [f.rule for f in r.findings]) for r in results] == [("locked", ["FILE_UNREADABLE"])]


def test_nestorignore_has_gitignore_semantics(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    names = (
        "fixtures/a.yaml",
        "fixtures/sub/a.yaml",
        "deep/fixtures/b.yaml",
        "drafts/x.yaml",
        "drafts/keep.yaml",
        "build/out.yaml",
        "nested/build/out.yaml",
        "build.yaml",
        "keep.yaml",
        "#hash.yaml",
    )
    for name in names:
        write(root / name)
    (root / ".nestorignore").write_text(
        "fixtures/*.yaml\n"  # anchored at the .nestorignore: one level only, not fixtures/sub/ nor deep/fixtures/
        "drafts/*\n!drafts/keep.yaml\n"  # negation re-includes
        "build/\n"  # directories named build at any depth, not the file build.yaml
        "\\#hash.yaml\n"  # an escaped #, not a comment
    )
    assert relative(discover([root]), root) == [
        "build.yaml",
        "deep/fixtures/b.yaml",
        "drafts/keep.yaml",
        "fixtures/sub/a.yaml",
        "keep.yaml",
    ]


def test_a_deeper_nestorignore_overrides_and_ignored_directories_stay_ignored(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    for name in ("a/one.draft.yaml", "a/two.draft.yaml", "b/three.draft.yaml", "gone/x.yaml"):
        write(root / name)
    (root / ".nestorignore").write_text("*.draft.yaml\ngone/\n!gone/x.yaml\n")
    (root / "a" / ".nestorignore").write_text("!one.draft.yaml\n")
    # as in git, a file in an excluded directory cannot be re-included
    assert relative(discover([root]), root) == ["a/one.draft.yaml"]


def test_ignored_below_applies_the_ignore_files_to_a_named_file(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    for name in ("defs/a.yaml", "defs/fixtures/b.yaml", "defs/keep.wip.yaml", "defs/x.wip.yaml"):
        write(root / name)
    (root / ".nestorignore").write_text("fixtures/\n")
    (root / "defs" / ".nestorignore").write_text("*.wip.yaml\n!keep.wip.yaml\n")
    assert [
        name
        for name in ("a.yaml", "fixtures/b.yaml", "keep.wip.yaml", "x.wip.yaml")
        if ignored_below(root / "defs" / name, root)
    ] == ["fixtures/b.yaml", "x.wip.yaml"]
    assert not ignored_below(tmp_path / "elsewhere.yaml", root)
    assert sorted(p.relative_to(root).as_posix() for p in discover([root])) == ["defs/a.yaml", "defs/keep.wip.yaml"]
