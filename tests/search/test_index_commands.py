"""`broadsheet index import-vectors` and `broadsheet index rebuild` against a real store."""

from __future__ import annotations

import shutil
from itertools import islice
from pathlib import Path

import pytest
from typer.testing import CliRunner

from broadsheet.cli import app, load_settings, session_factory
from broadsheet.papers.ingest import import_items
from broadsheet.search.index_store import IndexStore
from broadsheet.search.service import SearchService
from broadsheet.sources.daily_jsonl import read_daily_jsonl
from tests.fixtures.app import migrated_factory
from tests.fixtures.paths import ARXIV_CORPUS, SHARED_DATA

VECTORS = SHARED_DATA / "arxiv" / "embeddings_minilm"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    engine, factory = migrated_factory(f"sqlite:///{tmp_path / 'broadsheet.sqlite3'}")
    import_items(factory, islice(read_daily_jsonl(ARXIV_CORPUS), 60))
    engine.dispose()
    monkeypatch.setenv("BROADSHEET_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BROADSHEET_ENVIRONMENT", "test")
    return tmp_path


def test_import_then_rebuild_reuses_every_stored_vector(store: Path) -> None:
    runner = CliRunner()
    imported = runner.invoke(app, ["index", "import-vectors", str(VECTORS)])
    assert imported.exit_code == 0, imported.output
    assert "Stored 60 vectors" in imported.output.replace("\n", " ")
    snapshots = []
    for _ in range(2):  # a second rebuild replaces the snapshot the first one saved
        rebuilt = runner.invoke(app, ["index", "rebuild"])
        assert rebuilt.exit_code == 0, rebuilt.output
        assert "60 stored vectors reused, 0 embedded" in rebuilt.output.replace("\n", " ")
        snapshots.append(IndexStore(store / "index" / "search").current())
    assert snapshots[0] != snapshots[1]
    assert [p.name for p in (store / "index" / "search").glob("snap-*")] == [snapshots[1]]
    # What `serve` does at start: the saved index comes back whole and nothing needs catching up.
    settings = load_settings()
    service = SearchService(settings, session_factory(settings))
    assert service.restore() and len(service.searcher) == 60
    assert service.sync().changed == 0


def test_a_corrupt_vectors_file_is_refused_with_a_clear_message(store: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(VECTORS, broken)
    (broken / "vectors.f16.npy").write_bytes((VECTORS / "vectors.f16.npy").read_bytes()[:4096])
    result = CliRunner().invoke(app, ["index", "import-vectors", str(broken)])
    assert result.exit_code == 1
    message = result.output.replace("\n", "")  # the console wraps long lines
    assert "Vectors refused" in message and "vectors.f16.npy is corrupt" in message
