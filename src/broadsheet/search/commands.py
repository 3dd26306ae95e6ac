"""CLI commands for search: `bench search|embed|vectors|tune` and `index embed-corpus|verify-vectors`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from broadsheet.search import bench
from broadsheet.search.embedder import Embedder
from broadsheet.search.engine import DEFAULT_BM25, DEFAULT_FUSION
from broadsheet.search.errors import SearchError
from broadsheet.search.fusion import FusionParams
from broadsheet.search.text import embedding_text
from broadsheet.search.vector_index import AnnParams
from broadsheet.search.vectors_import import verify_vectors, write_vectors_dir

bench_app = typer.Typer(help="Measure search quality, latency, embedding speed and ANN scale.", no_args_is_help=True)
index_app = typer.Typer(help="Build and check search index files.", no_args_is_help=True)


def _log(message: str) -> None:
    typer.echo(message, err=True)


@bench_app.command("search")
def search_command(
    corpus: Annotated[
        Path, typer.Option(help="BEIR corpus.jsonl (or a daily arXiv .jsonl.gz)", exists=True, dir_okay=False)
    ],
    queries: Annotated[Path, typer.Option(help="BEIR queries.jsonl", exists=True, dir_okay=False)],
    qrels: Annotated[Path, typer.Option(help="BEIR qrels TSV with a header row", exists=True, dir_okay=False)],
    mode: Annotated[str, typer.Option(help="bm25, dense or hybrid")] = "hybrid",
    vectors: Annotated[
        list[Path] | None,
        typer.Option(help="precomputed vectors dir (repeatable); verified before use", exists=True, file_okay=False),
    ] = None,
    extra_corpus: Annotated[
        list[Path] | None,
        typer.Option(help="distractor corpus (repeatable), BEIR or daily arXiv .jsonl.gz", exists=True, dir_okay=False),
    ] = None,
    fusion: Annotated[str, typer.Option(help="zscore, minmax, bounded, bounded_raw or rrf")] = DEFAULT_FUSION.method,
    dense_weight: Annotated[float, typer.Option(help="weight of the semantic side")] = DEFAULT_FUSION.dense_weight,
    depth: Annotated[int, typer.Option(help="candidates per side before fusion")] = DEFAULT_FUSION.depth,
    precision: Annotated[str, typer.Option(help="document embedding precision: bf16 or fp32")] = "bf16",
    query_precision: Annotated[str, typer.Option(help="query embedding: int8 (the site's default) or fp32")] = "int8",
    ann_threshold: Annotated[int, typer.Option(help="live vectors beyond which HNSW is used")] = 50_000,
) -> None:
    """Build a temporary index, run every judged query; the last line is one JSON object."""
    if mode not in ("bm25", "dense", "hybrid"):
        raise typer.BadParameter("mode must be bm25, dense or hybrid", param_hint="--mode")
    if fusion not in ("zscore", "minmax", "bounded", "bounded_raw", "rrf"):
        raise typer.BadParameter("fusion must be zscore, minmax, bounded, bounded_raw or rrf", param_hint="--fusion")
    if precision not in ("bf16", "fp32"):
        raise typer.BadParameter("precision must be bf16 or fp32", param_hint="--precision")
    if query_precision not in ("int8", "fp32"):
        raise typer.BadParameter("query precision must be int8 or fp32", param_hint="--query-precision")
    params = FusionParams(method=fusion, dense_weight=dense_weight, depth=depth)  # type: ignore[arg-type]
    try:
        result = bench.bench_search(
            corpus,
            queries,
            qrels,
            mode=mode,  # type: ignore[arg-type]
            vectors_dirs=vectors or [],
            extra_corpora=extra_corpus or [],
            embedder=(
                Embedder(precision=precision, query_precision=query_precision)  # type: ignore[arg-type]
                if mode != "bm25"
                else None
            ),
            fusion=params,
            ann_threshold=ann_threshold,
            log=_log,
        )
    except SearchError as exc:
        _log(f"error: {exc.message}")
        raise typer.Exit(2) from exc
    typer.echo(json.dumps(result))


@bench_app.command("tune")
def tune_command(
    corpus: Annotated[Path, typer.Option(help="BEIR corpus.jsonl", exists=True, dir_okay=False)],
    queries: Annotated[Path, typer.Option(help="BEIR queries.jsonl", exists=True, dir_okay=False)],
    qrels: Annotated[
        Path, typer.Option(help="TRAIN or DEV qrels only: never tune on test queries", exists=True, dir_okay=False)
    ],
    vectors: Annotated[
        list[Path] | None, typer.Option(help="precomputed vectors dir (repeatable)", exists=True, file_okay=False)
    ] = None,
    top: Annotated[int, typer.Option(help="settings to print")] = 15,
    bm25_sweep: Annotated[bool, typer.Option(help="also sweep BM25 k1/b/title weight")] = False,
    folds: Annotated[
        int, typer.Option(help="instead: tune on k-1 folds of the queries, score the pick on the held-out fold")
    ] = 0,
) -> None:
    """Grid-search fusion (and optionally BM25F) parameters by nDCG@10 on training queries."""
    papers = bench.load_papers(corpus, log=_log)
    judged = bench.read_qrels(qrels)
    all_queries = bench.read_queries(queries)
    chosen = {q: all_queries[q] for q in judged if q in all_queries}
    built = bench.build_searcher(papers, Embedder(query_precision="int8"), vectors or [], log=_log)
    if folds > 1:
        result = bench.cross_validate_fusion(built.searcher, chosen, judged, bench.fusion_grid(), folds, log=_log)
        typer.echo(json.dumps(result))
        return
    rows = bench.tune_fusion(
        built.searcher,
        chosen,
        {q: judged[q] for q in chosen},
        bench.fusion_grid(),
        bench.bm25_grid() if bm25_sweep else (),
        log=_log,
    )
    for row in rows[:top]:
        typer.echo(json.dumps(row))
    default = [r for r in rows if r["fusion"] == DEFAULT_FUSION.__dict__ and r["bm25"] == DEFAULT_BM25.__dict__]
    if default:
        typer.echo(json.dumps({"default": default[0]}))


@bench_app.command("embed")
def embed_command(
    corpus: Annotated[
        Path, typer.Option(help="papers to embed (BEIR or daily arXiv .jsonl.gz)", exists=True, dir_okay=False)
    ] = Path("../shared/data/arxiv/daily_arxiv_cs/arxiv_cs_CV_CL_AI_2025-03_to_2026-07.dedup.jsonl.gz"),
    papers: Annotated[int, typer.Option(help="random papers to embed")] = 640,
    batch_size: Annotated[int, typer.Option(help="encode batch size")] = 32,
) -> None:
    """Embedding throughput (papers/s), fp32 against bf16 autocast, and their cosine agreement."""
    result = bench.bench_embed(bench.sample_texts(corpus, papers), batch_size=batch_size, log=_log)
    typer.echo(json.dumps(result))


@bench_app.command("vectors")
def vectors_command(
    base: Annotated[Path, typer.Option(help="vectors dir whose real vectors are repeated with noise")] = Path(
        "../shared/data/arxiv/embeddings_minilm"
    ),
    count: Annotated[int, typer.Option(help="vectors in the index")] = 1_000_000,
    queries: Annotated[int, typer.Option(help="timed queries")] = 300,
    noise: Annotated[float, typer.Option(help="Gaussian noise per dimension of each copy")] = 0.03,
    m: Annotated[int, typer.Option(help="HNSW M")] = 16,
    ef_construction: Annotated[int, typer.Option(help="HNSW ef_construction")] = 100,
    ef: Annotated[list[int] | None, typer.Option(help="ef_search values to measure (repeatable)")] = None,
) -> None:
    """ANN at scale: HNSW build time and memory, p50/p95 latency and recall@10 against exact scan."""
    result = bench.bench_vectors(
        bench.load_base_vectors(base),
        n=count,
        queries=queries,
        noise=noise,
        ann=AnnParams(m=m, ef_construction=ef_construction),
        ef_values=ef or [32, 64, 128, 256],
        log=_log,
    )
    typer.echo(json.dumps(result))


@index_app.command("embed-corpus")
def embed_corpus_command(
    corpus: Annotated[
        Path, typer.Option(help="BEIR corpus.jsonl or daily arXiv .jsonl.gz", exists=True, dir_okay=False)
    ],
    out: Annotated[Path, typer.Option(help="vectors directory to write")],
    precision: Annotated[str, typer.Option(help="bf16 or fp32")] = "bf16",
) -> None:
    """Embed every paper of a corpus once into a vectors directory (vectors.f16.npy, ids.txt, manifest)."""
    papers = bench.load_papers(corpus, log=_log)
    embedder = Embedder(precision=precision)  # type: ignore[arg-type]
    texts = [embedding_text(p.title, p.abstract) for p in papers]
    vectors = embedder.encode(texts)
    write_vectors_dir(out, [p.doc_id for p in papers], vectors, embedder.model_id, texts, precision_used=precision)
    typer.echo(json.dumps({"papers": len(papers), "out": str(out)}))


@index_app.command("verify-vectors")
def verify_vectors_command(
    vectors: Annotated[Path, typer.Option(help="vectors directory", exists=True, file_okay=False)],
    corpus: Annotated[
        Path, typer.Option(help="the corpus whose texts the vectors claim to embed", exists=True, dir_okay=False)
    ],
    sample: Annotated[int, typer.Option(help="papers to re-embed (at least 32)")] = 32,
) -> None:
    """Re-embed a random sample and refuse the vectors unless every cosine is at least 0.99."""
    texts = {p.doc_id: (p.title, p.abstract) for p in bench.read_corpus(corpus)}
    try:
        checked = verify_vectors(vectors, texts, Embedder(), sample_size=sample)
    except SearchError as exc:
        _log(f"refused: {exc.message}")
        raise typer.Exit(2) from exc
    typer.echo(
        json.dumps(
            {
                "ids": len(checked.ids),
                "sampled": checked.sampled,
                "min_cosine": round(checked.min_cosine, 5),
                "texts_match": checked.texts_match,
            }
        )
    )


def main() -> None:
    app = typer.Typer(no_args_is_help=True)
    app.add_typer(bench_app, name="bench")
    app.add_typer(index_app, name="index")
    app()


if __name__ == "__main__":
    main()
