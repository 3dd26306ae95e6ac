"""Retrieval quality measures with trec_eval's definitions: nDCG@10, recall@100, MRR@10."""

from __future__ import annotations

import math
from collections.abc import Mapping

Run = Mapping[str, Mapping[str, float]]
Qrels = Mapping[str, Mapping[str, int]]


def ranked(doc_scores: Mapping[str, float]) -> list[str]:
    """Documents in trec_eval order: score descending, ties by document id descending."""
    return [d for d, _ in sorted(doc_scores.items(), key=lambda item: (item[1], item[0]), reverse=True)]


def ndcg_at(ranking: list[str], judged: Mapping[str, int], k: int = 10) -> float:
    """nDCG@k with linear gains (trec_eval `ndcg_cut_k`)."""
    gains = sorted((g for g in judged.values() if g > 0), reverse=True)
    ideal = sum(g / math.log2(i + 2) for i, g in enumerate(gains[:k]))
    if ideal == 0:
        return 0.0
    dcg = sum(max(judged.get(d, 0), 0) / math.log2(i + 2) for i, d in enumerate(ranking[:k]))
    return dcg / ideal


def recall_at(ranking: list[str], judged: Mapping[str, int], k: int = 100) -> float:
    """Share of the relevant documents found in the top k (trec_eval `recall_k`)."""
    relevant = {d for d, g in judged.items() if g > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranking[:k])) / len(relevant)


def mrr_at(ranking: list[str], judged: Mapping[str, int], k: int = 10) -> float:
    """Reciprocal rank of the first relevant document within the top k, else 0."""
    for i, d in enumerate(ranking[:k]):
        if judged.get(d, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def per_query(run: Run, qrels: Qrels) -> dict[str, dict[str, float]]:
    """Measures of every judged query; a judged query missing from the run scores 0."""
    out = {}
    for qid, judged in qrels.items():
        ranking = ranked(run.get(qid, {}))
        out[qid] = {
            "ndcg@10": ndcg_at(ranking, judged, 10),
            "recall@100": recall_at(ranking, judged, 100),
            "mrr@10": mrr_at(ranking, judged, 10),
        }
    return out


def evaluate(run: Run, qrels: Qrels) -> dict[str, float]:
    """Mean of each measure over the judged queries."""
    rows = per_query(run, qrels)
    if not rows:
        return {"ndcg@10": 0.0, "recall@100": 0.0, "mrr@10": 0.0}
    return {m: sum(r[m] for r in rows.values()) / len(rows) for m in ("ndcg@10", "recall@100", "mrr@10")}
