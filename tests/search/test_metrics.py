"""Our nDCG@10, recall@100 and MRR@10 agree with pytrec_eval (trec_eval) on real runs."""

from __future__ import annotations

import pytest
import pytrec_eval

from broadsheet.search.engine import HybridSearcher
from broadsheet.search.metrics import per_query, ranked
from tests.search.conftest import SciFactSubset


@pytest.mark.parametrize("mode", ["bm25", "hybrid"])
def test_metrics_match_pytrec_eval(searcher: HybridSearcher, scifact: SciFactSubset, mode: str) -> None:
    run = {
        q: {h.doc_id: h.score for h in searcher.search(text, 100, mode=mode)}  # type: ignore[arg-type]
        for q, text in scifact.queries.items()
    }
    qrels = dict(scifact.qrels)
    ours = per_query(run, qrels)
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut_10", "recall_100"})
    theirs = evaluator.evaluate({q: r for q, r in run.items() if r})
    top10 = {q: {d: r[d] for d in ranked(r)[:10]} for q, r in run.items() if r}
    rr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(top10)
    assert len(theirs) >= len(qrels) - 1
    for q, m in theirs.items():
        assert ours[q]["ndcg@10"] == pytest.approx(m["ndcg_cut_10"], abs=1e-9)
        assert ours[q]["recall@100"] == pytest.approx(m["recall_100"], abs=1e-9)
        assert ours[q]["mrr@10"] == pytest.approx(rr[q]["recip_rank"], abs=1e-9)
    assert any(0 < m["ndcg_cut_10"] < 1 for m in theirs.values())


def test_ties_are_ordered_like_trec_eval() -> None:
    assert ranked({"a": 1.0, "c": 1.0, "b": 2.0}) == ["b", "c", "a"]
