"""`bench search` on BEIR files: builds an index, runs the judged queries, ends with one JSON line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from broadsheet.search.bench import cross_validate_fusion
from broadsheet.search.commands import bench_app
from broadsheet.search.embedder import Embedder
from broadsheet.search.engine import HybridSearcher
from broadsheet.search.fusion import FusionParams
from broadsheet.search.text import embedding_text
from broadsheet.search.vectors_import import write_vectors_dir
from tests.search.conftest import SciFactSubset

KEYS = {
    "mode",
    "docs",
    "queries",
    "ndcg@10",
    "recall@100",
    "mrr@10",
    "latency_ms_p50",
    "latency_ms_p95",
    "index_build_s",
}


def write_beir(tmp_path: Path, scifact: SciFactSubset) -> list[str]:
    with open(tmp_path / "corpus.jsonl", "w") as out:
        for p in scifact.papers:
            out.write(json.dumps({"_id": p.doc_id, "title": p.title, "text": p.abstract, "metadata": {}}) + "\n")
    with open(tmp_path / "queries.jsonl", "w") as out:
        for q, text in scifact.queries.items():
            out.write(json.dumps({"_id": q, "text": text, "metadata": {}}) + "\n")
    with open(tmp_path / "qrels.tsv", "w") as out:
        out.write("query-id\tcorpus-id\tscore\n")
        for q, judged in scifact.qrels.items():
            for d, s in judged.items():
                out.write(f"{q}\t{d}\t{s}\n")
    return ["--corpus", str(tmp_path / "corpus.jsonl"), "--queries", str(tmp_path / "queries.jsonl"),
            "--qrels", str(tmp_path / "qrels.tsv")]  # fmt: skip


def test_bench_search_prints_metrics_as_last_line(tmp_path: Path, scifact: SciFactSubset, embedder: Embedder) -> None:
    files = write_beir(tmp_path, scifact)
    covered = scifact.papers[:250]  # the other 50 papers get embedded by the command
    write_vectors_dir(
        tmp_path / "vecs",
        [p.doc_id for p in covered],
        np.stack([scifact.vectors[p.doc_id] for p in covered]),
        embedder.model_id,
        [embedding_text(p.title, p.abstract) for p in covered],
    )
    results = {}
    for mode in ("bm25", "hybrid"):
        result = CliRunner().invoke(bench_app, ["search", *files, "--mode", mode, "--vectors", str(tmp_path / "vecs")])
        assert result.exit_code == 0, result.output
        results[mode] = json.loads(result.output.strip().splitlines()[-1])
        assert set(results[mode]) == KEYS
        assert results[mode]["docs"] == len(scifact.papers)
        assert results[mode]["queries"] == len(scifact.qrels)
    assert 0.5 < results["bm25"]["ndcg@10"] <= results["hybrid"]["ndcg@10"]


def test_bench_search_refuses_vectors_of_another_model(tmp_path: Path, scifact: SciFactSubset) -> None:
    files = write_beir(tmp_path, scifact)
    covered = scifact.papers[:40]
    write_vectors_dir(
        tmp_path / "vecs",
        [p.doc_id for p in covered],
        np.stack([scifact.vectors[p.doc_id] for p in covered]),
        "other/model",
    )
    result = CliRunner().invoke(bench_app, ["search", *files, "--mode", "dense", "--vectors", str(tmp_path / "vecs")])
    assert result.exit_code == 2
    assert "other/model" in result.output


def test_cross_validation_scores_each_pick_only_on_queries_it_was_not_tuned_on(
    searcher: HybridSearcher, scifact: SciFactSubset
) -> None:
    grid = [FusionParams("bounded_raw", w, 100) for w in (0.2, 0.4, 0.6)]
    result = cross_validate_fusion(searcher, scifact.queries, scifact.qrels, grid, folds=3)
    folds = result["per_fold"]
    assert [f["fold"] for f in folds] == [0, 1, 2]
    assert sum(f["held_out"] for f in folds) == len(scifact.queries) == result["queries"]
    for fold in folds:
        assert FusionParams(**fold["picked"]) in grid
        assert 0.0 < fold["picked_ndcg@10"] <= 1.0
    assert result["held_out_ndcg@10"] == round(float(np.mean([f["picked_ndcg@10"] for f in folds])), 4)


def test_bench_search_names_a_missing_file(tmp_path: Path) -> None:
    (tmp_path / "queries.jsonl").write_text("")
    (tmp_path / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\n")
    missing = tmp_path / "corpus.jsonl"
    args = ["search", "--corpus", str(missing), "--queries", str(tmp_path / "queries.jsonl")]
    result = CliRunner().invoke(bench_app, [*args, "--qrels", str(tmp_path / "qrels.tsv")])
    said = " ".join(result.output.replace("│", " ").split())  # as read, whatever the error box's width
    assert result.exit_code == 2 and "'--corpus'" in said and "does not exist" in said
