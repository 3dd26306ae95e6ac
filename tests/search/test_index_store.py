"""The saved search index: `serve` starts from it, catches up with the store, and rebuilds a damaged one."""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from broadsheet.models import Paper
from broadsheet.papers.ingest import import_items
from broadsheet.search.embedder import Embedder
from broadsheet.search.engine import HybridSearcher
from broadsheet.search.index_store import IndexStore
from broadsheet.search.service import SearchNotReady, SearchService
from broadsheet.settings import Settings
from broadsheet.sources.daily_jsonl import read_daily_jsonl
from tests.fixtures.app import make_settings, migrated_factory
from tests.fixtures.paths import ARXIV_CORPUS
from tests.search.conftest import CATALOGUE_SAMPLE, VECTORS, CountingEmbedder

CHANGED_ABSTRACT = "We fly a quadrotor drone through pine forests using event cameras."


def _store(
    tmp_path: Path, catalogue_database: Path, embedder: Embedder, database_url: str | None = None
) -> tuple[Settings, sessionmaker[Session]]:
    """A private copy of the catalogue: the SQLite file, or its papers and vectors loaded into the
    PostgreSQL database at `database_url`."""
    settings = make_settings(tmp_path, search_enabled=True, embeddings_enabled=True, database_url=database_url or "")
    if database_url is None:
        shutil.copy(catalogue_database, tmp_path / "broadsheet.sqlite3")
        _, factory = migrated_factory(settings.resolved_database_url)
        return settings, factory
    _, factory = migrated_factory(database_url)
    import_items(factory, islice(read_daily_jsonl(ARXIV_CORPUS), CATALOGUE_SAMPLE))
    assert SearchService(settings, factory, embedder).import_vectors(VECTORS) == CATALOGUE_SAMPLE
    return settings, factory


def _started(settings: Settings, factory: sessionmaker[Session], embedder: Embedder) -> SearchService:
    """A search service as `serve` runs it: started in the background, waited on until ready."""
    service = SearchService(settings, factory, CountingEmbedder(embedder))
    service.start(interval_s=3600)
    assert service.ready.wait(120), "the search index never became ready"
    service.stop()
    return service


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str | None:
    return None if request.param == "sqlite" else str(request.getfixturevalue("postgres_database"))


def test_a_restart_starts_from_the_saved_index_and_catches_up_with_the_store(
    tmp_path: Path, catalogue_database: Path, embedder: Embedder, database_url: str | None
) -> None:
    settings, factory = _store(tmp_path, catalogue_database, embedder, database_url)
    first = _started(settings, factory, embedder)
    saved = first.index_store.current()
    assert saved is not None and first._snapshot == saved, "a start without a saved index saves the one it built"

    with factory() as session:
        changed, gone = session.scalars(select(Paper.arxiv_id).order_by(Paper.arxiv_id).limit(2)).all()
        gone_title = session.scalar(select(Paper.title).where(Paper.arxiv_id == gone))
    assert gone_title and gone in {h.arxiv_id for h in first.search(gone_title, limit=5)}
    with factory.begin() as session:  # while the site is down: one abstract rewritten, one paper deleted
        session.execute(
            update(Paper)
            .where(Paper.arxiv_id == changed)
            .values(abstract=CHANGED_ABSTRACT, modified_at=datetime.now(UTC))
        )
        session.execute(delete(Paper).where(Paper.arxiv_id == gone))

    second = _started(settings, factory, embedder)
    assert second._snapshot == saved, "started from the saved index"
    assert second.index_store.current() == saved, "two changes in 400 papers are not worth saving again"
    counting = second.embedder
    assert isinstance(counting, CountingEmbedder)
    assert len(counting.embedded) == 1 and CHANGED_ABSTRACT in counting.embedded[0], "only the new text is embedded"
    assert len(second.searcher) == CATALOGUE_SAMPLE - 1
    assert second.search("drone flying through a forest", limit=1)[0].arxiv_id == changed
    assert gone not in {h.arxiv_id for h in second.search(gone_title, limit=50)}
    # Caught up, it answers as an index built from scratch over the store as it is now.
    scratch = SearchService(settings, factory, embedder)
    scratch.sync()
    scratch.ready.set()
    for query in ("graph neural networks", "reinforcement learning for robots", "speech recognition", gone_title):
        want, got = scratch.search(query, limit=10), second.search(query, limit=10)
        assert [h.arxiv_id for h in got] == [h.arxiv_id for h in want]
        assert [h.score for h in got] == pytest.approx([h.score for h in want], rel=1e-5)


