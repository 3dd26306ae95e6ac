"""Measurements behind `broadsheet bench`: search quality/latency on BEIR data, embedding speed, ANN scale."""

from __future__ import annotations

import gzip
import json
import os
import resource
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from broadsheet.search.embedder import Embedder
from broadsheet.search.engine import DEFAULT_BM25, DEFAULT_FUSION, HybridSearcher, Mode, Paper
from broadsheet.search.fusion import FusionParams, blend, reciprocal_rank
from broadsheet.search.lexical import BM25Params
from broadsheet.search.metrics import Qrels, evaluate
from broadsheet.search.select import top_k
from broadsheet.search.text import embedding_text
from broadsheet.search.vector_index import AnnParams, VectorIndex
from broadsheet.search.vectors_import import verify_vectors

Log = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


# --------------------------------------------------------------------- BEIR files
def _open_text(path: str | os.PathLike[str]) -> Any:
    return gzip.open(path, "rt", encoding="utf-8") if str(path).endswith(".gz") else open(path, encoding="utf-8")


def read_corpus(path: str | os.PathLike[str]) -> Iterator[Paper]:
    """Papers of a BEIR corpus (`_id, title, text, metadata.authors`) or a daily arXiv JSONL(.gz) file."""
    with _open_text(path) as lines:
        for line in lines:
            if not line.strip():
                continue
            rec = json.loads(line)
            if "_id" in rec:
                authors = (rec.get("metadata") or {}).get("authors") or []
                yield Paper(str(rec["_id"]), rec.get("title") or "", rec.get("text") or "", tuple(authors))
            else:
                yield Paper(
                    str(rec["id"]),
                    rec.get("title") or "",
                    rec.get("summary") or "",
                    tuple(rec.get("authors") or ()),
                )


def load_papers(
    corpus: str | os.PathLike[str], extra_corpora: Sequence[str | os.PathLike[str]] = (), log: Log = _quiet
) -> list[Paper]:
    """The corpus plus distractors; a repeated id in the corpus keeps its last record (as an update
    would), and a distractor never displaces a corpus paper."""
    by_id: dict[str, Paper] = {}
    repeated = 0
    for p in read_corpus(corpus):
        repeated += p.doc_id in by_id
        by_id[p.doc_id] = p
    if repeated:
        log(f"{corpus}: {repeated} repeated ids, the last record of each kept")
    for extra in extra_corpora:
        for p in read_corpus(extra):
            by_id.setdefault(p.doc_id, p)
    return list(by_id.values())


def read_queries(path: str | os.PathLike[str]) -> dict[str, str]:
    with _open_text(path) as lines:
        return {str(r["_id"]): r["text"] for r in map(json.loads, filter(str.strip, lines))}


def read_qrels(path: str | os.PathLike[str]) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    with _open_text(path) as lines:
        for n, line in enumerate(lines):
            parts = line.split()
            if not parts or (n == 0 and not parts[-1].lstrip("-").isdigit()):
                continue  # header row
            qrels.setdefault(parts[0], {})[parts[1]] = int(parts[-1])
    return qrels


# --------------------------------------------------------------------- search benchmark
@dataclass
class BuiltIndex:
    searcher: HybridSearcher
    build_s: float
    embedded: int
    imported: int


def build_searcher(
    papers: Sequence[Paper],
    embedder: Embedder | None,
    vectors_dirs: Sequence[str | os.PathLike[str]] = (),
    bm25: BM25Params = DEFAULT_BM25,
    fusion: FusionParams = DEFAULT_FUSION,
    ann_threshold: int = 50_000,
    log: Log = _quiet,
) -> BuiltIndex:
    """Index `papers`, taking vectors from verified `vectors_dirs` where they cover a paper."""
    start = time.perf_counter()
    searcher = HybridSearcher(embedder, bm25=bm25, fusion=fusion, ann_threshold=ann_threshold)
    supplied: dict[str, np.ndarray] = {}
    if embedder is not None:
        texts = {p.doc_id: (p.title, p.abstract) for p in papers}
        for path in vectors_dirs:
            checked = verify_vectors(path, texts, embedder, seed=0)
            log(
                f"vectors {path}: {len(checked.ids)} ids, {checked.sampled} re-embedded, "
                f"min cosine {checked.min_cosine:.5f}, texts match: {checked.texts_match}"
            )
            for doc_id, vec in zip(checked.ids, checked.vectors, strict=True):
                if doc_id in texts:
                    supplied[doc_id] = vec
    log(f"indexing {len(papers)} papers ({len(supplied)} with precomputed vectors)")
    report = searcher.add(papers, vectors=supplied)
    searcher.lexical.merge()
    return BuiltIndex(searcher, time.perf_counter() - start, len(report.embedded), len(supplied))


