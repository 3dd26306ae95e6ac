"""Shared search fixtures: the real MiniLM model (loaded once) and a few hundred real SciFact papers."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.orm import Session, sessionmaker

from broadsheet.papers.ingest import import_items
from broadsheet.search.embedder import Embedder
from broadsheet.search.engine import HybridSearcher, Paper
from broadsheet.search.service import SearchService
from broadsheet.search.text import embedding_text
from broadsheet.sources.daily_jsonl import read_daily_jsonl
from tests.fixtures.app import make_settings, migrated_factory
from tests.fixtures.paths import ARXIV_CORPUS, SHARED_DATA

SCIFACT = SHARED_DATA / "scifact"
SUBSET_QUERIES = 60
SUBSET_DOCS = 300
# A real paper that the semantic test looks for with a query sharing none of its words.
EPILEPSY_PAPER = "599582"


@dataclass
class SciFactSubset:
    papers: list[Paper]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    vectors: dict[str, np.ndarray]

    def by_id(self, doc_id: str) -> Paper:
        return next(p for p in self.papers if p.doc_id == doc_id)


class CountingEmbedder(Embedder):
    """The real embedder, recording every paper text it is asked to embed."""

    def __init__(self, real: Embedder) -> None:
        super().__init__()
        self._model = real._load()
        self.embedded: list[str] = []

    def encode(self, texts: Sequence[str], precision: str | None = None) -> np.ndarray:  # type: ignore[override]
        self.embedded.extend(texts)
        return super().encode(texts)


def sharing_model(real: Embedder, **kwargs: object) -> Embedder:
    """An embedder reusing the session's loaded model (no LRU cache, so every call really embeds)."""
    fresh = Embedder(**{"query_cache_size": 0, **kwargs})  # type: ignore[arg-type]
    fresh._model = real._load()
    return fresh


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    model = Embedder()
    model.encode(["warm up"])
    return model


@pytest.fixture(scope="session")
def scifact(embedder: Embedder) -> SciFactSubset:
    """The docs judged for the first train queries, padded with other docs, embedded once."""
    qrels: dict[str, dict[str, int]] = {}
    with open(SCIFACT / "qrels" / "train.tsv") as lines:
        next(lines)
        for line in lines:
            q, d, s = line.split()
            if q in qrels or len(qrels) < SUBSET_QUERIES:
                qrels.setdefault(q, {})[d] = int(s)
    wanted = {d for judged in qrels.values() for d in judged} | {EPILEPSY_PAPER}
    papers: list[Paper] = []
    with open(SCIFACT / "corpus.jsonl") as lines:
        for n, line in enumerate(lines):
            rec = json.loads(line)
            if rec["_id"] in wanted or (n % 7 == 0 and len(papers) < SUBSET_DOCS - len(wanted)):
                papers.append(Paper(rec["_id"], rec["title"], rec["text"]))
    with open(SCIFACT / "queries.jsonl") as lines:
        queries = {r["_id"]: r["text"] for r in map(json.loads, lines) if r["_id"] in qrels}
    vecs = embedder.encode([embedding_text(p.title, p.abstract) for p in papers])
    return SciFactSubset(papers, queries, qrels, {p.doc_id: v for p, v in zip(papers, vecs, strict=True)})


@pytest.fixture
def searcher(embedder: Embedder, scifact: SciFactSubset) -> HybridSearcher:
    engine = HybridSearcher(embedder)
    engine.add(scifact.papers, vectors=scifact.vectors)
    return engine


VECTORS = SHARED_DATA / "arxiv" / "embeddings_minilm"
CATALOGUE_SAMPLE = 400


@pytest.fixture(scope="session")
def catalogue_database(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Path:
    """400 real arXiv papers with their precomputed vectors, verified and stored once (copy before changing)."""
    path = tmp_path_factory.mktemp("catalogue") / "broadsheet.sqlite3"
    engine, factory = migrated_factory(f"sqlite:///{path}")
    import_items(factory, islice(read_daily_jsonl(ARXIV_CORPUS), CATALOGUE_SAMPLE))
    settings = make_settings(path.parent, search_enabled=True, embeddings_enabled=True)
    stored = SearchService(settings, factory, embedder).import_vectors(VECTORS)
    assert stored == CATALOGUE_SAMPLE
    engine.dispose()
    return path


def indexed_service(
    tmp_path: Path, catalogue_database: Path, embedder: Embedder
) -> tuple[SearchService, sessionmaker[Session]]:
    """A search service over a private copy of the catalogue, built and ready."""
    shutil.copy(catalogue_database, tmp_path / "broadsheet.sqlite3")
    settings = make_settings(tmp_path, search_enabled=True, embeddings_enabled=True)
    _, factory = migrated_factory(settings.resolved_database_url)
    service = SearchService(settings, factory, CountingEmbedder(embedder))
    report = service.sync()
    service.ready.set()
    assert report.indexed == CATALOGUE_SAMPLE and report.embedded == 0, "stored vectors are reused"
    return service, factory
