"""Large changes load in worker processes (``sync._loaders``): the same outcome as loading in
the server's process, findings placed on the same lines, workers gone after the sync, and a
worker's failure never losing a file. Real repositories (``git`` CLI), real worker processes."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from nestor_catalog_core import Catalog, LoadOptions, LoadResult, MemoryStore, SyncError
from nestor_catalog_server.sync import GitSource, SyncReport
from nestor_catalog_server.sync._change_applier import ChangeApplier
from nestor_catalog_server.sync._loaders import DirectoryLoader, GitBlobLoader, LoadPool, ReloadingLocator
from tests.server.sync.definitions import YAML_SYNTAX_ERROR, definition
from tests.server.sync.harness import repository
from tests.support.git import ServedRepo


def seed(served_repo: ServedRepo, count: int = 9) -> str:
    work = served_repo.work
    for index in range(count):
        work.write(f"resources/r{index}.yaml", definition(f"r{index}", description=f"Resource {index}"))
    work.write("resources/broken.yaml", YAML_SYNTAX_ERROR)
    work.write("resources/bad-policy.yaml", definition("bad-policy").replace("bucket_name", "bucketName"))
    work.write("resources/two.yaml", definition("two-a") + "---\n" + definition("two-b", "2.0.0"))
    return served_repo.publish("seed")


async def sync_with(
    served_repo: ServedRepo, tmp_path: Path, label: str, *, processes: int
) -> tuple[SyncReport, Catalog, GitSource]:
    catalog = Catalog(MemoryStore(f"workers-{label}"))
    await catalog.start()
    # Two files a chunk, so that a dozen files make several chunks: the first loads here, the
    # others in the workers (``processes`` of them), as for a repository of thousands.
    applier = ChangeApplier(catalog, chunk_size=2, load_processes=processes, parallel_min_files=1)
    source = GitSource(
        repository("platform", str(served_repo.bare)),
        catalog,
        applier,
        mirror_dir=tmp_path / label / "mirror.git",
        load_options=catalog.settings.load_options,
    )
    return await source.sync(), catalog, source


def load_workers_of_this_process() -> list[int]:
    """Live child processes running the load worker."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == os.getpid() and b"_load_worker" in cmdline:
            found.append(int(entry))
    return found


@pytest.mark.parametrize("processes", [1, 2])
async def test_workers_give_the_outcome_of_loading_in_process(
    served_repo: ServedRepo, tmp_path: Path, processes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(served_repo)
    expected, in_process, _ = await sync_with(served_repo, tmp_path, "in-process", processes=0)
    started: list[int] = []
    real_submit = LoadPool.submit

    async def counting_submit(self: LoadPool, items: Sequence[tuple[str, str]]) -> asyncio.Future[list[LoadResult]]:
        future = await real_submit(self, items)
        started[:] = [len(self._workers)]
        return future

    monkeypatch.setattr(LoadPool, "submit", counting_submit)
    report, pooled, _ = await sync_with(served_repo, tmp_path, "pooled", processes=processes)
    try:
        assert report.ok
        assert expected.ok
        assert started == [processes]  # the pooled sync did use its workers
        assert report.counts == expected.counts
        assert (report.counts.loaded, report.counts.published, report.counts.rejected) == (12, 11, 2)
        # Findings found in a worker (YAML syntax) and in this process on a worker's document
        # (a policy, positioned by loading the file again here) are the same, line for line.
        assert report.findings == expected.findings
        [policy] = report.findings["resources/bad-policy.yaml"]
        assert (policy["rule"], policy["line"], policy["column"]) == ("INPUT_NAME_SNAKE_CASE", 15, 13)
        [syntax] = report.findings["resources/broken.yaml"]
        assert (syntax["rule"], syntax["line"]) == ("YAML_SYNTAX", 6)
        published = {(e.name, e.version, e.digest) for e in pooled.snapshot()[1]}
        assert published == {(e.name, e.version, e.digest) for e in in_process.snapshot()[1]}
        assert len(published) == 11
        assert load_workers_of_this_process() == []  # stopped with the sync
    finally:
        await pooled.close()
        await in_process.close()


async def test_a_worker_error_loads_the_chunk_here_and_surfaces_as_without_workers(
    served_repo: ServedRepo, tmp_path: Path
) -> None:
    """A blob the mirror lacks fails in the worker; the chunk is loaded again in this process,
    where the same ``SyncError`` fails the sync, as it does with no worker at all."""
    head = seed(served_repo, count=3)
    catalog = Catalog(MemoryStore("workers-error"))
    await catalog.start()
    source = GitSource(
        repository("platform", str(served_repo.bare)),
        catalog,
        ChangeApplier(catalog, chunk_size=1, load_processes=1, parallel_min_files=1),
        mirror_dir=tmp_path / "mirror.git",
        load_options=catalog.settings.load_options,
    )
    try:
        await source.sync()  # the mirror now holds the seed
        loader = GitBlobLoader(source.spec, tmp_path / "mirror.git", LoadOptions())
        pool = LoadPool(loader, 1)
        good = served_repo.work.run("rev-parse", f"{head}:resources/r0.yaml").strip()
        try:
            first = await pool.submit([("resources/r0.yaml", good)])
            missing = await pool.submit([("resources/gone.yaml", "0" * 40)])
            after = await pool.submit([("resources/r0.yaml", good)])
            [result] = await first
            assert [d.data["metadata"]["name"] for d in result.documents] == ["r0"]
            assert isinstance(result.documents[0].locator, ReloadingLocator)
            assert result.documents[0].position(("metadata", "name")) == (4, 9)  # loaded again here
            with pytest.raises(RuntimeError, match="SyncError"):
                await missing
            assert len(await after) == 1  # the worker carries on after a loader's error
        finally:
            await pool.close()
        with pytest.raises(SyncError):
            loader("resources/gone.yaml", "0" * 40)  # what the applier's in-process retry raises
    finally:
        await catalog.close()


async def test_a_worker_that_dies_fails_what_it_owed_and_nothing_hangs(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(definition("a"))
    pool = LoadPool(DirectoryLoader(tmp_path, LoadOptions(root=tmp_path)), 1)
    try:
        [result] = await (await pool.submit([("a.yaml", "")]))
        assert result.documents[0].data["metadata"]["name"] == "a"
        [pid] = load_workers_of_this_process()
        os.kill(pid, 9)
        owed = await pool.submit([("a.yaml", "")])
        with pytest.raises(RuntimeError, match="load worker"):
            await asyncio.wait_for(owed, timeout=15)
    finally:
        await pool.close()
    assert load_workers_of_this_process() == []