def run_queries(
    searcher: HybridSearcher, queries: dict[str, str], mode: Mode, k: int = 100, warmup: int = 10
) -> tuple[dict[str, dict[str, float]], list[float]]:
    """Run each query once, timed end to end, after `warmup` untimed queries."""
    for text in list(queries.values())[:warmup]:
        searcher.search(text, k, mode)
    if searcher.embedder is not None:
        searcher.embedder.clear_query_cache()  # the warm-up queries are timed again below, embedded afresh
    run: dict[str, dict[str, float]] = {}
    latencies = []
    for qid, text in queries.items():
        t0 = time.perf_counter()
        hits = searcher.search(text, k, mode)
        latencies.append((time.perf_counter() - t0) * 1000)
        run[qid] = {h.doc_id: h.score for h in hits}
    return run, latencies


def bench_search(
    corpus: str | os.PathLike[str],
    queries_path: str | os.PathLike[str],
    qrels_path: str | os.PathLike[str],
    mode: Mode = "hybrid",
    vectors_dirs: Sequence[str | os.PathLike[str]] = (),
    extra_corpora: Sequence[str | os.PathLike[str]] = (),
    embedder: Embedder | None = None,
    bm25: BM25Params = DEFAULT_BM25,
    fusion: FusionParams = DEFAULT_FUSION,
    ann_threshold: int = 50_000,
    log: Log = _quiet,
) -> dict[str, Any]:
    """Build a temporary index of corpus (+ distractors) and measure every judged query."""
    papers = load_papers(corpus, extra_corpora, log)
    qrels = read_qrels(qrels_path)
    all_queries = read_queries(queries_path)
    queries = {q: all_queries[q] for q in qrels if q in all_queries}
    if mode != "bm25" and embedder is None:
        embedder = Embedder()
    built = build_searcher(papers, embedder if mode != "bm25" else None, vectors_dirs, bm25, fusion, ann_threshold, log)
    log(f"index built in {built.build_s:.1f} s ({built.embedded} embedded, {built.imported} imported)")
    run, latencies = run_queries(built.searcher, queries, mode)
    scores = evaluate(run, {q: qrels[q] for q in queries})
    return {
        "mode": mode,
        "docs": len(built.searcher),
        "queries": len(queries),
        **{m: round(v, 4) for m, v in scores.items()},
        "latency_ms_p50": round(float(np.percentile(latencies, 50)), 2),
        "latency_ms_p95": round(float(np.percentile(latencies, 95)), 2),
        "index_build_s": round(built.build_s, 1),
    }


# --------------------------------------------------------------------- tuning (train/dev only)
@dataclass
class QueryCache:
    terms: list[str]
    vector: np.ndarray
    relevant: dict[int, int]  # slot -> gain
    ideal: float


def _ndcg10(slots: np.ndarray, cache: QueryCache) -> float:
    dcg = sum(cache.relevant.get(int(s), 0) / np.log2(i + 2) for i, s in enumerate(slots[:10]))
    return float(dcg / cache.ideal) if cache.ideal else 0.0


