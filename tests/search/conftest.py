"""Shared search fixtures: the real MiniLM model (loaded once) and a few hundred real SciFact papers."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pytest

from broadsheet.search.embedder import Embedder
from broadsheet.search.engine import HybridSearcher, Paper
from broadsheet.search.text import embedding_text
from tests.fixtures.paths import SHARED_DATA

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