def test_a_damaged_saved_index_is_rebuilt_from_the_store_and_replaced(
    tmp_path: Path, catalogue_database: Path, embedder: Embedder, caplog: pytest.LogCaptureFixture
) -> None:
    settings, factory = _store(tmp_path, catalogue_database, embedder)
    saved = _started(settings, factory, embedder).index_store.current()
    assert saved is not None
    snapshot = settings.index_dir / "search" / saved
    (snapshot / "vectors" / "hnsw.bin").write_bytes(b"\0" * 100)  # e.g. a disk that filled up mid-copy
    (snapshot / "lexical" / "docs.npy").write_bytes(b"not an array")

    with caplog.at_level(logging.WARNING, logger="broadsheet.search.service"):
        rebuilt = _started(settings, factory, embedder)
    assert "saved search index is not usable" in caplog.text
    assert len(rebuilt.searcher) == CATALOGUE_SAMPLE
    assert rebuilt.search("language models", limit=5)
    assert rebuilt.index_store.current() not in (None, saved)
    assert [p.name for p in (settings.index_dir / "search").glob("snap-*")] == [rebuilt.index_store.current()]


def test_workers_that_built_alike_keep_one_saved_copy(
    tmp_path: Path, catalogue_database: Path, embedder: Embedder
) -> None:
    settings, factory = _store(tmp_path, catalogue_database, embedder)
    workers = [SearchService(settings, factory, embedder) for _ in range(2)]
    for worker in workers:
        assert not worker.restore()
        worker.sync()
    first = workers[0].save_index()
    assert first is not None
    assert workers[1].save_index() is None, "the second worker finds a copy saved since it started"
    assert workers[1].save_index(replace_newer=True) not in (None, first)  # what `index rebuild` does


def test_workers_starting_together_on_a_fresh_store_build_the_index_once(
    tmp_path: Path, catalogue_database: Path, embedder: Embedder, database_url: str | None
) -> None:
    settings, factory = _store(tmp_path, catalogue_database, embedder, database_url)
    workers = [SearchService(settings, factory, embedder) for _ in range(2)]
    restored: list[bool] = []
    starts = [threading.Thread(target=lambda w=w: restored.append(w.restore_or_build())) for w in workers]
    for start in starts:
        start.start()
    for start in starts:
        start.join(120)
    assert sorted(restored) == [False, True], "one worker builds; the other loads the copy it saved"
    saved = workers[0].index_store.current()
    assert saved is not None and [w._snapshot for w in workers] == [saved, saved]
    for worker in workers:
        assert len(worker.searcher) == CATALOGUE_SAMPLE
        worker.ready.set()
    for query in ("graph neural networks", "speech recognition"):
        first, second = (w.search(query, limit=10) for w in workers)
        assert [h.arxiv_id for h in first] == [h.arxiv_id for h in second]