def tune_fusion(
    searcher: HybridSearcher,
    queries: dict[str, str],
    qrels: Qrels,
    grid: Sequence[FusionParams],
    bm25_grid: Sequence[BM25Params] = (),
    bm25_finalists: int = 3,
    log: Log = _quiet,
) -> list[dict[str, Any]]:
    """nDCG@10 of fusion settings on the given (train/dev only!) queries.

    BM25 settings are ranked alone first; the fusion grid is then run on the best `bm25_finalists`.
    """
    assert searcher.embedder is not None and searcher.vectors is not None
    cache = {}
    for q, text in queries.items():
        gains = {searcher.slot_of[d]: g for d, g in qrels[q].items() if g > 0 and d in searcher.slot_of}
        ideal = sum(g / np.log2(i + 2) for i, g in enumerate(sorted(gains.values(), reverse=True)[:10]))
        cache[q] = QueryCache(
            list(searcher.tokenizer.query_terms(text)), searcher.embedder.encode_query(text), gains, ideal
        )
    live = np.flatnonzero(searcher.vectors.alive[: searcher.vectors.n_rows])
    dense_all = {q: searcher.vectors.score_all(c.vector) for q, c in cache.items()}
    dense_top = {q: top_k(scores, 200, live) for q, scores in dense_all.items()}
    dense_ndcg = float(np.mean([_ndcg10(dense_top[q][0], c) for q, c in cache.items()]))
    log(f"dense alone: nDCG@10 {dense_ndcg:.4f}")

    def lexical_runs(bm25: BM25Params) -> tuple[dict[str, np.ndarray], dict[str, tuple[np.ndarray, np.ndarray]]]:
        searcher.lexical.set_params(bm25)
        lex_all = {q: searcher.lexical.score_all(c.terms) for q, c in cache.items()}
        return lex_all, {q: top_k(s, 200, searcher.lexical.candidates(s, None)) for q, s in lex_all.items()}

    original = searcher.lexical.params
    ranked_bm25 = []
    for bm25 in bm25_grid or [original]:
        _, lex_top = lexical_runs(bm25)
        ranked_bm25.append((float(np.mean([_ndcg10(lex_top[q][0], c) for q, c in cache.items()])), bm25))
    ranked_bm25.sort(key=lambda pair: -pair[0])
    for score, bm25 in ranked_bm25[:10]:
        log(f"bm25 alone {score:.4f}: {bm25}")
    results: list[dict[str, Any]] = []
    for bm25_score, bm25 in ranked_bm25[:bm25_finalists]:
        lex_all, lex_top = lexical_runs(bm25)
        bounds = {q: searcher.lexical.max_score(c.terms) for q, c in cache.items()}
        for params in grid:
            total = 0.0
            for q, c in cache.items():
                lr, ls = lex_top[q][0][: params.depth], lex_top[q][1][: params.depth]
                dr, ds = dense_top[q][0][: params.depth], dense_top[q][1][: params.depth]
                union = np.union1d(lr, dr)
                if params.method == "rrf":
                    fused = reciprocal_rank(union, lr, dr, params)
                else:
                    fused = blend(lex_all[q][union], dense_all[q][union], ls, ds, params, bounds[q])
                best, _ = top_k(fused, 10, np.arange(union.size))
                total += _ndcg10(union[best], c)
            results.append(
                {"bm25": bm25.__dict__, "fusion": params.__dict__, "ndcg@10": round(total / len(cache), 4),
                 "bm25_ndcg@10": round(bm25_score, 4), "dense_ndcg@10": round(dense_ndcg, 4)}
            )  # fmt: skip
        best_fused = max(float(r["ndcg@10"]) for r in results[-len(grid) :])
        log(f"{bm25}: bm25 {bm25_score:.4f}, best fused {best_fused:.4f}")
    searcher.lexical.set_params(original)
    return sorted(results, key=lambda r: -r["ndcg@10"])


def cross_validate_fusion(
    searcher: HybridSearcher,
    queries: dict[str, str],
    qrels: Qrels,
    grid: Sequence[FusionParams],
    folds: int,
    seed: int = 0,
    log: Log = _quiet,
) -> dict[str, Any]:
    """An estimate of held-out nDCG@10: pick the best fusion on k-1 folds, score it on the fold left out.

    Also scores the shipped default on each held-out fold, to show how much tuning on the very
    queries that are scored flatters the default's own figure.
    """
    ids = sorted(queries)
    order = np.random.default_rng(seed).permutation(len(ids))
    parts = [[ids[i] for i in order[f::folds]] for f in range(folds)]
    per_fold = []
    for f, held in enumerate(parts):
        tune_ids = [q for g, part in enumerate(parts) if g != f for q in part]
        best = tune_fusion(searcher, {q: queries[q] for q in tune_ids}, qrels, grid)[0]
        pick = FusionParams(**best["fusion"])
        held_rows = tune_fusion(searcher, {q: queries[q] for q in held}, qrels, [pick, DEFAULT_FUSION])
        scores = {tuple(sorted(r["fusion"].items())): r["ndcg@10"] for r in held_rows}
        row = {
            "fold": f,
            "held_out": len(held),
            "picked": best["fusion"],
            "picked_ndcg@10": scores[tuple(sorted(pick.__dict__.items()))],
            "default_ndcg@10": scores[tuple(sorted(DEFAULT_FUSION.__dict__.items()))],
        }
        log(json.dumps(row))
        per_fold.append(row)
    return {
        "folds": folds,
        "queries": len(ids),
        "held_out_ndcg@10": round(float(np.mean([r["picked_ndcg@10"] for r in per_fold])), 4),
        "default_on_held_out_ndcg@10": round(float(np.mean([r["default_ndcg@10"] for r in per_fold])), 4),
        "per_fold": per_fold,
    }


