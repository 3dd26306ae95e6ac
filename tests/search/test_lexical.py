"""BM25F index: incremental adds and removals give the scores of an index built from scratch."""

from __future__ import annotations

import numpy as np

from broadsheet.search.lexical import BM25Params, LexicalDoc, LexicalIndex, _sorted_unique
from tests.search.conftest import SciFactSubset


def docs_of(scifact: SciFactSubset) -> list[LexicalDoc]:
    return [LexicalDoc(p.title, p.abstract, "; ".join(p.authors)) for p in scifact.papers]


def test_delta_segment_scores_like_a_bulk_build(scifact: SciFactSubset) -> None:
    docs = docs_of(scifact)
    bulk = LexicalIndex(min_merge_docs=10)
    bulk.add_many(range(len(docs)), docs)
    incremental = LexicalIndex(min_merge_docs=10_000)  # everything stays in the delta segment
    for slot, doc in enumerate(docs):
        incremental.add(slot, doc)
    for query in list(scifact.queries.values())[:20]:
        terms = list(bulk.tokenizer.query_terms(query))
        np.testing.assert_allclose(bulk.score_all(terms), incremental.score_all(terms), rtol=1e-5)


def test_removed_documents_leave_exact_scores_and_bounds_before_and_after_merge(scifact: SciFactSubset) -> None:
    docs = docs_of(scifact)
    keep = len(docs) - 50
    clean = LexicalIndex(min_merge_docs=10)
    clean.add_many(range(keep), docs[:keep])
    dirty = LexicalIndex(min_merge_docs=10)
    dirty.add_many(range(len(docs)), docs)
    for slot in range(keep, len(docs)):
        dirty.remove(slot)
    queries = list(scifact.queries.values())[:20]
    for merged in (False, True):
        if merged:
            dirty.merge()
        for query in queries:
            terms = list(clean.tokenizer.query_terms(query))
            np.testing.assert_allclose(dirty.score_all(terms)[:keep], clean.score_all(terms), rtol=1e-5)
            assert not dirty.score_all(terms)[keep:].any()
            # so a query's candidates and its score bound leave the removed documents out too
            wanted = clean.candidates(clean.score_all(terms), None).tolist()
            assert dirty.candidates(dirty.score_all(terms), None).tolist() == wanted
            assert dirty.max_score(terms) == clean.max_score(terms)


def test_title_weight_lifts_title_matches() -> None:
    docs = [
        LexicalDoc("Graph neural networks", "We study message passing on molecules."),
        LexicalDoc("Molecular property prediction", "We study graph models on molecules."),
    ]
    plain = LexicalIndex(BM25Params(title_weight=1.0))
    heavy = LexicalIndex(BM25Params(title_weight=3.0))
    for index in (plain, heavy):
        index.add_many([0, 1], docs)
    gap = [float(np.subtract(*idx.score_all(["graph"]))) for idx in (plain, heavy)]
    assert gap[1] > gap[0] >= 0


def test_sorted_unique_is_numpys_unique() -> None:
    rng = np.random.default_rng(0)
    cases = [np.zeros(0, np.int64), np.array([7]), np.array([3, 3, 3]), np.array([-2, 5, -2, 0])]
    cases += [rng.integers(0, 50, 1_000), rng.integers(-(2**40), 2**40, 10_000)]
    for values in cases:
        assert np.array_equal(_sorted_unique(values), np.unique(values))