def test_a_worker_waiting_for_another_build_loads_its_query_model_meanwhile(
    tmp_path: Path, catalogue_database: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, factory = _store(tmp_path, catalogue_database, embedder)
    service = SearchService(settings, factory, embedder)
    queries: list[str] = []
    encode_query = embedder.encode_query
    monkeypatch.setattr(embedder, "encode_query", lambda query: queries.append(query) or encode_query(query))

    assert service.restore_or_build() is False and queries == [], "no one else building: no wait to fill"
    shutil.rmtree(settings.index_dir)
    service = SearchService(settings, factory, embedder)
    with IndexStore(settings.index_dir / "search").build_lock():  # another process is building
        waiting = threading.Thread(target=service.restore_or_build)
        waiting.start()
        deadline = time.monotonic() + 20
        while not queries and time.monotonic() < deadline:
            time.sleep(0.05)
        assert queries == ["warm up"], "the query model is loaded while the build lock is held"
        assert waiting.is_alive(), "and the worker still waits for the lock"
    waiting.join(120)
    assert not waiting.is_alive() and service.index_store.current() is not None


def test_search_comes_up_even_when_the_index_cannot_be_saved(
    tmp_path: Path,
    catalogue_database: Path,
    embedder: Embedder,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings, factory = _store(tmp_path, catalogue_database, embedder)

    def disk_full(store: IndexStore, searcher: object, synced_until: object = None) -> str:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(IndexStore, "save", disk_full)
    with caplog.at_level(logging.ERROR, logger="broadsheet.search.service"):
        service = _started(settings, factory, embedder)
    assert "could not save the search index" in caplog.text and "No space left" in caplog.text
    assert service.search("language models", limit=5) and service.index_store.current() is None


def test_a_build_reports_each_stage_and_search_says_how_far_it_is(
    tmp_path: Path, catalogue_database: Path, embedder: Embedder
) -> None:
    settings, factory = _store(tmp_path, catalogue_database, embedder)
    service = SearchService(settings, factory, embedder)
    service.searcher = HybridSearcher(embedder, ann_threshold=100)  # a graph, as a large catalogue has
    service.searcher.lexical.min_merge_docs = 100  # a bulk keyword build, as at start-up
    seen: list[tuple[str, int, int]] = []

    def watch(stage: str, done: int, total: int) -> None:
        seen.append((stage, done, total))
        with pytest.raises(SearchNotReady, match=f"being built \\({stage}: {done:,} of {total:,} papers\\)"):
            service.search("language models")

    service.sync(on_progress=watch)
    stages = [stage for stage, _, _ in seen]
    assert stages == sorted(stages, key=["papers and vectors", "vector graph", "keyword index"].index)
    for stage in ("papers and vectors", "vector graph", "keyword index"):
        done = [(d, t) for s, d, t in seen if s == stage]
        assert done[-1] == (CATALOGUE_SAMPLE, CATALOGUE_SAMPLE), stage


def test_saving_reads_the_index_and_lets_searches_go_on(
    tmp_path: Path, catalogue_database: Path, embedder: Embedder
) -> None:
    settings, factory = _store(tmp_path, catalogue_database, embedder)
    service = SearchService(settings, factory, embedder)
    service.sync()
    with factory.begin() as session:  # a changed paper: it goes to the keyword index's delta segment
        first = session.scalars(select(Paper.arxiv_id).order_by(Paper.arxiv_id).limit(1)).one()
        session.execute(
            update(Paper)
            .where(Paper.arxiv_id == first)
            .values(abstract=CHANGED_ABSTRACT, modified_at=datetime.now(UTC))
        )
    service.sync()
    service.ready.set()
    delta = service.searcher.lexical._delta_docs
    assert delta > 0

    saving = threading.Thread(target=service.save_index)
    with service._lock:  # what a search holds: a save must not wait for it
        saving.start()
        saving.join(60)
        assert not saving.is_alive(), "saving waited for the searches' lock"
    assert service.searcher.lexical._delta_docs == delta, "saving left the live index as it was"

    restarted = SearchService(settings, factory, embedder)
    assert restarted.restore() and restarted.sync().changed == 0
    restarted.ready.set()
    for query in ("drone flying through a forest", "graph neural networks", "speech recognition"):
        want, got = service.search(query, limit=10), restarted.search(query, limit=10)
        assert [h.arxiv_id for h in got] == [h.arxiv_id for h in want]
        assert [h.score for h in got] == pytest.approx([h.score for h in want], rel=1e-5)


@contextmanager
def _running(settings: Settings, factory: sessionmaker[Session], embedder: Embedder) -> Iterator[SearchService]:
    """A service as `serve` runs it, syncing every 0.2 s, ready; stopped after the block."""
    service = SearchService(settings, factory, embedder)
    service.start(interval_s=0.2)
    try:
        assert service.ready.wait(120)
        yield service
    finally:
        service.stop()


def _wait_for_snapshot_other_than(store: IndexStore, name: str | None, within_s: float = 120) -> str | None:
    deadline = time.monotonic() + within_s
    while store.current() == name and time.monotonic() < deadline:
        time.sleep(0.1)
    return store.current()


def test_a_running_site_saves_the_index_again_once_enough_has_changed(
    tmp_path: Path, catalogue_database: Path, embedder: Embedder
) -> None:
    settings, factory = _store(tmp_path, catalogue_database, embedder)
    with _running(settings, factory, embedder) as service:
        first = service.index_store.current()
        assert first is not None
        new = list(islice(read_daily_jsonl(ARXIV_CORPUS), CATALOGUE_SAMPLE, CATALOGUE_SAMPLE + 10))
        import_items(factory, new)  # 10 papers: over 1% of 400
        assert _wait_for_snapshot_other_than(service.index_store, first) != first, "the index was not saved again"
    restarted = SearchService(settings, factory, embedder)
    assert restarted.restore() and len(restarted.searcher) == CATALOGUE_SAMPLE + 10
    assert restarted.sync().changed == 0, "a restart has nothing left to catch up"


def test_after_index_rebuild_a_running_site_still_saves_again(
    tmp_path: Path, catalogue_database: Path, embedder: Embedder
) -> None:
    settings, factory = _store(tmp_path, catalogue_database, embedder)
    with _running(settings, factory, embedder) as service:
        rebuild = SearchService(settings, factory, embedder)  # what `broadsheet index rebuild` does
        rebuild.sync()
        rebuilt = rebuild.save_index(replace_newer=True)
        assert rebuilt is not None and service.index_store.synced_until() is not None
        import_items(factory, islice(read_daily_jsonl(ARXIV_CORPUS), CATALOGUE_SAMPLE, CATALOGUE_SAMPLE + 10))
        assert _wait_for_snapshot_other_than(service.index_store, rebuilt) != rebuilt, "not saved after the rebuild"
    restarted = SearchService(settings, factory, embedder)
    assert restarted.restore() and len(restarted.searcher) == CATALOGUE_SAMPLE + 10
    assert restarted.sync().changed == 0


def test_workers_indexing_the_same_changes_save_one_copy(
    tmp_path: Path, catalogue_database: Path, embedder: Embedder, database_url: str | None
) -> None:
    settings, factory = _store(tmp_path, catalogue_database, embedder, database_url)
    first = SearchService(settings, factory, embedder)
    first.start(interval_s=3600)
    assert first.ready.wait(120)
    first.stop()
    workers = [SearchService(settings, factory, embedder) for _ in range(2)]
    for worker in workers:
        assert worker.restore()
        worker.sync()
    assert [worker.save_if_behind() for worker in workers] == [None, None], "nothing changed since the save"
    import_items(factory, islice(read_daily_jsonl(ARXIV_CORPUS), CATALOGUE_SAMPLE, CATALOGUE_SAMPLE + 10))
    for worker in workers:
        assert worker.sync().changed == 10
    saved = [worker.save_if_behind() for worker in reversed(workers)]
    assert saved[0] is not None and saved[1] is None, "the second worker's changes are in the first's copy"
    # Changes the saved copy misses are counted whichever process saved it.
    import_items(factory, islice(read_daily_jsonl(ARXIV_CORPUS), CATALOGUE_SAMPLE + 10, CATALOGUE_SAMPLE + 14))
    assert workers[0].sync().changed == 4 and workers[0].save_if_behind() is None  # 4 of 414: under 1%
    import_items(factory, islice(read_daily_jsonl(ARXIV_CORPUS), CATALOGUE_SAMPLE + 14, CATALOGUE_SAMPLE + 20))
    assert workers[0].sync().changed == 6 and workers[0].save_if_behind() is not None