def fusion_grid() -> list[FusionParams]:
    grid = []
    for method in ("zscore", "minmax", "bounded", "bounded_raw"):
        for w in np.round(np.arange(0.2, 0.81, 0.05), 2):
            for depth in (50, 100, 200):
                grid.append(replace(DEFAULT_FUSION, method=method, dense_weight=float(w), depth=depth))
    for w in (0.3, 0.4, 0.5, 0.6, 0.7):
        grid.append(FusionParams(method="rrf", dense_weight=w, depth=100, rrf_k=60))
    return grid


def bm25_grid() -> list[BM25Params]:
    grid = []
    for k1 in (0.9, 1.2, 1.5):
        for b in (0.4, 0.6, 0.75):
            for tw in (1.0, 2.0, 3.0):
                grid.append(BM25Params(k1=k1, title_weight=tw, title_b=b, abstract_b=b, authors_b=b))
    return grid


# --------------------------------------------------------------------- embedding throughput
def bench_embed(texts: Sequence[str], batch_size: int = 32, log: Log = _quiet) -> dict[str, Any]:
    """Papers per second: torch fp32 (the reference), torch bf16 autocast, and bf16 through the backend
    papers are embedded with (OpenVINO unless it is unavailable); how far the bf16 vectors are from fp32."""
    embedder = Embedder(batch_size=batch_size, query_precision="int8")  # queries as the site embeds them
    backend = embedder.active_paper_backend("bf16")  # loads the model and compiles the export
    embedder.encode(list(texts[:batch_size]), precision="bf16")  # warm up
    embedder.encode_torch(list(texts[:batch_size]), precision="fp32")
    out: dict[str, Any] = {"papers": len(texts), "batch_size": batch_size, "backend": backend}
    runs: list[tuple[str, Callable[[], np.ndarray]]] = [
        ("fp32", lambda: embedder.encode_torch(texts, precision="fp32")),
        ("torch_bf16", lambda: embedder.encode_torch(texts, precision="bf16")),
        ("bf16", lambda: embedder.encode(texts, precision="bf16")),
    ]
    vectors = {}
    for name, run in runs:
        t0 = time.perf_counter()
        vectors[name] = run()
        elapsed = time.perf_counter() - t0
        out[f"{name}_papers_per_s"] = round(len(texts) / elapsed, 1)
        log(f"{name}: {len(texts) / elapsed:.1f} papers/s")
    for name in ("bf16", "torch_bf16"):
        cos = np.sum(vectors["fp32"] * vectors[name], axis=1)
        out[f"{name}_vs_fp32_cosine_min"] = round(float(cos.min()), 5)
        out[f"{name}_vs_fp32_cosine_mean"] = round(float(cos.mean()), 5)
    t_q = []
    for text in texts[:50]:
        t0 = time.perf_counter()
        embedder.encode_query(text[:200])
        t_q.append((time.perf_counter() - t0) * 1000)
    out["query_embed_ms_p50"] = round(float(np.percentile(t_q, 50)), 2)
    out["query_embed_ms_p95"] = round(float(np.percentile(t_q, 95)), 2)
    return out


def sample_texts(path: str | os.PathLike[str], n: int, seed: int = 0) -> list[str]:
    papers = list(read_corpus(path))
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(papers), size=min(n, len(papers)), replace=False)
    return [embedding_text(papers[i].title, papers[i].abstract) for i in pick]


# --------------------------------------------------------------------- ANN at scale
def _rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthetic_vectors(base: np.ndarray, n: int, noise: float, seed: int = 0) -> np.ndarray:
    """`n` unit vectors: real ones repeated, each copy jittered by Gaussian noise (sd `noise` per dim)."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    step = 100_000
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        idx = np.arange(lo, hi)
        block = base[idx % base.shape[0]].astype(np.float32)
        copies = idx >= base.shape[0]  # the first copy stays the real vectors
        block[copies] += rng.normal(0.0, noise, size=(int(copies.sum()), base.shape[1])).astype(np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[lo:hi] = block
    return out


def bench_vectors(
    base: np.ndarray,
    n: int = 1_000_000,
    queries: int = 300,
    noise: float = 0.03,
    ann: AnnParams | None = None,
    ef_values: Sequence[int] = (32, 64, 128, 256),
    threads: int = 2,
    log: Log = _quiet,
) -> dict[str, Any]:
    """Build HNSW over `n` vectors; per ef: p50/p95 single-query latency and recall@10 against exact."""
    ann = ann or AnnParams()
    data = synthetic_vectors(base, n, noise)
    rng = np.random.default_rng(1)
    q = base[rng.choice(base.shape[0], queries, replace=False)].astype(np.float32)
    q += rng.normal(0.0, noise * 2, size=q.shape).astype(np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    t0 = time.perf_counter()
    truth = np.empty((queries, 10), dtype=np.int64)
    for lo in range(0, queries, 50):
        sims = q[lo : lo + 50] @ data.T
        part = np.argpartition(-sims, 10, axis=1)[:, :10]
        truth[lo : lo + 50] = part
    exact_ms = []
    for qv in q[:20]:
        t1 = time.perf_counter()
        top_k(data @ qv, 10, np.arange(n))
        exact_ms.append((time.perf_counter() - t1) * 1000)
    log(f"exact ground truth in {time.perf_counter() - t0:.1f} s")
    rss0 = _rss_mib()
    index = VectorIndex("bench", base.shape[1], ann_threshold=n + 1, ann=ann, threads=threads)
    index.add([str(i) for i in range(n)], data)
    rss_vectors = _rss_mib()
    t0 = time.perf_counter()
    index.build_ann()
    build_s = time.perf_counter() - t0
    rss_graph = _rss_mib()
    del data
    log(f"HNSW M={ann.m} ef_construction={ann.ef_construction} built in {build_s:.1f} s")
    results: dict[str, Any] = {
        "vectors": n,
        "dim": int(base.shape[1]),
        "m": ann.m,
        "ef_construction": ann.ef_construction,
        "build_s": round(build_s, 1),
        "build_threads": threads,
        "rss_vectors_mib": round(rss_vectors - rss0),  # the index's float32 matrix (exact scans, fusion)
        "rss_hnsw_mib": round(rss_graph - rss_vectors),  # hnswlib graph + its own copy of the vectors
        "exact_scan_ms_p50": round(float(np.percentile(exact_ms, 50)), 1),
        "exact_scan_ms_p95": round(float(np.percentile(exact_ms, 95)), 1),
        "ef": {},
    }
    for ef in ef_values:
        index.ann = replace(ann, ef_search=ef)
        for qv in q[:20]:
            index.search(qv, 10)
        lat, hits = [], 0
        for i, qv in enumerate(q):
            t1 = time.perf_counter()
            rows, _ = index.search(qv, 10)
            lat.append((time.perf_counter() - t1) * 1000)
            hits += len(set(rows.tolist()) & set(truth[i].tolist()))
        row = {
            "recall@10": round(hits / (10 * queries), 4),
            "latency_ms_p50": round(float(np.percentile(lat, 50)), 3),
            "latency_ms_p95": round(float(np.percentile(lat, 95)), 3),
        }
        results["ef"][str(ef)] = row
        log(f"ef={ef}: {row}")
    # a filtered query: 30% of documents allowed
    mask = np.random.default_rng(2).random(n) < 0.3
    index.ann = replace(ann, ef_search=128)
    lat = []
    for qv in q[:100]:
        t1 = time.perf_counter()
        index.search(qv, 10, allowed=mask)
        lat.append((time.perf_counter() - t1) * 1000)
    results["filtered_30pct_ms_p95"] = round(float(np.percentile(lat, 95)), 2)
    return results


def load_base_vectors(path: str | os.PathLike[str]) -> np.ndarray:
    return np.load(Path(path) / "vectors.f16.npy").astype(np.float32)
